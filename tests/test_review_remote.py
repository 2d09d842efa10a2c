"""`perpsim review --api-url` reviews an account read-only over Binance's REST API and shows the same
review as the dashboard's /perpsim/v1/reviews (tested against a real server)."""
import json
import subprocess
import sys
from pathlib import Path

from serverkit import running_server


def order(srv, acct, **p):
    r = srv.signed("POST", "/fapi/v1/order", acct, p, body=True)
    assert r.status_code == 200, r.text


def test_cli_review_over_the_api_equals_the_page(tmp_path):
    with running_server(tmp_path) as srv:
        srv.admin("POST", "/admin/v1/insurance", {"asset": "USDT", "amount": "1000000"})
        srv.price("BTCUSDT", "60000")
        maker, acct = srv.account(deposit="1000000"), srv.account(deposit="1000")
        assert srv.signed("POST", "/fapi/v1/marginType", acct, {"symbol": "BTCUSDT", "marginType": "ISOLATED"},
                          body=True).status_code == 200
        for _ in range(2):
            order(srv, maker, symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                  price="60000")
            order(srv, acct, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
            srv.price("BTCUSDT", "56000")
            srv.price("BTCUSDT", "60000")
        page = srv.signed("GET", "/perpsim/v1/reviews", acct).json()
        exe = Path(sys.executable).parent / "perpsim"
        out = subprocess.run([str(exe), "review", "--api-url", srv.base, "--api-key", acct["apiKey"],
                              "--api-secret", acct["secretKey"], "--json"], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        cli = json.loads(out.stdout)
        assert len(cli["liquidations"]) == 2 and cli["liquidations"][0]["leverage"] == 20
        assert cli == page
        text = subprocess.run([str(exe), "review", "--api-url", srv.base, "--api-key", acct["apiKey"],
                               "--api-secret", acct["secretKey"]], capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})
        assert text.returncode == 0 and "What was the leverage?" in text.stdout
        bad = subprocess.run([str(exe), "review", "--api-url", srv.base, "--api-key", acct["apiKey"],
                              "--api-secret", "wrong"], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "-1022" in bad.stderr
