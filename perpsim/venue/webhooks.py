"""Notifications POSTed to the webhook URL a trader set (trader protection), and where they may go.

A subscriber of the service: for every Notification with a webhook, one JSON POST, fire and
forget, with a short timeout; a failing endpoint never slows the venue.

A trader chooses the URL, the server makes the request: without a rule that is a server-side
request forgery (the cloud metadata service at 169.254.169.254, an admin port on the LAN).
``WebhookPolicy`` is the rule: by default only loopback addresses; otherwise the operator's
allowlist (``--webhook-allow``): networks (``10.1.2.0/24``, ``192.0.2.7``) or host names
(``hooks.example.com``). The host is resolved and *every* address it resolves to must be allowed,
when the URL is set and again before each POST; the POST then connects to the address that was
checked (the Host header and TLS name stay the URL's), so a name that resolves elsewhere a second
later (DNS rebinding) reaches nothing new. Link-local addresses (169.254.0.0/16, fe80::/10:
the metadata services) are allowed only by a network entry that names them.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx

from perpsim.core.events import Notification

LOOPBACK = "loopback"
DEFAULT_ALLOW: tuple[str, ...] = (LOOPBACK,)
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


class WebhookRefused(ValueError):
    """The URL may not be used as a webhook; the message says why (shown to the trader)."""


class WebhookPolicy:
    """Which webhook URLs the server will POST to (see the module docstring)."""

    def __init__(self, allow: tuple[str, ...] | list[str] = DEFAULT_ALLOW, resolve=None):
        self.loopback = False
        self.networks: list = []
        self.hosts: set[str] = set()
        for entry in allow:
            entry = entry.strip()
            if not entry:
                continue
            if entry == LOOPBACK:
                self.loopback = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))
        self._resolve = resolve or _resolve

    @classmethod
    def parse(cls, text: str | None) -> "WebhookPolicy":
        """``--webhook-allow``: comma-separated entries; empty or None: loopback only."""
        entries = [e for e in (text or "").split(",") if e.strip()]
        return cls(entries or DEFAULT_ALLOW)

    def describe(self) -> str:
        parts = ([LOOPBACK] if self.loopback else []) + [str(n) for n in self.networks] + sorted(self.hosts)
        return ", ".join(parts) or "nothing"

    def _address_allowed(self, addr, host_listed: bool) -> bool:
        if any(addr in n for n in self.networks):
            return True
        if self.loopback and addr.is_loopback:
            return True
        return host_listed and not any(addr in n for n in _LINK_LOCAL)

    async def check(self, url: str) -> list[str]:
        """The addresses ``url``'s host resolves to, all allowed; else ``WebhookRefused``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise WebhookRefused("not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRefused("an http(s) URL with a host")
        if parts.username or parts.password:
            raise WebhookRefused("credentials in the URL are not accepted")
        host = parts.hostname.lower().rstrip(".")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            addrs = await self._resolve(host, port)
        except OSError:
            raise WebhookRefused(f"host {host!r} does not resolve") from None
        if not addrs:
            raise WebhookRefused(f"host {host!r} does not resolve")
        listed = host in self.hosts
        for a in addrs:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
            if ip.version == 6 and ip.ipv4_mapped is not None:   # ::ffff:169.254.169.254 is 169.254.169.254
                ip = ip.ipv4_mapped
            if not self._address_allowed(ip, listed):
                raise WebhookRefused(f"{host} resolves to {ip}, which the operator does not allow "
                                     f"(allowed: {self.describe()})")
        return addrs


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def pinned(url: str, address: str) -> tuple[str, dict, dict]:
    """The URL with its host replaced by the checked ``address``; the Host header and the TLS
    server name (httpx's ``sni_hostname``) stay the original host."""
    parts = urlsplit(url)
    host = parts.hostname
    ip = f"[{address}]" if ":" in address else address
    netloc = ip + (f":{parts.port}" if parts.port else "")
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
    ext = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), headers, ext


class WebhookSender:
    def __init__(self, service, timeout: float = 5.0, policy: WebhookPolicy | None = None):
        self.service = service
        self.timeout = timeout
        self.policy = policy or WebhookPolicy()
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0
        self.failed = 0
        self.refused = 0

    def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self.service.subscribe(self.on_result)

    async def stop(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        if self.client is not None:
            await self.client.aclose()

    def on_result(self, seq, cmd, result) -> None:
        for e in result.events:
            if isinstance(e, Notification) and e.webhook.startswith(("http://", "https://")):
                body = {"accountId": e.account_id, "kind": e.kind, "time": e.time, "payload": e.payload}
                task = asyncio.create_task(self._post(e.webhook, body))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _post(self, url: str, body: dict) -> None:
        try:
            addrs = await self.policy.check(url)     # again: the name may resolve elsewhere now
        except WebhookRefused:
            self.refused += 1
            return
        target, headers, ext = pinned(url, addrs[0])
        try:
            r = await self.client.post(target, json=body, headers=headers, extensions=ext)
            self.sent += r.status_code < 400
            self.failed += r.status_code >= 400
        except Exception:
            self.failed += 1
