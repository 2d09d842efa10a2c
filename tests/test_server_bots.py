"""What trading bots (freqtrade via ccxt, nautilus_trader) call at start-up, in Binance's shapes."""
from serverkit import running_server


def test_multi_assets_margin_is_single_asset(tmp_path):
    with running_server(tmp_path) as srv:
        acct = srv.account()
        r = srv.signed("GET", "/fapi/v1/multiAssetsMargin", acct)
        assert r.status_code == 200 and r.json() == {"multiAssetsMargin": False}
        r = srv.signed("POST", "/fapi/v1/multiAssetsMargin", acct, {"multiAssetsMargin": "false"}, body=True)
        assert (r.status_code, r.json()["code"]) == (400, -4171)
        r = srv.signed("POST", "/fapi/v1/multiAssetsMargin", acct, {"multiAssetsMargin": "true"}, body=True)
        assert (r.status_code, r.json()["code"]) == (400, -1130)
        r = srv.signed("POST", "/fapi/v1/multiAssetsMargin", acct, {}, body=True)
        assert r.json()["code"] in (-1102, -1130)
        assert srv.signed("GET", "/fapi/v1/multiAssetsMargin", acct).json() == {"multiAssetsMargin": False}
        assert srv.http.get("/fapi/v1/multiAssetsMargin").json()["code"] == -2014   # signed


def test_each_account_has_its_own_alias(tmp_path):
    with running_server(tmp_path) as srv:
        aliases = set()
        for _ in range(3):
            acct = srv.account()
            rows = srv.signed("GET", "/fapi/v2/balance", acct).json()
            again = srv.signed("GET", "/fapi/v3/balance", acct).json()
            assert {r["accountAlias"] for r in rows} == {r["accountAlias"] for r in again}
            alias = rows[0]["accountAlias"]
            assert len(alias) == 4 and alias.isalnum()
            aliases.add(alias)
        assert len(aliases) == 3


def test_start_up_calls_answer_in_binance_shapes(tmp_path):
    """The calls freqtrade (ccxt binanceusdm) and nautilus_trader make before their first order."""
    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        acct = srv.account()
        assert srv.signed("GET", "/fapi/v1/positionSide/dual", acct).json() == {"dualSidePosition": False}
        cfg = srv.signed("GET", "/fapi/v1/accountConfig", acct).json()
        assert cfg["dualSidePosition"] is False and cfg["multiAssetsMargin"] is False and cfg["canTrade"] is True
        sc = srv.signed("GET", "/fapi/v1/symbolConfig", acct, {"symbol": "BTCUSDT"}).json()
        assert sc[0]["marginType"] == "CROSSED" and isinstance(sc[0]["leverage"], int)
        cr = srv.signed("GET", "/fapi/v1/commissionRate", acct, {"symbol": "BTCUSDT"}).json()
        assert set(cr) >= {"symbol", "makerCommissionRate", "takerCommissionRate"}
        lb = srv.signed("GET", "/fapi/v1/leverageBracket", acct, {"symbol": "BTCUSDT"}).json()
        assert lb[0]["symbol"] == "BTCUSDT" and lb[0]["brackets"][0]["bracket"] == 1
        inc = srv.signed("GET", "/fapi/v1/income", acct, {"incomeType": "FUNDING_FEE"}).json()
        assert isinstance(inc, list)
        lk = srv.http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": acct["apiKey"]}).json()
        assert len(lk["listenKey"]) == 64
        info = srv.http.get("/fapi/v1/exchangeInfo").json()
        sym = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        for key in ("contractType", "status", "baseAsset", "quoteAsset", "marginAsset", "pricePrecision",
                    "quantityPrecision", "filters", "orderTypes", "timeInForce", "onboardDate", "deliveryDate",
                    "triggerProtect", "liquidationFee", "marketTakeBound", "underlyingType"):
            assert key in sym, key


def _sim(tmp_path):
    from serverkit import RunningServer
    return RunningServer(tmp_path, clock="sim", check_time=False).start()


def test_klines_reach_the_current_interval(tmp_path):
    """A bar for every interval up to now: before the first trade at the mark, after it flat at the close."""
    srv = _sim(tmp_path)
    try:
        srv.price("BTCUSDT", "60000")
        srv.admin("POST", "/admin/v1/clock", {"advanceMs": 5 * 60_000})
        now = srv.http.get("/fapi/v1/time").json()["serverTime"]
        k = srv.http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m"}).json()
        assert len(k) == 6 and k[-1][0] == now - now % 60_000
        assert {tuple(b[1:6]) for b in k} == {("60000.0", "60000.0", "60000.0", "60000.0", "0.000")}
        assert srv.http.get("/fapi/v1/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"] == "60000.0"
        t24 = srv.http.get("/fapi/v1/ticker/24hr", params={"symbol": "BTCUSDT"}).json()
        assert t24["lastPrice"] == "60000.0" and t24["volume"] == "0.000"
        # a trade at 60100, then ten quiet minutes
        maker, taker = srv.account(deposit="100000"), srv.account(deposit="100000")
        r = srv.signed("POST", "/fapi/v1/order", maker, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                           "timeInForce": "GTC", "quantity": "0.010", "price": "60100"})
        assert r.status_code == 200, r.text
        r = srv.signed("POST", "/fapi/v1/order", taker, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                           "quantity": "0.010"})
        assert r.status_code == 200, r.text
        srv.admin("POST", "/admin/v1/clock", {"advanceMs": 10 * 60_000})
        now = srv.http.get("/fapi/v1/time").json()["serverTime"]
        k = srv.http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m"}).json()
        assert k[-1][0] == now - now % 60_000 and len(k) == 16
        traded = [b for b in k if b[5] != "0.000"]
        assert len(traded) == 1 and traded[0][4] == "60100.0"
        after = k[k.index(traded[0]) + 1:]
        assert len(after) == 10 and all(b[1:6] == ["60100.0"] * 4 + ["0.000"] for b in after)
        assert all(b[1:5] == ["60000.0"] * 4 for b in k[:k.index(traded[0])])
        five = srv.http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "5m"}).json()
        assert five[-1][0] == now - now % 300_000
        for path, params in (("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT"}),
                             ("/fapi/v1/indexPriceKlines", {"pair": "BTCUSDT"})):
            pk = srv.http.get(path, params={**params, "interval": "1m"}).json()
            assert pk[-1][0] == now - now % 60_000 and len(pk) == 16
        start = k[2][0]
        ranged = srv.http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "startTime": start,
                                                         "limit": 3}).json()
        assert [b[0] for b in ranged] == [start, start + 60_000, start + 120_000]
        assert srv.http.get("/fapi/v1/klines", params={"symbol": "XRPUSDT", "interval": "1m"}).json() == []
    finally:
        srv.stop()


def test_a_fresh_venue_has_a_past(tmp_path):
    """`perpsim serve --history-days 2`: 1m, mark and index klines and 8-hourly funding two days back,
    gap-free into the live market; a restart shows the same past."""
    from botkit import Serve
    srv = Serve(tmp_path, "--history-days", "2", "--seed", "7")
    try:
        now = srv.http.get("/fapi/v1/time").json()["serverTime"]
        since = now - 2 * 86_400_000 + 3_600_000
        k = srv.http.get("/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1m", "startTime": since,
                                                    "limit": 1500}).json()
        assert len(k) == 1500 and k[0][0] == since - since % 60_000 + (60_000 if since % 60_000 else 0)
        assert all(b[0] - a[0] == 60_000 for a, b in zip(k, k[1:]))
        assert len({b[4] for b in k}) > 100                       # the past moves
        recent = srv.http.get("/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1m",
                                                         "limit": 1500}).json()
        assert recent[-1][0] == now - now % 60_000 or recent[-1][0] == now - now % 60_000 + 60_000
        assert all(b[0] - a[0] == 60_000 for a, b in zip(recent, recent[1:]))
        for path, key in (("/fapi/v1/markPriceKlines", "symbol"), ("/fapi/v1/indexPriceKlines", "pair")):
            h = srv.http.get(path, params={key: "ETHUSDT", "interval": "1h", "limit": 1500}).json()
            assert len(h) >= 48 and all(b[0] - a[0] == 3_600_000 for a, b in zip(h, h[1:]))
        f = srv.http.get("/fapi/v1/fundingRate", params={"symbol": "ETHUSDT", "startTime": now - 2 * 86_400_000,
                                                         "limit": 1000}).json()
        assert len(f) >= 6 and all(r["fundingTime"] % (8 * 3_600_000) == 0 for r in f[:6])
        assert f[0]["fundingRate"] == "0.00010000"
        first = k[0]
    finally:
        srv.stop()
    again = Serve(tmp_path, "--seed", "7")                     # same data dir: same anchor, same past
    try:
        k2 = again.http.get("/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1m",
                                                       "startTime": first[0], "limit": 1}).json()
        assert k2[0] == first
    finally:
        again.stop()


def test_the_past_is_deterministic():
    from perpsim.core.instruments import default_instruments
    from perpsim.venue.past import Past
    ins = default_instruments()
    starts = {"BTCUSDT": 60_000 * 10**8, "ETHUSDT": 3_000 * 10**8, "XRPUSDT": 5 * 10**7}
    a = Past.synthetic(ins, tuple(starts), 42, 1_760_000_000_000, 3.0, starts)
    b = Past.synthetic(ins, tuple(starts), 42, 1_760_000_000_000, 3.0, starts)
    c = Past.synthetic(ins, tuple(starts), 43, 1_760_000_000_000, 3.0, starts)
    assert a.bars("BTCUSDT", "1m") == b.bars("BTCUSDT", "1m") != c.bars("BTCUSDT", "1m")
    assert len(a.bars("BTCUSDT", "1m")) in (3 * 1440, 3 * 1440 + 1)        # the anchor may cut a minute
    assert a.bars("BTCUSDT", "1m")[-1][4] == starts["BTCUSDT"]           # the live feed's start price


def test_an_operators_price_holds_until_released(tmp_path):
    """With the wall clock and the synthetic feed running, the operator's price is the index until
    released; then the feed moves it again."""
    import time as _time

    from botkit import Serve
    srv = Serve(tmp_path, "--history-days", "0")
    try:
        def index():
            return srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "ETHUSDT"}).json()["indexPrice"]
        assert srv.admin("POST", "/admin/v1/price", {"symbol": "ETHUSDT", "price": "2550"})["held"] is True
        seen = set()
        for _ in range(12):                        # 3 s: the feed ticks every second
            seen.add(index())
            _time.sleep(0.25)
        assert {float(x) for x in seen} == {2550.0}
        assert srv.admin("POST", "/admin/v1/price", {"symbol": "ETHUSDT", "release": True})["held"] is False
        deadline = _time.monotonic() + 10
        while float(index()) == 2550.0 and _time.monotonic() < deadline:
            _time.sleep(0.2)
        assert float(index()) != 2550.0            # the feed's path again
        once = srv.admin("POST", "/admin/v1/price", {"symbol": "ETHUSDT", "price": "2550", "hold": False})
        assert once["held"] is False
    finally:
        srv.stop()


def _signed_with(srv, key_type, api_key, private_pem, method, path, params, body=False):
    """A request signed as Binance documents for RSA and Ed25519 keys: base64 signature, URL-encoded."""
    import time as _time
    import urllib.parse

    from perpsim.binance.key_types import sign
    p = dict(params, timestamp=int(_time.time() * 1000))
    payload = urllib.parse.urlencode(p)
    sig = urllib.parse.quote(sign(key_type, private_pem, payload.encode()), safe="")
    headers = {"X-MBX-APIKEY": api_key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return srv.http.request(method, path, content=f"{payload}&signature={sig}", headers=headers)
    return srv.http.request(method, path + f"?{payload}&signature={sig}", headers=headers)


def test_rsa_and_ed25519_api_keys(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with running_server(tmp_path) as srv:
        srv.price("BTCUSDT", "60000")
        for key_type in ("RSA", "ED25519"):
            acct = srv.admin("POST", "/admin/v1/accounts", {"deposit": {"USDT": "1000"}, "keyType": key_type})
            assert acct["keyType"] == key_type and "secretKey" not in acct
            assert acct["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
            r = _signed_with(srv, key_type, acct["apiKey"], acct["privateKey"], "GET", "/fapi/v3/account", {})
            assert r.status_code == 200 and r.json()["availableBalance"] == "1000.00000000", r.text
            r = _signed_with(srv, key_type, acct["apiKey"], acct["privateKey"], "POST", "/fapi/v1/leverage",
                             {"symbol": "BTCUSDT", "leverage": 5}, body=True)
            assert r.json()["leverage"] == 5, r.text
            # a wrong key's signature, an HMAC signature, garbage: -1022
            other = srv.admin("POST", "/admin/v1/accounts", {"keyType": key_type})
            r = _signed_with(srv, key_type, acct["apiKey"], other["privateKey"], "GET", "/fapi/v3/account", {})
            assert (r.status_code, r.json()["code"]) == (400, -1022)
            hm = srv.signed("GET", "/fapi/v3/account", dict(acct, secretKey="0" * 64))
            assert hm.json()["code"] == -1022
        # the caller's own public key: Ed25519
        private = ed25519.Ed25519PrivateKey.generate()
        pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        own = srv.admin("POST", "/admin/v1/accounts", {"keyType": "ED25519", "publicKey": pem})
        assert "privateKey" not in own and own["publicKey"] == pem
        priv_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
        assert _signed_with(srv, "ED25519", own["apiKey"], priv_pem, "GET", "/fapi/v2/balance", {}).status_code == 200
        more = srv.admin("POST", "/admin/v1/apiKeys", {"accountId": own["accountId"], "keyType": "RSA"})
        assert _signed_with(srv, "RSA", more["apiKey"], more["privateKey"], "GET", "/fapi/v2/balance",
                            {}).status_code == 200
        # refused: an RSA key given an Ed25519 public key, an unknown kind, a bad PEM: nothing created
        before = srv.state()["commands"]
        for bad in ({"keyType": "RSA", "publicKey": pem}, {"keyType": "DSA"}, {"keyType": "ED25519", "publicKey": "x"},
                    {"keyType": "HMAC", "publicKey": pem}):
            r = srv.http.post("/admin/v1/accounts", json=bad, headers={"X-PERPSIM-ADMIN": "test-admin-token"})
            assert (r.status_code, r.json()["code"]) == (400, -1130), bad
        assert srv.state()["commands"] == before              # refused: nothing journaled
        hmac = srv.account()
        assert hmac.get("keyType", "HMAC") == "HMAC" and srv.signed("GET", "/fapi/v3/account", hmac).status_code == 200
