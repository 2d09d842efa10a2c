"""The practice dashboard in real headless Chromium against a real ``perpsim serve`` (simulated clock):
sign in through the printed link -> wallets -> 20x isolated -> the ticket's liquidation price before
sending equals ``perpsim calc``'s -> buy -> the operator's wick liquidates it -> the alert appears without a
reload -> the liquidation history matches forceOrders and income -> the review answers the questions ->
the spot wallet is unchanged -> after repeated liquidations the next order brings the risk test: a wrong
answer is refused, the right ones let the order through. Each step saves a screenshot under
test-artifacts/dashboard/."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from dashkit import Serve, Watch, browser_page, require_browser_and_build, shot, write_metrics

from perpsim.core.risk_test import _quiz_bank

TID = "[data-testid={}]"


def t(name: str) -> str:
    return TID.format(name)


def money2(x) -> str:
    """A venue amount as the page shows it with 2 decimals (grouped)."""
    return f"{Decimal(str(x)).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def plain(x) -> str:
    """A venue amount as the page shows it with all its digits (grouped, no trailing zeros)."""
    d = Decimal(str(x))
    s = f"{d:,f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def calc_liquidation_price(mark: str, qty: str, leverage: int) -> Decimal:
    """``perpsim calc`` for the position the ticket previews: isolated, its wallet the order's margin."""
    wallet = Decimal(qty) * Decimal(mark) / leverage
    doc = {"margin_type": "isolated", "wallet_balance": str(wallet),
           "positions": [{"symbol": "BTCUSDT", "side": "LONG", "quantity": qty, "entry_price": mark,
                          "mark_price": mark, "leverage": leverage}]}
    exe = Path(sys.executable).parent / "perpsim"
    out = subprocess.run([str(exe), "calc"], input=json.dumps(doc), capture_output=True, text=True, check=True)
    return Decimal(json.loads(out.stdout)["positions"][0]["liquidation_price"])


def answer_key(qid: str, text: str, options: list[str]) -> int:
    """What a trader who learned the lessons answers (the lessons' answers are the venue's question bank's;
    the numeric ones are worked out from the question)."""
    if qid == "leverage_move":
        lev = int(re.search(r"With (\d+)x", text).group(1))
        return options.index(f"{100 / lev:g}%")
    if qid == "liquidation_price":
        entry, lev = map(int, re.search(r"long at (\d+) USDT with (\d+)x", text).groups())
        return options.index(str(entry - entry // lev))
    if qid == "leverage_margin":
        lev = int(re.search(r"at (\d+)x leverage", text).group(1))
        return options.index(f"{1000 // lev} USDT")
    bank = {q["id"]: q["options"][q["answer"]] for q in _quiz_bank(random.Random(0))}
    return options.index(bank[qid])


def nav(page, path: str, ready: str) -> None:
    page.click(f"nav a[href='{path}']")
    page.wait_for_selector(ready)
    assert page.url.endswith(path)


def wick_until_liquidated(srv: Serve) -> None:
    """The operator's wick: the index (and so the mark) drops 15% over 20 s and comes back over 20 s, on the
    simulated clock (advanced in 5 s steps); then the position is gone."""
    n = len(srv.signed("GET", "/perpsim/v1/liquidations"))
    srv.admin("/admin/v1/price", {"symbol": "BTCUSDT", "wick": {"pct": -15, "downMs": 20_000, "upMs": 20_000}})
    for _ in range(10):
        srv.admin("/admin/v1/clock", {"advanceMs": 5_000})
    assert len(srv.signed("GET", "/perpsim/v1/liquidations")) == n + 1


def buy_on_ticket(page) -> None:
    page.click(t("side-buy"))
    page.select_option(t("order-type"), "MARKET")
    page.fill(t("qty"), "0.01")
    page.wait_for_selector(f"{t('preview-liq')}:not([data-value=''])")
    page.click(t("submit"))


def dismiss_alerts(page) -> None:
    alerts = page.locator("[data-testid=alert] .x")
    while alerts.count():
        alerts.first.click()


def test_the_practice_journey(tmp_path):
    require_browser_and_build()
    started = time.time()
    srv = Serve(tmp_path / "venue", clock="sim")
    try:
        with browser_page() as page:
            try:
                used_weight = journey(srv, page)
            except Exception:
                shot(page, "failure")        # what the page showed when the step failed
                raise
    finally:
        srv.stop()
    write_metrics({"e2e_journey_seconds": round(time.time() - started, 1), "e2e_max_used_weight_1m": used_weight})


def journey(srv: Serve, page) -> int:
    """The steps; returns the highest request weight the venue reported (Binance's 1-minute limit)."""
    watch = Watch(page)
    # 1. sign in through the printed link; the secret leaves the address bar
    page.goto(srv.link)
    page.wait_for_selector(f"{t('live')}.open")
    assert "#" not in page.url and "secret" not in page.url
    assert page.evaluate("JSON.parse(sessionStorage.getItem('perpsim.credentials')).key") == srv.key
    page.evaluate("window.__noReload = true")
    shot(page, "01-signed-in-trade")

    # 2. wallets: spot, funding, futures, earn
    nav(page, "/wallets", t("wallet-spot-USDT"))
    spot_before = page.inner_text(t("wallet-spot-USDT"))
    assert spot_before == "10,000"
    assert page.inner_text(t("wallet-futures-USDT")) == "100,000"
    shot(page, "02-wallets")

    # 3. 20x isolated; the ticket shows the liquidation price before sending, equal to perpsim calc's
    nav(page, "/", t("ticket"))
    page.click(t("isolated"))
    page.wait_for_selector(f"{t('isolated')}.on")
    page.fill(t("leverage"), "20")
    page.dispatch_event(t("leverage"), "change")
    page.wait_for_selector(f"{t('order-result')}:has-text('Leverage set to 20x')")
    page.click(t("side-buy"))
    page.fill(t("qty"), "0.01")
    page.wait_for_selector(f"{t('preview-liq')}:not([data-value=''])")
    page.wait_for_selector(f"{t('preview')}:has-text('ISOLATED, 20x')")
    mark = srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"]
    shown = page.get_attribute(t("preview-liq"), "data-value")
    expected = calc_liquidation_price(mark, "0.01", 20)
    assert Decimal(shown) == expected, (shown, expected)
    assert page.inner_text(t("preview-liq")) == money2(expected)
    codes = page.eval_on_selector_all(f"{t('preview-warnings')} li", "els => els.map(e => e.dataset.code)")
    assert "HIGH_LEVERAGE" in codes and "NO_STOP_LOSS" in codes
    assert page.inner_text(t("preview-move")).endswith("%") and "USDT" in page.inner_text(t("preview-cost"))
    shot(page, "03-ticket-preview-20x-isolated")

    # 4. buy
    page.click(t("submit"))
    page.wait_for_selector(f"{t('order-result')}:has-text('FILLED')")
    pos = [p for p in srv.signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT") if p["positionAmt"] != "0"]
    assert pos and Decimal(pos[0]["positionAmt"]) == Decimal("0.01") and pos[0]["marginType"] == "isolated"
    page.wait_for_function("document.querySelector('[data-testid=chart]') !== null")
    shot(page, "04-bought")

    # 5. the operator's wick liquidates it; the alert appears without a reload
    wick_until_liquidated(srv)
    page.wait_for_selector("[data-testid=alert]:has-text('Liquidated')")
    assert page.evaluate("window.__noReload") is True
    shot(page, "05-liquidated-alert")
    dismiss_alerts(page)

    # 6. the liquidation history: trigger, execution and loss equal forceOrders and income
    nav(page, "/liquidations", t("liquidations-table"))
    page.reload()                                       # a reload keeps the page
    page.wait_for_selector(t("liquidations-table"))
    assert page.url.endswith("/liquidations")
    page.evaluate("window.__noReload = true")
    rec = srv.signed("GET", "/perpsim/v1/liquidations")[-1]
    force = srv.signed("GET", "/fapi/v1/forceOrders")[-1]
    income = [r for r in srv.signed("GET", "/fapi/v1/income", limit=1000) if r["time"] == force["time"]]
    realized = sum(Decimal(r["income"]) for r in income if r["incomeType"] == "REALIZED_PNL")
    fee = Decimal(rec["clearanceFee"])
    assert any(Decimal(r["income"]) == -fee for r in income if r["incomeType"] == "INSURANCE_CLEAR")
    assert Decimal(force["avgPrice"]) == Decimal(rec["executionPrice"])
    assert Decimal(rec["loss"]) == fee - realized
    assert page.inner_text(t("liq-exec-0")) == plain(force["avgPrice"])
    assert page.inner_text(t("liq-trigger-0")) == plain(rec["triggerPrice"])
    assert Decimal(rec["triggerPrice"]) <= Decimal(rec["liquidationPrice"])    # the mark reached it
    assert page.inner_text(t("liq-loss-0")) == plain(rec["loss"])
    assert page.inner_text(t("liq-fee-0")) == plain(fee)
    assert page.inner_text(t("liq-qty-0")) == plain(force["executedQty"])
    booked = page.inner_text(t("liq-income-0"))
    for r in income:
        if r["incomeType"] != "TRANSFER" and r["symbol"] == "BTCUSDT":
            assert f"{r['incomeType']} {plain(r['income'])}" in booked, (booked, r)
    shot(page, "06-liquidation-history")

    # 7. the review answers the questions
    nav(page, "/review", t("review-1"))
    review = srv.signed("GET", "/perpsim/v1/reviews")["liquidations"][0]
    card = page.locator(t("review-1"))
    assert card.locator(t("q-leverage")).inner_text().startswith("20x")
    assert card.locator(t("q-stop")).inner_text().startswith("no")
    assert card.locator(t("q-loss-rate")).inner_text() == review["lossRate"]
    assert review["trend"]["verdict"] in card.locator(t("q-trend")).inner_text()
    assert card.locator(t("recommendations")).locator("li").count() == len(review["recommendations"]) > 0
    page.wait_for_selector(f"{t('review-1')} canvas")
    shot(page, "07-review")

    # 8. the spot wallet is unchanged; the page says what was touched
    nav(page, "/wallets", t("touched"))
    assert page.inner_text(t("wallet-spot-USDT")) == spot_before
    assert "spot, funding and earn" in page.inner_text(t("untouched"))
    shot(page, "08-wallets-after-liquidation")
    page.select_option(t("transfer-type"), "MAIN_FUNDING")
    page.fill(t("transfer-amount"), "100")
    page.click(t("transfer"))
    page.wait_for_selector(f"{t('wallet-funding-USDT')}:has-text('100')")
    assert page.inner_text(t("wallet-spot-USDT")) == "9,900"
    funding = srv.signed("POST", "/sapi/v1/asset/get-funding-asset")
    assert [(f["asset"], Decimal(f["free"])) for f in funding] == [("USDT", Decimal(100))]

    # 9. two more liquidations; the next order is refused (-4087) and brings the risk test
    for _ in range(2):
        nav(page, "/", t("ticket"))
        buy_on_ticket(page)
        page.wait_for_selector(f"{t('order-result')}:has-text('FILLED')")
        wick_until_liquidated(srv)
        page.wait_for_selector("[data-testid=alert]:has-text('Liquidated')")
        dismiss_alerts(page)
    nav(page, "/", t("ticket"))
    buy_on_ticket(page)
    page.wait_for_url("**/protection?quiz=1")
    page.wait_for_selector(t("quiz-form"))
    shot(page, "09-risk-test-required")

    def answer(wrong: bool) -> None:
        for i, fs in enumerate(page.query_selector_all("fieldset[data-qid]")):
            options = [o.inner_text() for o in fs.query_selector_all("label.option")]
            right = answer_key(fs.get_attribute("data-qid"), fs.query_selector("legend").inner_text(), options)
            pick = (right + 1) % len(options) if wrong and i == 0 else right
            fs.query_selector_all("input[type=radio]")[pick].check()

    # 10. a wrong answer is refused; the order stays refused
    answer(wrong=True)
    shot(page, "10-quiz-answered-wrong")
    page.click(t("submit-quiz"))
    page.wait_for_selector(t("quiz-failed"))
    status = srv.signed("GET", "/perpsim/v1/status")
    assert status["riskTest"]["required"] is True and status["futures"]["canOpen"] is False
    shot(page, "11-quiz-refused")

    # 11. the right answers pass; the order goes through
    page.click(t("retake-quiz"))
    page.wait_for_selector(t("quiz-form"))
    answer(wrong=False)
    page.click(t("submit-quiz"))
    page.wait_for_selector(f"{t('quiz-passed')}, {t('quiz-failed')}")
    assert page.locator(t("quiz-passed")).count() == 1, page.inner_text(t("quiz"))
    shot(page, "12-quiz-passed")
    # ... this time with a stop-loss: the preview stops warning about it, the stop is placed after the fill
    nav(page, "/", t("ticket"))
    mark = Decimal(srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"])
    stop = str(int(mark * Decimal("0.97")))
    page.fill(t("stop-loss"), stop)
    page.wait_for_function("!document.querySelector('[data-testid=preview-warnings] [data-code=NO_STOP_LOSS]')")
    buy_on_ticket(page)
    page.wait_for_selector(f"{t('order-result')}:has-text('Stop-loss')")
    page.wait_for_selector(f"{t('open-orders')} td:has-text('STOP_MARKET')")
    algos = srv.signed("GET", "/fapi/v1/openAlgoOrders")
    algos = algos if isinstance(algos, list) else algos["orders"]
    assert [(a["orderType"], Decimal(a["triggerPrice"]), a["side"]) for a in algos] == [
        ("STOP_MARKET", Decimal(stop), "SELL")]
    shot(page, "13-order-after-the-test-with-stop-loss")

    # 12. positions: the venue's figures, the margin ratio gauge, add isolated margin, close
    nav(page, "/positions", t("size-BTCUSDT"))
    assert page.inner_text(t("size-BTCUSDT")) == "0.01"
    risk = [p for p in srv.signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT") if p["positionAmt"] != "0"][0]
    assert page.inner_text(t("liq-BTCUSDT")) == money2(risk["liquidationPrice"])
    page.wait_for_selector(f"{t('ratio-BTCUSDT')}:not([data-value=''])")
    ratio = srv.signed("GET", "/perpsim/v1/marginRatio")["positions"][0]["marginRatio"]
    assert page.get_attribute(t("ratio-BTCUSDT"), "data-value") == ratio
    shot(page, "14-positions")
    page.click(t("add-margin-BTCUSDT"))
    page.wait_for_selector(f"{t('positions-result')}:has-text('Added 10')")
    after = [p for p in srv.signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT") if p["positionAmt"] != "0"][0]
    assert Decimal(after["isolatedWallet"]) == Decimal(risk["isolatedWallet"]) + 10
    page.click(t("close-BTCUSDT"))
    page.wait_for_selector(t("no-positions"))
    shot(page, "15-closed")

    # 13. protection: an appeal of a normal liquidation is refused; a personal leverage cap is kept
    nav(page, "/protection", t("appeal"))
    page.click(t("appeal"))
    page.wait_for_selector(f"{t('appeal-result')}:has-text('Refused')")
    page.fill(t("cap-leverage"), "10")
    page.click(t("set-limits"))
    page.wait_for_selector(f"{t('limits')}:has-text('Leverage cap: 10x')")
    assert srv.signed("GET", "/perpsim/v1/status")["selfProtection"]["maxLeverage"] == 10
    shot(page, "16-protection")

    assert page.evaluate("window.perpsim.stream.reconnects") == 0
    watch.closing = True
    watch.assert_clean(allowed_refusals={"/fapi/v1/order"})
    assert all(r[2] == 400 for r in watch.refusals) and len(watch.refusals) == 1
    return watch.max_weight


def test_first_live_mark_price_and_bundle_size(tmp_path):
    """Measured, not asserted against a target: page load to the first mark price pushed over the
    WebSocket on loopback (wall clock: the venue pushes markPrice every second), and the bundle's size."""
    require_browser_and_build()
    srv = Serve(tmp_path / "venue", clock="wall")
    try:
        with browser_page() as page:
            watch = Watch(page)
            page.goto(srv.link)
            page.wait_for_function("window.perpsim && window.perpsim.firstMarkAt > 0", timeout=15_000)
            first_mark_ms = page.evaluate("window.perpsim.firstMarkAt")
            dom_ms = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
            shot(page, "00-first-live-mark")
            watch.assert_clean()
            # a dropped socket: the page reconnects by itself and the marks flow again
            watch.closing = True
            page.evaluate("window.perpsim.marks = {}; window.perpsim.stream.ws.close()")
            page.wait_for_function("window.perpsim.stream.reconnects === 1 && window.perpsim.stream.state === 'open'")
            page.wait_for_function("Object.keys(window.perpsim.marks).length > 0")
            page.wait_for_selector(f"[data-testid=live].open")
    finally:
        srv.stop()
    sizes = json.loads((Path(__file__).resolve().parents[1] / "perpsim" / "web_dist" / "sizes.json").read_text())
    metrics = {"first_live_mark_ms": round(first_mark_ms), "dom_content_loaded_ms": round(dom_ms),
               "bundle": sizes}
    write_metrics(metrics)
    print(json.dumps(metrics))
    assert sizes["assets/app.js"]["bytes"] > 0 and first_mark_ms > 0


def test_ticket_order_types_and_hedge_mode(tmp_path):
    """The ticket's other order types, in hedge mode: a resting LIMIT and its cancel, STOP_MARKET,
    TAKE_PROFIT_MARKET and TRAILING_STOP_MARKET as conditional orders, each as the venue lists them."""
    require_browser_and_build()
    srv = Serve(tmp_path / "venue", clock="sim")
    try:
        with browser_page() as page:
            watch = Watch(page)
            page.goto(srv.link)
            page.wait_for_selector(f"{t('live')}.open")
            page.wait_for_selector(f"{t('preview-liq')}")
            page.click(t("hedge"))
            page.wait_for_selector(f"{t('hedge')}.on")
            assert srv.signed("GET", "/fapi/v1/positionSide/dual")["dualSidePosition"] is True
            page.wait_for_selector(f"{t('position-side')}:visible")
            mark = Decimal(srv.http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}).json()["markPrice"])
            # a LIMIT buy well below the market rests in the book
            page.select_option(t("order-type"), "LIMIT")
            page.select_option(t("position-side"), "LONG")
            page.fill(t("price"), str(int(mark * Decimal("0.9"))))
            page.fill(t("qty"), "0.01")
            page.click(t("side-buy"))
            page.wait_for_selector(f"{t('preview')}:has-text('Position after')")
            page.click(t("submit"))
            page.wait_for_selector(f"{t('order-result')}:has-text('NEW')")
            page.wait_for_selector(f"{t('open-orders')} td:has-text('LIMIT')")
            (o,) = srv.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT")
            assert o["positionSide"] == "LONG" and Decimal(o["price"]) == int(mark * Decimal("0.9"))
            # conditional orders (trigger on the mark price)
            for kind, trigger in (("STOP_MARKET", mark * Decimal("1.05")), ("TAKE_PROFIT_MARKET", mark * Decimal("0.95")),
                                  ("TRAILING_STOP_MARKET", None)):
                page.select_option(t("order-type"), kind)
                if trigger is not None:
                    page.fill(t("stop-price"), str(int(trigger)))
                else:
                    page.fill(t("callback-rate"), "1")
                page.click(t("submit"))
                page.wait_for_selector(f"{t('order-result')}:has-text('Conditional order')")
                page.wait_for_selector(f"{t('open-orders')} td:has-text('{kind}')")
            algos = srv.signed("GET", "/fapi/v1/openAlgoOrders")
            algos = algos if isinstance(algos, list) else algos["orders"]
            assert sorted(a["orderType"] for a in algos) == ["STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
            shot(page, "20-ticket-order-types-hedge")
            page.locator(f"{t('open-orders')} tr:has-text('LIMIT') button").click()
            page.wait_for_function("!document.querySelector('[data-testid=open-orders]').innerText.includes('\\tLIMIT')")
            assert srv.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT") == []
            watch.closing = True
            watch.assert_clean()
    finally:
        srv.stop()
