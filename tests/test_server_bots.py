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
