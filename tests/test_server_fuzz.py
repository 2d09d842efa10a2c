"""Fuzzing the running server: schemathesis cases from its own /openapi.json, then hand-written hostile inputs.

Whatever comes in: never a 5xx; every refusal a JSON object with exactly "code" and "msg", the
code one of Binance's (the ranges of its error-code page); a refused request changes nothing
(the clearing state and the books hash the same before and after); the ledger balances.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from decimal import Decimal

import httpx
import pytest
import schemathesis.openapi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpsim.binance.auth import sign
from serverkit import ADMIN_TOKEN, RunningServer

#: Binance's error codes by range (https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code):
#: 10xx server/network, 11xx request, 20xx processing, 40xx-44xx filters and settings, 50xx order rules.
BINANCE_RANGES = ((-1199, -1000), (-2030, -2010), (-4499, -4000), (-5099, -5000))


def binance_code(code) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and any(lo <= code <= hi for lo, hi in BINANCE_RANGES)


def check_shape(r: httpx.Response, what: str = "") -> None:
    """Never a 5xx; JSON always; an error is exactly {"code", "msg"} with a Binance code."""
    where = f"{what} -> {r.status_code} {r.text[:300]!r}"
    assert r.status_code < 500, "server error: " + where
    try:
        doc = r.json()
    except ValueError:
        raise AssertionError("not a JSON body: " + where) from None
    if r.status_code >= 400:
        assert isinstance(doc, dict) and set(doc) == {"code", "msg"}, "not Binance's error shape: " + where
        assert binance_code(doc["code"]) and isinstance(doc["msg"], str) and doc["msg"], "not a Binance code: " + where


def core_hash(srv) -> str:
    """The clearing state (balances, positions, configs) and the books; not the clock or command count."""
    def build(ex):
        h = hashlib.sha256(ex.clearing.state_hash().encode())
        ex.orders.hash_into(h)
        return h.hexdigest()
    return srv.service.read(build)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = RunningServer(tmp_path_factory.mktemp("fuzz")).start()
    s.price("BTCUSDT", "60000")
    s.price("ETHUSDT", "3000")
    s.price("XRPUSDT", "0.5")
    s.victim = s.account(deposit="10000")
    s.fuzzer = s.account(deposit="10000")      # schemathesis's account: its random calls may change its settings
    s.attacker = s.account(deposit="10000")    # the hand-written hostile requests'
    r = s.signed("POST", "/fapi/v1/order", s.victim, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                      "timeInForce": "GTC", "quantity": "0.002", "price": "58000"})
    assert r.status_code == 200, r.text
    s.victim_order = r.json()["orderId"]
    yield s
    s.stop()


# ---------------------------------------------------------------------- schemathesis over /openapi.json
_PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def inconsistent_params(doc: dict) -> list[str]:
    """Parameters whose enum values are not of the declared type (nothing can satisfy such a schema)."""
    bad = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                sch = p.get("schema", {})
                t = _PY_TYPES.get(sch.get("type"))
                if t and any(not isinstance(v, t) or isinstance(v, bool) != (t is bool) for v in sch.get("enum", [])):
                    bad.append(f"{method.upper()} {path} {p['name']}: type {sch['type']}, enum {sch['enum']}")
    return bad


def test_openapi_enums_match_their_types(srv):
    """Every enum value has its parameter's declared type (else nothing satisfies the schema)."""
    assert inconsistent_params(srv.http.get("/openapi.json").json()) == []


@pytest.fixture(scope="module")
def operations(srv):
    doc = srv.http.get("/openapi.json").json()
    unsatisfiable = {" ".join(b.split(" ")[:2]) for b in inconsistent_params(doc)}  # fuzzed without them
    schema = schemathesis.openapi.from_dict(doc)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 60, f"the OpenAPI document lists only {len(ops)} operations"
    return [op for op in ops if f"{op.method.upper()} {op.path}" not in unsatisfiable]


def send_case(srv, case, acct: dict) -> httpx.Response:
    """A generated case as a client would send it: signed with a fresh timestamp where the endpoint is SIGNED."""
    op = case.operation
    query = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in (case.query or {}).items()
             if k not in ("signature", "timestamp", "recvWindow")}
    # half the cases get a real symbol, so the fuzzing reaches past the symbol check into the other parameters
    salt = int(hashlib.sha256(repr(sorted(query.items())).encode()).hexdigest(), 16)
    for name in ("symbol", "pair"):
        if name in query and salt % 2 == 0:
            query[name] = ("BTCUSDT", "ETHUSDT", "XRPUSDT")[salt // 2 % 3]
    headers = {}
    security = op.definition.raw.get("security") or []
    names = {n for req in security for n in req}
    signed = any(p.get("name") == "signature" for p in op.definition.raw.get("parameters", []))
    if "admin" in names:
        headers["X-PERPSIM-ADMIN"] = ADMIN_TOKEN
        body = case.body if isinstance(case.body, (dict, list, str, int, float, bool)) or case.body is None else None
        return srv.http.request(op.method.upper(), op.path, params=query, json=body, headers=headers)
    if "apiKey" in names:
        headers["X-MBX-APIKEY"] = acct["apiKey"]
    qs = urllib.parse.urlencode(query, doseq=True)
    if signed:
        qs = (qs + "&" if qs else "") + f"timestamp={int(time.time() * 1000)}"
        qs += "&signature=" + sign(acct["secretKey"], qs.encode())
    if salt % 3 == 0:   # a third as a form body, as python-binance sends every verb (ccxt: POST/PUT)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return srv.http.request(op.method.upper(), op.path, content=qs.encode(), headers=headers)
    return srv.http.request(op.method.upper(), op.path + ("?" + qs if qs else ""), headers=headers)


def test_schemathesis_openapi(srv, operations):
    strategy = st.sampled_from(operations).flatmap(lambda op: op.as_strategy())
    seen: dict[str, int] = {}
    calls: list[int] = []

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        r = send_case(srv, case, srv.fuzzer)
        seen[f"{case.operation.method.upper()} {case.operation.path}"] = r.status_code
        calls.append(r.status_code)
        check_shape(r, f"{case.operation.method.upper()} {case.operation.path} {case.query!r} {case.body!r}")
    run()
    statuses = sorted(calls)
    counts = {c: statuses.count(c) for c in set(statuses)}
    print(f"schemathesis: {len(calls)} requests, {len(seen)} operations, statuses {counts}")
    assert len(seen) >= 40, f"only {len(seen)} operations exercised"
    assert srv.state()["ledgerBalanced"] is True


# ---------------------------------------------------------------------- hand-written hostile inputs
def signed_qs(acct: dict, params: dict, timestamp: int | None = None, recv_window=None) -> str:
    p = dict(params)
    p["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
    if recv_window is not None:
        p["recvWindow"] = recv_window
    qs = urllib.parse.urlencode(p)
    return qs + "&signature=" + sign(acct["secretKey"], qs.encode())


def sign_raw(acct: dict, qs: str, prefix: str = "") -> str:
    """``qs`` as given (duplicates, raw escapes) with a fresh timestamp and a valid signature; ``prefix`` is the
    query string sent with it when ``qs`` goes in the body (the signature covers query + body)."""
    qs += f"&timestamp={int(time.time() * 1000)}"
    return qs + "&signature=" + sign(acct["secretKey"], (prefix + qs).encode())


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
         "price": "58000"}


def _order(**kw):
    return dict(ORDER, **kw)


def hostile_requests(srv):
    """(name, expected code or None for any Binance code, a callable sending the request)."""
    a, v = srv.attacker, srv.victim
    H = {"X-MBX-APIKEY": a["apiKey"]}
    post = lambda qs, **kw: srv.http.post("/fapi/v1/order?" + qs, headers=kw.pop("headers", H), **kw)  # noqa: E731
    now = lambda: int(time.time() * 1000)  # noqa: E731  (requests are built when sent, inside their window)
    good = lambda: signed_qs(a, ORDER)  # noqa: E731
    cases = [
        ("bad signature", -1022, lambda: post(good()[:-64] + "0" * 64)),
        ("upper-case wrong signature", -1022, lambda: post(good()[:-64] + "ABCDEF" * 10 + "ABCD")),
        ("no signature", -1102, lambda: post(urllib.parse.urlencode(dict(ORDER, timestamp=now())))),
        ("signature of other params", -1022, lambda: post(good().replace("quantity=0.002", "quantity=0.003"))),
        ("signature moved to the body, params altered", -1022, lambda: srv.http.post(
            "/fapi/v1/order", content=good().replace("price=58000", "price=58100"),
            headers=dict(H, **{"Content-Type": "application/x-www-form-urlencoded"}))),
        ("stale timestamp", -1021, lambda: post(signed_qs(a, ORDER, timestamp=now() - 60_000))),
        ("future timestamp", -1021, lambda: post(signed_qs(a, ORDER, timestamp=now() + 10_000))),
        ("recvWindow above 60000", -1131, lambda: post(signed_qs(a, ORDER, recv_window=60001))),
        ("negative recvWindow", -1131, lambda: post(signed_qs(a, ORDER, recv_window=-5))),
        ("timestamp of 25 digits", None, lambda: post(signed_qs(a, ORDER, timestamp=10**24))),
        ("timestamp not a number", None, lambda: post(signed_qs(a, ORDER, timestamp="12ab"))),
        ("quantity 1e400", None, lambda: post(signed_qs(a, _order(quantity="1e400")))),
        ("quantity 1e-20", None, lambda: post(signed_qs(a, _order(quantity="1e-20")))),
        ("price 1e-20", None, lambda: post(signed_qs(a, _order(price="1e-20")))),
        ("quantity -1", None, lambda: post(signed_qs(a, _order(quantity="-1")))),
        ("quantity 0", None, lambda: post(signed_qs(a, _order(quantity="0")))),
        ("price negative", None, lambda: post(signed_qs(a, _order(price="-58000")))),
        ("quantity 10^30", None, lambda: post(signed_qs(a, _order(quantity="1" + "0" * 30)))),
        ("price 10^30", None, lambda: post(signed_qs(a, _order(price="1" + "0" * 30)))),
        ("price with 40 decimals", None, lambda: post(signed_qs(a, _order(price="58000." + "1" * 40)))),
        ("quantity NaN", None, lambda: post(signed_qs(a, _order(quantity="NaN")))),
        ("price Infinity", None, lambda: post(signed_qs(a, _order(price="Infinity")))),
        ("price -Infinity", None, lambda: post(signed_qs(a, _order(price="-Infinity")))),
        ("quantity sNaN", None, lambda: post(signed_qs(a, _order(quantity="sNaN")))),
        ("price 0x10", None, lambda: post(signed_qs(a, _order(price="0x10")))),
        ("unknown symbol", -1121, lambda: post(signed_qs(a, _order(symbol="FOOUSDT")))),
        ("lower-case symbol", -1121, lambda: post(signed_qs(a, _order(symbol="btcusdt")))),
        ("unknown symbol on a public endpoint", -1121, lambda: srv.http.get("/fapi/v1/depth?symbol=NOPE")),
        ("bad side", None, lambda: post(signed_qs(a, _order(side="UP")))),
        ("bad type", None, lambda: post(signed_qs(a, _order(type="LIMITED")))),
        ("leverage 0", None, lambda: srv.http.post("/fapi/v1/leverage?" + signed_qs(
            a, {"symbol": "BTCUSDT", "leverage": 0}), headers=H)),
        ("leverage 1000", None, lambda: srv.http.post("/fapi/v1/leverage?" + signed_qs(
            a, {"symbol": "BTCUSDT", "leverage": 1000}), headers=H)),
        ("leverage 1e3", None, lambda: srv.http.post("/fapi/v1/leverage?" + signed_qs(
            a, {"symbol": "BTCUSDT", "leverage": "1e3"}), headers=H)),
        ("orderId of 30 digits", None, lambda: srv.http.get("/fapi/v1/order?" + signed_qs(
            a, {"symbol": "BTCUSDT", "orderId": 10**30}), headers=H)),
        ("negative orderId", None, lambda: srv.http.delete("/fapi/v1/order?" + signed_qs(
            a, {"symbol": "BTCUSDT", "orderId": -1}), headers=H)),
        ("startTime after endTime", None, lambda: srv.http.get("/fapi/v1/userTrades?" + signed_qs(
            a, {"symbol": "BTCUSDT", "startTime": now(), "endTime": now() - 86_400_000}), headers=H)),
        ("negative startTime on klines", None, lambda: srv.http.get(
            "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=-99999999999999")),
        ("unknown kline interval", None, lambda: srv.http.get("/fapi/v1/klines?symbol=BTCUSDT&interval=7m")),
        ("depth limit 10^12", None, lambda: srv.http.get("/fapi/v1/depth?symbol=BTCUSDT&limit=1000000000000")),
        ("positionMargin amount 1e400", None, lambda: srv.http.post("/fapi/v1/positionMargin?" + signed_qs(
            a, {"symbol": "BTCUSDT", "amount": "1e400", "type": 1}), headers=H)),
        ("transfer of NaN", None, lambda: srv.http.post("/sapi/v1/asset/transfer?" + signed_qs(
            a, {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "NaN"}), headers=H)),
        ("transfer of more than the wallet", None, lambda: srv.http.post("/sapi/v1/asset/transfer?" + signed_qs(
            a, {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "1e12"}), headers=H)),
        ("transfer of an unknown asset", None, lambda: srv.http.post("/sapi/v1/asset/transfer?" + signed_qs(
            a, {"type": "UMFUTURE_MAIN", "asset": "NOPE", "amount": "1"}), headers=H)),
        ("another account's order: query", -2013, lambda: srv.http.get("/fapi/v1/order?" + signed_qs(
            a, {"symbol": "BTCUSDT", "orderId": srv.victim_order}), headers=H)),
        ("another account's order: cancel", -2011, lambda: srv.http.delete("/fapi/v1/order?" + signed_qs(
            a, {"symbol": "BTCUSDT", "orderId": srv.victim_order}), headers=H)),
        ("another account's order: modify", None, lambda: srv.http.put("/fapi/v1/order?" + signed_qs(
            a, {"symbol": "BTCUSDT", "orderId": srv.victim_order, "side": "BUY", "quantity": "0.002",
                "price": "58100"}), headers=H)),
        ("another account's order in a batch cancel", "batch:-2011", lambda: srv.http.delete(
            "/fapi/v1/batchOrders?" + signed_qs(a, {"symbol": "BTCUSDT", "orderIdList": f"[{srv.victim_order}]"}),
            headers=H)),
        ("another account's key with this secret", -1022, lambda: srv.http.get(
            "/fapi/v3/account?" + signed_qs(a, {}), headers={"X-MBX-APIKEY": v["apiKey"]})),
        ("batchOrders malformed JSON", None, lambda: srv.http.post("/fapi/v1/batchOrders?" + signed_qs(
            a, {"batchOrders": "[{\"symbol\": "}), headers=H)),
        ("batchOrders of 6", None, lambda: srv.http.post("/fapi/v1/batchOrders?" + signed_qs(
            a, {"batchOrders": json.dumps([ORDER] * 6)}), headers=H)),
        ("batchOrders deeply nested", None, lambda: srv.http.post("/fapi/v1/batchOrders?" + signed_qs(
            a, {"batchOrders": "[" * 2000 + "]" * 2000}), headers=H)),
        ("newClientOrderId of 100 chars", None, lambda: post(signed_qs(a, _order(newClientOrderId="x" * 100)))),
        ("newClientOrderId with spaces", None, lambda: post(signed_qs(a, _order(newClientOrderId="a b<c>")))),
        ("no API key", -2014, lambda: post(good(), headers={})),
        ("API key of 500 chars", -2014, lambda: post(good(), headers={"X-MBX-APIKEY": "k" * 500})),
        ("API key with symbols", -2014, lambda: post(good(), headers={"X-MBX-APIKEY": "a;b' OR 1=1"})),
        ("unknown API key", -2015, lambda: post(good(), headers={"X-MBX-APIKEY": "f" * 64})),
        ("malformed form body", None, lambda: srv.http.post(
            "/fapi/v1/order", content=b"symbol=BTCUSDT&&&=&%%%zz&signature", headers=dict(
                H, **{"Content-Type": "application/x-www-form-urlencoded"}))),
        ("JSON body on a signed endpoint", None, lambda: srv.http.post(
            "/fapi/v1/order", content=json.dumps(dict(ORDER, timestamp=now())).encode(),
            headers=dict(H, **{"Content-Type": "application/json"}))),
        ("percent-encoded non-UTF-8 query", None, lambda: srv.http.get("/fapi/v1/depth?symbol=%FF%FEBTC")),
        ("percent-encoded non-UTF-8 in a signed query", None, lambda: post(
            sign_raw(a, urllib.parse.urlencode(ORDER) + "&newClientOrderId=%C3%28%FF"))),
        ("non-UTF-8 body", None, lambda: srv.http.post(
            "/fapi/v1/order", content=b"symbol=\xc3\x28&side=\xff", headers=dict(
                H, **{"Content-Type": "application/x-www-form-urlencoded"}))),
        ("body over 64 KiB", None, lambda: srv.http.post(
            "/fapi/v1/order", content=b"a=" + b"x" * (65 * 1024), headers=dict(
                H, **{"Content-Type": "application/x-www-form-urlencoded"}))),
        ("chunked body over 64 KiB", None, lambda: srv.http.post(
            "/fapi/v1/order", content=(b"x" * 8192 for _ in range(10)), headers=dict(
                H, **{"Content-Type": "application/x-www-form-urlencoded"}))),
        ("query of 10 KiB", None, lambda: srv.http.get("/fapi/v1/depth?symbol=BTCUSDT&x=" + "y" * 10_000)),
        ("duplicate params with a valid signature", None, lambda: post(
            sign_raw(a, urllib.parse.urlencode(ORDER).replace("quantity=0.002", "quantity=0.002&quantity=0.003")))),
        ("65 params", None, lambda: post(signed_qs(a, dict(ORDER, **{f"p{i}": i for i in range(60)})))),
        ("admin call without a token", -2015, lambda: srv.http.post("/admin/v1/deposit", json={
            "accountId": a["accountId"], "asset": "USDT", "amount": "1000000"})),
        ("admin call with a wrong token", -2015, lambda: srv.http.post("/admin/v1/deposit", json={
            "accountId": a["accountId"], "asset": "USDT", "amount": "1000000"}, headers={"X-PERPSIM-ADMIN": "x"})),
        ("admin malformed JSON", -1102, lambda: srv.http.post(
            "/admin/v1/deposit", content=b"{\"accountId\": 1, ", headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN,
                                                                          "Content-Type": "application/json"})),
        ("admin JSON not an object", None, lambda: srv.http.post(
            "/admin/v1/price", content=b"[1, 2]", headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN})),
        ("admin price NaN", None, lambda: srv.http.post("/admin/v1/price", content=b'{"symbol": "BTCUSDT", '
                                                        b'"price": NaN}', headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN})),
        ("admin price 1e400", None, lambda: srv.http.post(
            "/admin/v1/price", content=b'{"symbol": "BTCUSDT", "price": 1e400}',
            headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN})),
        ("admin deposit negative", None, lambda: srv.admin_raw("/admin/v1/deposit", {
            "accountId": a["accountId"], "asset": "USDT", "amount": "-5"})),
        ("admin deposit to no account", None, lambda: srv.admin_raw("/admin/v1/deposit", {
            "accountId": 99999, "asset": "USDT", "amount": "5"})),
        ("admin body over 64 KiB", None, lambda: srv.http.post(
            "/admin/v1/price", content=b"{\"a\": \"" + b"x" * 70_000 + b"\"}",
            headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN})),
        ("listenKey keepalive of an unknown key", -1125, lambda: srv.http.put(
            "/fapi/v1/listenKey?listenKey=" + "0" * 64, headers=H)),
        ("verb not served", None, lambda: srv.http.request("PATCH", "/fapi/v1/order", headers=H)),
    ]
    return cases


def _raw(srv, data: bytes) -> httpx.Response:
    """A hand-made HTTP/1.1 request (for headers httpx refuses to send); parsed back as a response."""
    import socket
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        s.settimeout(3)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
        except socket.timeout:
            pass
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return httpx.Response(status, content=body)


@pytest.fixture(scope="module")
def hostile(srv):
    def admin_raw(path, body):
        return srv.http.post(path, json=body, headers={"X-PERPSIM-ADMIN": ADMIN_TOKEN})
    srv.admin_raw = admin_raw
    return {name: (code, fn) for name, code, fn in hostile_requests(srv)}


HOSTILE_NAMES = [c[0] for c in hostile_requests(type("S", (), {"attacker": {"apiKey": "k", "secretKey": "s"},
                                                                    "victim": {"apiKey": "k", "secretKey": "s"},
                                                                    "victim_order": 0, "http": None, "port": 0})())]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_input(srv, hostile, name):
    code, fn = hostile[name]
    before = core_hash(srv)
    r = fn()
    check_shape(r, name)
    if isinstance(code, str) and code.startswith("batch:"):   # 200 with a per-item error, as Binance answers
        assert r.status_code == 200 and r.json() == [{"code": int(code[6:]), "msg": r.json()[0]["msg"]}], r.text
        code = None
    else:
        assert r.status_code >= 400, f"{name}: accepted ({r.status_code} {r.text[:200]})"
    if code is not None:
        assert r.json()["code"] == code, f"{name}: {r.text[:200]}"
    assert core_hash(srv) == before, f"{name}: a refused request changed the state"


def test_query_wins_over_body(srv):
    """Not hostile, documented: a parameter in the query and the body takes the query's value (binance-api.md 0.7)."""
    h = {"X-MBX-APIKEY": srv.attacker["apiKey"], "Content-Type": "application/x-www-form-urlencoded"}
    query = urllib.parse.urlencode(dict(ORDER, quantity="0.003", price="57000"))
    body = sign_raw(srv.attacker, urllib.parse.urlencode(dict(ORDER, price="57000")), prefix=query)
    r = srv.http.post("/fapi/v1/order?" + query, content=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["origQty"] == "0.003"
    srv.signed("DELETE", "/fapi/v1/order", srv.attacker, {"symbol": "BTCUSDT", "orderId": r.json()["orderId"]})


def test_malformed_http_is_refused_and_the_server_lives(srv):
    """Requests that are not HTTP/1.1 (a non-numeric Content-Length, a 70 KiB request line) are refused by
    uvicorn's HTTP parser before the application sees them: a 4xx (plain text from the parser, not a
    Binance error: no API call was made), nothing changed, and the server keeps serving."""
    before = core_hash(srv)
    for data in (b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                 b"GET /fapi/v1/depth?symbol=BTCUSDT&x=" + b"y" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /fapi/v1/depth?symbol=\xff\xfeBTC HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64):
        r = _raw(srv, data)
        assert 400 <= r.status_code < 500 or r.status_code == 0, (r.status_code, r.text[:100])
    assert core_hash(srv) == before
    assert srv.http.get("/fapi/v1/ping").json() == {}


def test_replayed_request_after_its_window(srv):
    """A captured signed order, sent again once its recvWindow has passed: -1021, and no second order."""
    qs = signed_qs(srv.attacker, dict(ORDER, price="57900"), recv_window=800)
    h = {"X-MBX-APIKEY": srv.attacker["apiKey"]}
    first = srv.http.post("/fapi/v1/order?" + qs, headers=h)
    assert first.status_code == 200, first.text
    before = core_hash(srv)
    time.sleep(1.0)
    again = srv.http.post("/fapi/v1/order?" + qs, headers=h)
    check_shape(again, "replay")
    assert (again.status_code, again.json()["code"]) == (400, -1021)
    assert core_hash(srv) == before
    srv.signed("DELETE", "/fapi/v1/order", srv.attacker, {"symbol": "BTCUSDT", "orderId": first.json()["orderId"]})


def test_ledger_balanced_after_everything(srv):
    st_ = srv.state()
    assert st_["ledgerBalanced"] is True
    r = srv.signed("GET", "/fapi/v1/order", srv.victim, {"symbol": "BTCUSDT", "orderId": srv.victim_order})
    assert r.json()["status"] == "NEW", "the victim's order was touched by another account"


def test_hostile_websocket_frames(srv):
    """Garbage on a stream connection: an error reply per frame (id echoed when it has one), the connection
    stays usable, no subscription is added by a refused frame, and the server keeps serving."""
    import asyncio

    import websockets

    frames = ["", "{", "null", "[]", "42", '"SUBSCRIBE"', json.dumps({"method": "SUBSCRIBE"}),
              json.dumps({"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 1}),
              json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 2}),
              json.dumps({"method": "SUBSCRIBE", "params": [None, 5, {}], "id": 3}),
              json.dumps({"method": "SUBSCRIBE", "params": ["x" * 5000], "id": 4}),
              json.dumps({"method": "DELETE_EVERYTHING", "params": [], "id": 5}),
              json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": {"a": 1}}),
              json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": True}),
              "[" * 5000 + "]" * 5000, "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
              json.dumps({"method": "UNSUBSCRIBE", "params": ["never-subscribed"], "id": 6})]

    async def run():
        async with websockets.connect(f"{srv.ws}/ws", max_size=2**22) as ws:
            replies = []
            for f in frames:
                await ws.send(f)
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
                await asyncio.sleep(0.11)   # under Binance's 10 incoming messages per second
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 99}))
            while True:
                last = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if last.get("id") == 99:
                    break
            return replies, last
    replies, listing = asyncio.run(run())
    for f, r in zip(frames, replies):
        if "UNSUBSCRIBE" in f:
            assert r == {"result": None, "id": 6}
            continue
        if f == '{"method": "SUBSCRIBE"}':    # nothing to subscribe: an empty success is Binance-like too
            assert r in ({"result": None, "id": None}, {"result": None}) or "error" in r, r
            continue
        assert isinstance(r, dict) and "error" in r and set(r["error"]) == {"code", "msg"}, (f[:60], r)
    for rid, r in zip((1, 2, 3, 4, 5), replies[7:12]):
        assert r.get("id") == rid, r
    assert listing == {"result": [], "id": 99}, listing
    assert srv.http.get("/fapi/v1/ping").json() == {}


def test_binary_websocket_frame_is_answered_or_closed_cleanly(srv):
    """A binary frame: an error reply or a clean close, never an exception escaping the handler."""
    import asyncio

    import websockets

    async def run():
        async with websockets.connect(f"{srv.ws}/ws") as ws:
            await ws.send(b"\x00\x01binary")
            try:
                return json.loads(await asyncio.wait_for(ws.recv(), 3))
            except websockets.ConnectionClosedOK as e:
                return e.rcvd.code if e.rcvd else None
    out = asyncio.run(run())
    assert (isinstance(out, dict) and "error" in out) or isinstance(out, int), out
    assert srv.http.get("/fapi/v1/ping").json() == {}


@pytest.mark.parametrize("path", ["/ws/btcusdt@nope", "/market/ws/" + "x" * 300, "/stream?streams=btcusdt@trade/%00",
                                  "/private/ws?listenKey=" + "0" * 64, "/public/stream?streams=" + "a/" * 200,
                                  "/ws/btcusdt@trade?listenKey=%ff%fe"])
def test_hostile_websocket_urls(srv, path):
    """A URL naming a stream that does not exist (or an unknown listen key): an error frame, then a close; the
    server keeps serving. A URL naming real streams alongside garbage subscribes to nothing."""
    import asyncio

    import websockets

    async def run():
        async with websockets.connect(srv.ws + path) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            try:
                await asyncio.wait_for(ws.recv(), 3)
                closed = False
            except websockets.ConnectionClosed:
                closed = True
            return first, closed
    first, closed = asyncio.run(run())
    assert set(first) >= {"error"} and set(first["error"]) == {"code", "msg"}, first
    assert closed
    assert srv.http.get("/fapi/v1/ping").json() == {}


# ---------------------------------------------------------------------- random valid trading (hypothesis, stateful)
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    s = RunningServer(tmp_path_factory.mktemp("stateful")).start()
    s.price("BTCUSDT", "60000")
    s.traders = [s.account(deposit="1000000") for _ in range(3)]
    yield s
    s.stop()


def test_random_trading_keeps_the_books_straight(market):
    """Random valid orders, cancels and price moves from three accounts through the REST API: every answer is
    a 200 or a Binance error, the ledger balances, and the three accounts' positions net to zero (they only
    trade with each other)."""
    srv = market
    price = {"mark": 60000}
    seen: list[tuple[str, int]] = []

    class Trading(RuleBasedStateMachine):
        def req(self, method, path, acct, params):
            r = srv.signed(method, path, acct, params)
            check_shape(r, f"{method} {path} {params}")
            seen.append((f"{method} {path}", r.status_code if r.status_code == 200 else r.json()["code"]))
            return r

        @rule(who=st.integers(0, 2), side=st.sampled_from(["BUY", "SELL"]), ticks=st.integers(-300, 300),
              qty=st.integers(2, 50), tif=st.sampled_from(["GTC", "IOC", "GTX", "FOK"]))
        def limit(self, who, side, ticks, qty, tif):
            p = price["mark"] + ticks * 10
            self.req("POST", "/fapi/v1/order", srv.traders[who], {
                "symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": tif,
                "quantity": f"{qty / 1000:.3f}", "price": f"{p}"})

        @rule(who=st.integers(0, 2), side=st.sampled_from(["BUY", "SELL"]), qty=st.integers(2, 30),
              reduce=st.booleans())
        def market_order(self, who, side, qty, reduce):
            self.req("POST", "/fapi/v1/order", srv.traders[who], {
                "symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": f"{qty / 1000:.3f}",
                "reduceOnly": "true" if reduce else "false"})

        @rule(who=st.integers(0, 2), pick=st.integers(0, 1000))
        def cancel_one(self, who, pick):
            open_ = self.req("GET", "/fapi/v1/openOrders", srv.traders[who], {"symbol": "BTCUSDT"}).json()
            if open_:
                o = open_[pick % len(open_)]
                r = self.req("DELETE", "/fapi/v1/order", srv.traders[who],
                             {"symbol": "BTCUSDT", "orderId": o["orderId"]})
                assert r.status_code == 200 and r.json()["status"] == "CANCELED", r.text

        @rule(who=st.integers(0, 2))
        def cancel_all(self, who):
            r = self.req("DELETE", "/fapi/v1/allOpenOrders", srv.traders[who], {"symbol": "BTCUSDT"})
            assert r.status_code == 200
            assert self.req("GET", "/fapi/v1/openOrders", srv.traders[who], {"symbol": "BTCUSDT"}).json() == []

        @rule(step=st.integers(-20, 20))
        def move(self, step):
            price["mark"] = max(57000, min(63000, price["mark"] + step * 50))
            srv.price("BTCUSDT", str(price["mark"]))

        @invariant()
        def positions_net_to_zero(self):
            total = Decimal(0)
            for a in srv.traders:
                rows = self.req("GET", "/fapi/v2/positionRisk", a, {"symbol": "BTCUSDT"}).json()
                total += sum(Decimal(p["positionAmt"]) for p in rows)
            assert total == 0

    Trading.TestCase.settings = settings(max_examples=15, stateful_step_count=20, deadline=None, database=None,
                                         derandomize=True, suppress_health_check=list(HealthCheck))
    Trading.TestCase().runTest()
    trades = sum(1 for what, code in seen if what == "POST /fapi/v1/order" and code == 200)
    print(f"stateful: {len(seen)} requests, {trades} orders accepted; codes {sorted(set(c for _, c in seen))}")
    assert trades >= 20, seen[-20:]
    fills = sum(len(srv.signed("GET", "/fapi/v1/userTrades", a, {"symbol": "BTCUSDT"}).json()) for a in srv.traders)
    assert fills >= 10, f"only {fills} fills: the invariant was hardly exercised"
    assert srv.state()["ledgerBalanced"] is True
