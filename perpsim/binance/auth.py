"""Binance's request authentication: API key, HMAC-SHA256 signature, timestamp and recvWindow.

The signature is HMAC-SHA256 with the secret over the raw query string plus the raw body,
each without its ``signature`` parameter, concatenated with no separator, exactly as received
(Binance USDⓈ-M Futures API, "General Info": "Signed Endpoint Security"). ``timestamp`` must lie within ``recvWindow`` (default
5,000 ms, at most 60,000) before the server's time and at most 1,000 ms after it ("Timing Security").
Clients stamp wall time, so the check uses wall time even on a simulated venue clock; it can
be switched off (``perpsim serve --no-time-check``).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time

from perpsim.core.errors import VenueError

from .params import Params

_SIG = re.compile(rb"(^|&)signature=[^&]*")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)

BAD_KEY_FORMAT = VenueError(-2014, "API-key format invalid.")
BAD_KEY = VenueError(-2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = VenueError(-1022, "Signature for this request is not valid.")
OUTSIDE_WINDOW = VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")


def signed_payload(raw_query: bytes, raw_body: bytes) -> bytes:
    """The bytes Binance signs: query and body without their ``signature`` parameter."""
    return _strip(raw_query) + _strip(raw_body)


def _strip(raw: bytes) -> bytes:
    out = _SIG.sub(b"", raw)
    return out[1:] if out.startswith(b"&") else out


def sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def check_api_key(api_key: str | None, keys: dict) -> tuple[str, object]:
    """The key's record; -2014 for a missing or malformed key, -2015 for an unknown one."""
    if not api_key or len(api_key) > 128 or not api_key.isalnum():
        raise BAD_KEY_FORMAT
    record = keys.get(api_key)
    if record is None:
        raise BAD_KEY
    return api_key, record


def check_signature(secret: str, params: Params, raw_query: bytes, raw_body: bytes, check_time: bool = True,
                    now_ms: int | None = None, key_type: str = "HMAC") -> None:
    """``secret`` is an HMAC key's secret, or an RSA or Ed25519 key's public key (key_types.py)."""
    asymmetric = key_type != "HMAC"
    signature = params.str("signature", required=True, max_len=1024 if asymmetric else 128)
    timestamp = params.int("timestamp", required=True)
    window = params.int("recvWindow", default=5000)
    if window <= 0 or window > 60000:
        raise VenueError(-1131, "recvWindow must be less than 60000")
    if check_time:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if timestamp < now - window or timestamp > now + 1000:
            raise OUTSIDE_WINDOW
    if asymmetric:
        from .key_types import verify
        if not verify(key_type, secret, signed_payload(raw_query, raw_body), signature):
            raise BAD_SIGNATURE
        return
    if not _HEX64.fullmatch(signature):   # not a hex HMAC-SHA256 (compare_digest takes ASCII only)
        raise BAD_SIGNATURE
    expected = sign(secret, signed_payload(raw_query, raw_body))
    if not hmac.compare_digest(expected, signature.lower()):
        raise BAD_SIGNATURE
