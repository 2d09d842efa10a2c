"""Notifications POSTed to the webhook URL a trader set (trader protection, issue 7).

A subscriber of the service: for every Notification with a webhook, one JSON POST, fire and
forget, with a short timeout; a failing endpoint never slows the venue.
"""
from __future__ import annotations

import asyncio

import httpx

from perpsim.core.guard import Notification


class WebhookSender:
    def __init__(self, service, timeout: float = 5.0):
        self.service = service
        self.timeout = timeout
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.timeout)
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
            r = await self.client.post(url, json=body)
            self.sent += r.status_code < 400
            self.failed += r.status_code >= 400
        except Exception:
            self.failed += 1
