"""The server's edges: hostile parameters from the endpoint registry, webhook targets, rate-limit
identity and Retry-After, WebSocket bounds (slow consumers, streams, message rate), slow headers.

Every refusal is Binance's ``{"code", "msg"}`` with a 4xx and leaves the state as it was: compared by
``contentHash`` (GET /admin/v1/state, which is a read and journals nothing).
"""
from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.parse

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.binance.auth import sign
from perpsim.binance.ratelimit import RateLimiter
from perpsim.binance.routes import NONE, ROUTES, SIGNED, SIGNED_PARAMS, USER_STREAM
from perpsim.binance.streams import MAX_INCOMING_PER_S, MAX_STREAMS
from perpsim.binance.transport import ConnectionLimits
from perpsim.venue.webhooks import WebhookPolicy, WebhookRefused, WebhookSender
from serverkit import ADMIN_TOKEN, RunningServer, running_server

#: Values outside Binance's number grammar ('^[0-9]{1,20}$', '^([0-9]{1,20})(\.[0-9]{1,20})?$'): other
#: Unicode digits, signs, exponents, separators, padding, hex, special values, too many digits.
HOSTILE_NUMBERS = ["\u0663", "\u00b2", "\u2460", "\U0001d7ce.\U0001d7ce\U0001d7ce\U0001d7d1", "4_0000", "+0.003",
                   "3e-3", "1E5", " 3", "3 ", "\t3", "0x10", "NaN", "Infinity", "-Infinity", ".5", "5.", "1.2.3",
                   "\uff13", "3\u00a0", "1" * 21, "0." + "1" * 21, "--1", "1-", "\u0000", "true", "[1]", "1,5"]
#: Raw percent-encodings that are not UTF-8 text, and a value over the size limit: refused while reading.
HOSTILE_RAW = ["%FF", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "x" * 5000]
#: Plausible values for the other parameters, so a request reaches the hostile one.
BASE = {"symbol": "BTCUSDT", "pair": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.001", "price": "60000", "interval": "1m", "contractType": "PERPETUAL", "leverage": "10",
        "marginType": "ISOLATED", "period": "5m", "algoType": "CONDITIONAL", "triggerPrice": "61000",
        "amount": "1", "asset": "USDT", "dualSidePosition": "false", "multiAssetsMargin": "false"}


def content_hash(srv) -> str:
    return srv.state()["contentHash"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = RunningServer(tmp_path_factory.mktemp("edges")).start()
    s.price("BTCUSDT", "60000")
    s.acct = s.account(deposit="10000")
    r = s.signed("POST", "/fapi/v1/order", s.acct, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "0.002", "price": "58000"})
    assert r.status_code == 200, r.text
    yield s
    s.stop()


def _numeric_cases():
    cases = []
    for (method, path), ep in sorted(ROUTES.items()):
        if ep.security not in (NONE, SIGNED, USER_STREAM):
            continue
        declared = list(ep.params) + (list(SIGNED_PARAMS) if ep.security == SIGNED else [])
        for p in declared:
            if p.type in ("integer", "number") or p.name == "signature":
                base = tuple((q.name, q.enum[0] if q.enum else BASE.get(q.name, "1"))
                             for q in ep.params if q.required)
                cases.append((method, path, ep.security, p.name, base))
    return cases


NUMERIC = _numeric_cases()
ALL_PARAMS = sorted({(m, p, ep.security, q.name) for (m, p), ep in ROUTES.items() if ep.security != "ADMIN"
                     for q in ep.params})


def _send(srv, method: str, path: str, security: str, params: dict, raw: str = "", as_body: bool = False):
    qs = urllib.parse.urlencode(params) + raw
    headers = {}
    if security in (SIGNED, USER_STREAM):
        headers["X-MBX-APIKEY"] = srv.acct["apiKey"]
    if security == SIGNED:
        if "timestamp" not in params:
            qs = (qs + "&" if qs else "") + f"timestamp={int(time.time() * 1000)}"
        if "signature=" not in qs:
            qs += "&signature=" + sign(srv.acct["secretKey"], qs.encode())
    if as_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return srv.http.request(method, path, content=qs.encode(), headers=headers)
    return srv.http.request(method, path + "?" + qs, headers=headers)


def _refused(r, what) -> dict:
    assert 400 <= r.status_code < 500, f"{what} -> {r.status_code} {r.text[:200]}"
    doc = r.json()
    assert set(doc) == {"code", "msg"} and isinstance(doc["code"], int) and doc["code"] < 0, (what, doc)
    return doc


def test_hostile_numbers_over_the_registry(srv):
    """Every integer / number parameter of every endpoint (and the signature), with every hostile form."""
    before = content_hash(srv)
    codes: dict[int, int] = {}

    @settings(max_examples=500, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=st.sampled_from(NUMERIC), value=st.sampled_from(HOSTILE_NUMBERS), as_body=st.booleans())
    def run(case, value, as_body):
        method, path, security, name, required = case
        params = {k: v for k, v in required if k != name}
        params[name] = value
        what = f"{method} {path} {name}={value!r}"
        doc = _refused(_send(srv, method, path, security, params, as_body=as_body), what)
        if name == "signature":
            assert doc["code"] == -1022, (what, doc)
        elif not (security != NONE and doc["code"] in (-2014, -2015)):
            assert doc["code"] in (-1100, -1102, -1121), (what, doc)   # -1102/-1121: refused on another param
        codes[doc["code"]] = codes.get(doc["code"], 0) + 1
    run()
    assert codes.get(-1100, 0) > 100, codes
    assert content_hash(srv) == before


def test_hostile_encodings_over_the_registry(srv):
    """Undecodable percent-encodings and oversize values in any parameter: -1104 (or earlier refusals)."""
    before = content_hash(srv)

    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=st.sampled_from(ALL_PARAMS), raw=st.sampled_from(HOSTILE_RAW), as_body=st.booleans())
    def run(case, raw, as_body):
        method, path, security, name = case
        r = _send(srv, method, path, security, {}, raw=f"{name}={raw}", as_body=as_body)
        _refused(r, f"{method} {path} {name}={raw[:20]!r}")
    run()
    assert content_hash(srv) == before


def test_the_reported_inputs(srv):
    r = srv.http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "\u00b2"})
    assert _refused(r, "depth")["code"] == -1100 and "legal range is '^[0-9]{1,20}$'" in r.json()["msg"]
    r = _send(srv, "GET", "/fapi/v2/account", SIGNED, {}, raw="signature=%C3%A9" + "a" * 63)
    assert r.status_code == 400 and r.json()["code"] == -1022
    for q in ("\u0663", "\U0001d7ce.\U0001d7ce\U0001d7ce\U0001d7d1", "4_0000", "+0.003", "3e-3", " 0.003"):
        r = _send(srv, "POST", "/fapi/v1/order", SIGNED, {**{k: BASE[k] for k in ("symbol", "side", "type",
                                                                                  "timeInForce", "price")},
                                                          "quantity": q})
        assert _refused(r, q)["code"] == -1100, q


def test_state_reads_journal_nothing(srv):
    a, b = srv.state(), srv.state()
    assert a == b and a["commands"] == srv.service.venue.last_seq


# ---------------------------------------------------------------------- webhooks
def _fake_resolver(table):
    async def resolve(host, port):
        v = table[host]
        return v.pop(0) if isinstance(v, list) and v and isinstance(v[0], list) else v
    return resolve


def test_webhook_policy():
    run = asyncio.run
    loop_only = WebhookPolicy(resolve=_fake_resolver({"localhost": ["127.0.0.1", "::1"], "evil": ["169.254.169.254"],
                                                      "lan": ["10.0.0.5"], "mapped": ["::ffff:169.254.169.254"],
                                                      "mixed": ["127.0.0.1", "10.0.0.5"]}))
    assert run(loop_only.check("http://localhost:9/x")) == ["127.0.0.1", "::1"]
    for url in ("http://evil/latest/meta-data/", "http://lan/", "http://mapped/", "http://mixed/", "ftp://localhost/",
                "http://user:pw@localhost/", "http:///nohost"):
        with pytest.raises(WebhookRefused):
            run(loop_only.check(url))
    allow = WebhookPolicy(["10.0.0.0/8", "hooks.example"], resolve=_fake_resolver(
        {"lan": ["10.0.0.5"], "hooks.example": ["203.0.113.9"], "other": ["203.0.113.9"],
         "localhost": ["127.0.0.1"], "hooks.example.meta": ["169.254.169.254"]}))
    assert run(allow.check("https://lan/")) and run(allow.check("https://hooks.example/"))
    for url in ("https://other/", "http://localhost/"):
        with pytest.raises(WebhookRefused):
            run(allow.check(url))
    listed_meta = WebhookPolicy(["hooks.example"], resolve=_fake_resolver({"hooks.example": ["169.254.169.254"]}))
    with pytest.raises(WebhookRefused):   # a listed name pointing at the metadata service
        run(listed_meta.check("http://hooks.example/"))


def test_webhook_rebinding_is_checked_again_before_the_post():
    answers = {"rebind": [["127.0.0.1"], ["169.254.169.254"]]}
    policy = WebhookPolicy(resolve=_fake_resolver(answers))
    assert asyncio.run(policy.check("http://rebind/hook")) == ["127.0.0.1"]   # when the trader sets it

    class Service:
        def subscribe(self, fn):
            pass

    async def post_once():
        sender = WebhookSender(Service(), policy=policy)
        sender.start()
        await sender._post("http://rebind/hook", {"x": 1})   # when a notification is sent: refused
        await sender.stop()
        return sender
    sender = asyncio.run(post_once())
    assert sender.refused == 1 and sender.sent == 0 and sender.failed == 0


def test_webhook_endpoint(srv):
    acct = srv.account(deposit="10")
    hook = "/perpsim/v1/webhook"
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://[::ffff:169.254.169.254]/",
                "http://0x7f000001.nip.invalid/"):
        r = srv.signed("POST", hook, acct, {"url": url}, body=True)
        assert r.status_code == 400 and r.json()["code"] == -1130, (url, r.text)
    assert srv.signed("POST", hook, acct, {"url": "http://127.0.0.1:9/hook"}, body=True).status_code == 200
    get_hook = lambda: srv.service.read(lambda ex: ex.guard.get(acct["accountId"]).webhook)  # noqa: E731
    assert get_hook() == "http://127.0.0.1:9/hook"
    assert srv.signed("POST", hook, acct, {"url": ""}, body=True).status_code == 200
    assert get_hook() == ""
    assert srv.signed("POST", hook, acct, {}, body=True).json()["code"] == -1102


# ---------------------------------------------------------------------- rate limits
def test_forwarded_for_is_not_trusted_and_admin_is_not_banned(tmp_path):
    limiter = RateLimiter(weight_per_minute=20, ban_after=2, ban_seconds=60)
    with running_server(tmp_path, limiter=limiter) as srv:
        codes = [srv.http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT"}).status_code for _ in range(8)]
        assert codes[-1] == 418, codes
        r = srv.http.get("/fapi/v1/ping")
        assert r.status_code == 418 and int(r.headers["Retry-After"]) in range(1, 61)
        r = srv.http.get("/fapi/v1/ping", headers={"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"})
        assert r.status_code == 418                                # a header does not change who is asking
        assert srv.state()["ledgerBalanced"] is True               # the operator's token is not banned with the bot
        r = srv.http.get("/admin/v1/state", headers={"X-PERPSIM-ADMIN": "wrong"})
        assert r.status_code == 418                                # ...but a wrong token is just another request


def test_429_carries_retry_after_and_limits_can_be_lifted():
    limiter = RateLimiter(weight_per_minute=10, clock=lambda: 120.0 + 45)
    limiter.charge("a", 10)
    with pytest.raises(Exception) as e:
        limiter.charge("a", 1)
    assert e.value.http_status == 429 and e.value.headers["Retry-After"] == "15"
    off = RateLimiter.from_setting("off")
    for _ in range(100):
        off.charge("a", 2400)
    assert RateLimiter.from_setting("x10").weight_per_minute == 24000
    assert RateLimiter.from_setting("binance").orders_per_10s == 300
    with pytest.raises(ValueError):
        RateLimiter.from_setting("x0")


# ---------------------------------------------------------------------- WebSocket bounds
def test_streams_per_connection_are_capped(srv):
    async def go():
        async with websockets.connect(srv.ws + "/ws") as ws:
            names = [f"btcusdt@kline_{iv}" for iv in ("1m", "3m", "5m")]
            names += [f"s{i}usdt@aggTrade" for i in range(MAX_STREAMS - 3)]
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
            assert json.loads(await ws.recv()) == {"result": None, "id": 1}
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}))
            reply = json.loads(await ws.recv())
            assert reply["id"] == 2 and reply["error"]["code"] == 2 and "1024" in reply["error"]["msg"]
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
            assert len(json.loads(await ws.recv())["result"]) == MAX_STREAMS
    asyncio.run(go())


def test_incoming_message_rate_is_capped(srv):
    async def go():
        async with websockets.connect(srv.ws + "/ws") as ws:
            # the server may close while we are still sending (a loaded machine reads our burst late,
            # but it is still one burst) or after: either way the connection ends, never answered in full
            with pytest.raises(websockets.ConnectionClosed):
                for i in range(MAX_INCOMING_PER_S * 3):
                    await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                for _ in range(MAX_INCOMING_PER_S * 3 + 1):
                    await asyncio.wait_for(ws.recv(), 10)
    asyncio.run(go())


def test_a_client_that_never_reads_is_dropped(srv):
    """A raw socket completes the handshake, subscribes, and never reads: the server drops it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # a small window: the server's buffers fill fast
    s.connect(("127.0.0.1", srv.port))
    streams = "/".join(("btcusdt@depth", "btcusdt@depth20", "btcusdt@depth@100ms", "btcusdt@bookTicker",
                        "btcusdt@depth10", "btcusdt@depth5"))
    s.sendall(f"GET /stream?streams={streams} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head
    hub = srv.server.hub
    venue = srv.service.venue
    acct = srv.acct["accountId"]
    deadline = time.time() + 60
    while not hub.conns and time.time() < deadline:
        time.sleep(0.01)
    assert len(hub.conns) == 1
    conn = next(iter(hub.conns))
    placed = 0
    while hub.conns and time.time() < deadline:   # the book moves: depth pushes pile up unread
        batch = [("place_order", {"account_id": acct, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                  "time_in_force": "GTC", "quantity": 1_000_000, "price": (40_000 + (placed + i) % 40)
                                  * 10**8}) for i in range(200)]
        venue.submit_batch(batch)
        placed += len(batch)
        venue.submit_batch([("cancel_all_orders", {"account_id": acct, "symbol": "BTCUSDT"})])
        time.sleep(0.01)
    assert not hub.conns, f"the slow consumer is still connected after {placed} orders"
    assert conn.dropped      # by the send bound, not by a keepalive timeout
    print(f"slow consumer dropped after {placed} orders, {time.time() - deadline + 60:.1f} s")
    s.close()


def test_slow_headers_are_cut_off(tmp_path):
    limits = ConnectionLimits(header_timeout=1.0)
    with running_server(tmp_path, limits=limits) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        start = time.time()
        s.sendall(b"GET /fapi/v1/ping HTTP/1.1\r\n")
        closed = None
        s.settimeout(0.2)
        while time.time() - start < 5:
            try:
                s.sendall(b"X-a: b\r\n")       # one header line at a time, never the end of the head
                if s.recv(1024) == b"":
                    closed = time.time() - start
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = time.time() - start
                break
        s.close()
        assert closed is not None and closed < 3, closed
        assert srv.http.get("/fapi/v1/ping").status_code == 200   # a normal client is served as before


def test_slow_headers_of_a_kept_alive_connections_next_request_are_cut_off(tmp_path):
    from perpsim.binance.transport import HeaderTimeoutHttpTools

    assert HeaderTimeoutHttpTools is not None    # the server runs on the C parser, as installed
    with running_server(tmp_path, limits=ConnectionLimits(header_timeout=1.0)) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /fapi/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(2)
        assert b" 200 " in s.recv(4096).split(b"\r\n")[0] + b" "
        time.sleep(1.5)                            # idle between requests: the keep-alive timeout's job, not this one
        start = time.time()
        s.sendall(b"GET /fapi/v1/ping HTTP/1.1\r\n")
        closed = None
        s.settimeout(0.2)
        while time.time() - start < 4:
            try:
                s.sendall(b"X-a: b\r\n")
                if s.recv(1024) == b"":
                    closed = time.time() - start
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = time.time() - start
                break
        s.close()
        assert closed is not None and closed < 3, closed


def test_connections_beyond_the_limit_get_503(tmp_path):
    with running_server(tmp_path, limits=ConnectionLimits(max_concurrency=4)) as srv:
        held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(6)]
        time.sleep(0.3)
        r = httpx.get(srv.base + "/fapi/v1/ping")
        assert r.status_code == 503
        for s in held:
            s.close()
        time.sleep(0.3)
        assert httpx.get(srv.base + "/fapi/v1/ping").status_code == 200


def test_a_named_proxy_is_trusted(tmp_path):
    """With --forwarded-allow-ips naming the proxy, the client address is the forwarded one."""
    limiter = RateLimiter(weight_per_minute=4, ban_after=1, ban_seconds=60)
    with running_server(tmp_path, limiter=limiter, limits=ConnectionLimits(forwarded_allow_ips="127.0.0.1")) as srv:
        bot = {"X-Forwarded-For": "203.0.113.7"}
        codes = [srv.http.get("/fapi/v1/ping", headers=bot).status_code for _ in range(6)]
        assert codes[-1] == 418, codes
        assert srv.http.get("/fapi/v1/ping", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 200


def test_serve_refuses_a_bad_rate_limit_setting():
    from typer.testing import CliRunner

    from perpsim.cli.main import app
    r = CliRunner().invoke(app, ["serve", "--rate-limits", "x0"])
    assert r.exit_code == 2 and "rate limits" in r.output
