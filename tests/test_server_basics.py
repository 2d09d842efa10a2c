"""The server's pipeline: public, signed and admin requests; errors in Binance's shape."""
import time

from serverkit import running_server


def test_public_signed_and_admin(tmp_path):
    with running_server(tmp_path) as srv:
        assert srv.http.get("/fapi/v1/ping").json() == {}
        assert srv.http.get("/api/v3/time").json()["serverTime"] > 0
        srv.price("BTCUSDT", "60000")
        assert srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"] == "60000.0"
        acct = srv.account(deposit="5000")
        r = srv.signed("GET", "/fapi/v3/account", acct)
        assert r.status_code == 200 and r.json()["availableBalance"] == "5000.00000000"
        r = srv.signed("POST", "/fapi/v1/leverage", acct, {"symbol": "BTCUSDT", "leverage": 10}, body=True)
        assert r.json()["leverage"] == 10
        state = srv.state()
        assert state["ledgerBalanced"] is True and len(state["stateHash"]) == 64


def test_auth_errors(tmp_path):
    with running_server(tmp_path) as srv:
        acct = srv.account()
        assert srv.http.get("/fapi/v3/account").json()["code"] == -2014
        r = srv.http.get("/fapi/v3/account", headers={"X-MBX-APIKEY": "a" * 64})
        assert (r.status_code, r.json()["code"]) == (401, -2015)
        bad = dict(acct, secretKey="0" * 64)
        assert srv.signed("GET", "/fapi/v3/account", bad).json()["code"] == -1022
        r = srv.signed("GET", "/fapi/v3/account", acct, timestamp=int(time.time() * 1000) - 60_000)
        assert r.json()["code"] == -1021
        r = srv.http.post("/admin/v1/accounts", json={}, headers={"X-PERPSIM-ADMIN": "wrong"})
        assert r.status_code == 401 and set(r.json()) == {"code", "msg"}
        r = srv.http.get("/nope")
        assert r.status_code == 404 and set(r.json()) == {"code", "msg"}


def test_request_weights_follow_binance(tmp_path):
    """Weights depend on the parameters: depth by limit, 24h tickers by whether a symbol is named."""
    from perpsim.binance.ratelimit import RateLimiter
    fixed_minute = RateLimiter(weight_per_minute=10**9, clock=lambda: 6_000_000.0)   # no minute rolls over
    with running_server(tmp_path, limiter=fixed_minute) as srv:
        srv.price("BTCUSDT", "60000")

        def used(path, params):
            return int(srv.http.get(path, params=params).headers["X-MBX-USED-WEIGHT-1M"])
        a = used("/fapi/v1/ping", {})
        b = used("/fapi/v1/ticker/24hr", {})
        c = used("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"})
        d = used("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})
        e = used("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5})
        assert (b - a, c - b, d - c, e - d) == (40, 1, 20, 2)


def test_admin_names_an_unknown_account_and_leverage_is_checked_first(tmp_path):
    with running_server(tmp_path) as srv:
        r = srv.http.post("/admin/v1/deposit", json={"accountId": 99, "asset": "USDT", "amount": "1"},
                          headers={"X-PERPSIM-ADMIN": "test-admin-token"})
        assert (r.status_code, r.json()["code"]) == (400, -1130) and "No account 99" in r.json()["msg"]
        acct = srv.account()
        r = srv.signed("POST", "/fapi/v1/leverage", acct, {"symbol": "BTCUSDT", "leverage": 1000}, body=True)
        assert r.json()["code"] == -4028                       # invalid before the new-account 20x cap
        r = srv.signed("POST", "/fapi/v1/leverage", acct, {"symbol": "BTCUSDT", "leverage": 50}, body=True)
        assert r.json()["code"] == -4205                       # the 60-day rule (guard)


def test_admin_settings_are_listed_and_typed(tmp_path):
    with running_server(tmp_path) as srv:
        rows = {r["name"]: r for r in srv.admin("GET", "/admin/v1/settings")}
        assert rows["insurance_capacity_ratio"]["default"] == 10**8 and rows["insurance_capacity_ratio"]["kind"] == "ratio"
        h = {"X-PERPSIM-ADMIN": "test-admin-token"}
        for body, says in (({"name": "insurance_capacity", "value": 0}, "Unknown setting"),
                           ({"name": "insurance_capacity_ratio", "value": "0"}, "takes a non-negative integer"),
                           ({"name": "insurance_capacity_ratio", "value": 0.5}, "takes a non-negative integer")):
            r = srv.http.post("/admin/v1/settings", json=body, headers=h)
            assert (r.status_code, r.json()["code"]) == (400, -1130) and says in r.json()["msg"], r.json()
        srv.admin("POST", "/admin/v1/settings", {"name": "insurance_capacity_ratio", "value": 0})
        rows = {r["name"]: r for r in srv.admin("GET", "/admin/v1/settings")}
        assert rows["insurance_capacity_ratio"]["value"] == 0
