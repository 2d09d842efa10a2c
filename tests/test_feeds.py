"""Feeds: operator, synthetic, and replay readers over the real files in ../shared/data."""
from __future__ import annotations

import gzip
import itertools
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from perpsim.core.fixed import parse
from perpsim.venue.feeds import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedError,
    FundingRecord,
    Kline,
    OperatorFeed,
    Regime,
    SyntheticFeed,
    SyntheticParams,
    Trade,
    interval_to_ms,
    kline_ticks,
    merge,
    read_funding_rates,
    read_klines,
    read_ws_capture,
)

P = parse
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")


def ms(text: str) -> int:
    dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


@pytest.fixture(scope="module")
def xrp(shared_dir: Path) -> Path:
    return shared_dir / "data" / "freqtrade-binance-xrpusdt-perp"


@pytest.fixture(scope="module")
def ticks_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "hftbacktest-binance-usdm-ticks"


# ------------------------------------------------------------------ freqtrade (real Binance data)


def test_freqtrade_5m_klines(xrp):
    ks = list(read_klines(xrp / "XRP_USDT_USDT-5m-futures.csv"))
    assert len(ks) == 1999
    assert all(isinstance(k, Kline) for k in ks)
    assert ks[0] == Kline("XRPUSDT", "trade", ms("2021-11-15T00:00:00"), ms("2021-11-15T00:04:59.999"),
                          P("1.1893"), P("1.1954"), P("1.1891"), P("1.1941"), P("9289043.5"))
    assert ks[-1].ts_ms == ms("2021-11-21T22:30:00")
    assert all(b.ts_ms - a.ts_ms >= 300_000 for a, b in zip(ks, ks[1:]))
    big = next(k for k in ks if k.ts_ms == ms("2021-11-16T10:05:00"))
    assert (big.high, big.low) == (P("1.0959"), P("1.0392"))


def test_freqtrade_mark_klines_float_noise_is_rounded(xrp):
    ks = list(read_klines(xrp / "XRP_USDT_USDT-1h-mark.csv"))
    assert len(ks) == 100
    assert all(k.kind == "mark" and k.volume is None for k in ks)
    k = next(k for k in ks if k.ts_ms == ms("2021-11-15T08:00:00"))
    assert k.low == P("1.19972")  # written as 1.1997200000000001 in the CSV


def test_freqtrade_8h_crash_bar(xrp):
    # README: despite the "-mark" name these are last-price klines, so the kind is passed in
    ks = list(read_klines(xrp / "XRP_USDT_USDT-8h-mark.csv", kind="trade"))
    assert len(ks) == 91 and ks[0].close_ms == ks[0].ts_ms + 8 * 3_600_000 - 1
    crash = next(k for k in ks if k.ts_ms == ms("2021-12-04T00:00:00"))
    assert (crash.open, crash.high, crash.low, crash.close) == (P("0.9212"), P("0.9246"), P("0.5764"), P("0.7497"))


def test_freqtrade_funding_rates(xrp):
    rs = list(read_funding_rates(xrp / "XRP_USDT_USDT-8h-funding_rate.csv"))
    assert len(rs) == 91
    assert rs[0] == FundingRecord("XRPUSDT", ms("2021-11-18T00:00:00.017"), P("0.0001"))
    low = min(rs, key=lambda r: r.rate)
    assert low.rate == P("-0.00219334") and low.ts_ms == ms("2021-12-04T08:00:00.004")
    assert max(r.rate for r in rs) == P("0.00058316")
    # settlements every 8 h, a few ms after the hour
    assert all(r.ts_ms % (8 * 3_600_000) < 1_000 for r in rs)


def test_mark_vs_last_overlap(xrp):
    mark = {k.ts_ms: k for k in read_klines(xrp / "XRP_USDT_USDT-1h-mark.csv")}
    last = {k.ts_ms: k for k in read_klines(xrp / "XRP_USDT_USDT-1h-futures.csv")}
    both = sorted(mark.keys() & last.keys())
    assert both[0] == ms("2021-11-17T01:00:00") and both[-1] == ms("2021-11-19T09:00:00")
    # mark and last stay within 1 % of each other in a calm week
    assert all(abs(mark[t].close - last[t].close) * 100 < last[t].close for t in both)


def test_nautilus_ftx_first_rows(shared_dir):
    f = shared_dir / "data" / "nautilus-ftx-btc-perp-1m" / "ftx-btc-perp-20211231-20220201_1m.csv"
    ks = list(itertools.islice(read_klines(f, symbol="BTC-PERP"), 500))
    assert len(ks) == 500
    assert ks[0].ts_ms == ms("2021-12-31T23:01:00") and ks[0].close_ms == ks[0].ts_ms + 59_999
    assert ks[0].open == P("46319") and ks[0].close == P("46377")


# ------------------------------------------------------------------ data.binance.vision formats


def _rows_from(ks: list[Kline], step: int) -> list[str]:
    from perpsim.core.fixed import fmt_plain
    return [f"{k.ts_ms},{fmt_plain(k.open)},{fmt_plain(k.high)},{fmt_plain(k.low)},{fmt_plain(k.close)},"
            f"{fmt_plain(k.volume or 0)},{k.ts_ms + step - 1},0,17,0,0,0" for k in ks]


def _zip(path: Path, member: str, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, text)
    return path


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("packing", ["zip", "csv", "gz"])
def test_binance_vision_klines_roundtrip(xrp, tmp_path, header, packing):
    """Real XRPUSDT candles rewritten in data.binance.vision's layout read back identically."""
    src = list(read_klines(xrp / "XRP_USDT_USDT-1h-futures.csv"))
    text = "\n".join(([KLINE_HEADER] if header else []) + _rows_from(src, 3_600_000)) + "\n"
    folder = tmp_path / "data/futures/um/daily/klines/XRPUSDT/1h"
    name = "XRPUSDT-1h-2021-11-17"
    if packing == "zip":
        f = _zip(folder / f"{name}.zip", f"{name}.csv", text)
    elif packing == "gz":
        folder.mkdir(parents=True)
        f = folder / f"{name}.csv.gz"
        f.write_bytes(gzip.compress(text.encode()))
    else:
        folder.mkdir(parents=True)
        f = folder / f"{name}.csv"
        f.write_text(text)
    got = list(read_klines(f))
    assert len(got) == len(src)
    for a, b in zip(got, src):
        assert (a.symbol, a.kind, a.ts_ms, a.close_ms) == ("XRPUSDT", "trade", b.ts_ms, b.close_ms)
        assert (a.open, a.high, a.low, a.close, a.volume) == (b.open, b.high, b.low, b.close, b.volume)
        assert a.trades == 17


@pytest.mark.parametrize("folder,kind", [("markPriceKlines", "mark"), ("indexPriceKlines", "index"),
                                         ("premiumIndexKlines", "premium")])
def test_binance_vision_kind_from_folder(tmp_path, folder, kind):
    if kind == "premium":  # premium index klines go negative
        rows = ["1723161600000,-0.00001,0.00002,-0.00003,0.00001,0,1723161659999,0,60,0,0,0",
                "1723161660000,0.00001,0.00002,0,0.00002,0,1723161719999,0,60,0,0,0"]
    else:
        rows = ["1723161600000,61000.1,61010,60990.5,61005.25,0,1723161659999,0,60,0,0,0",
                "1723161660000,61005.25,61020,61000,61010,0,1723161719999,0,60,0,0,0"]
    f = _zip(tmp_path / f"data/futures/um/daily/{folder}/BTCUSDT/1m/BTCUSDT-1m-2024-08-09.zip",
             "BTCUSDT-1m-2024-08-09.csv", "\n".join(rows))
    ks = list(read_klines(f))
    assert [k.kind for k in ks] == [kind, kind]
    assert ks[0].symbol == "BTCUSDT" and ks[1].ts_ms == 1723161660000
    if kind == "premium":
        assert ks[0].low == -P("0.00003")


def test_freqtrade_candle_type_suffixes(tmp_path):
    for suffix, kind in (("futures", "trade"), ("mark", "mark"), ("index", "index"), ("premiumIndex", "premium")):
        f = tmp_path / f"BTC_USDT_USDT-1m-{suffix}.csv"
        f.write_text("date,open,high,low,close,volume\n2024-08-09 00:00:00+00:00,1,1,1,1,\n")
        (k,) = read_klines(f)
        assert (k.kind, k.symbol, k.close_ms) == (kind, "BTCUSDT", 1723161659999)


def test_headerless_iso_dates(tmp_path):
    f = tmp_path / "XRPUSDT-1h-noheader.csv"
    f.write_text("2021-11-17T01:00:00.000Z,1.0801,1.09758,1.07654,1.07925,3153694.607359\n")
    (k,) = read_klines(f)
    assert k.ts_ms == ms("2021-11-17T01:00:00") and k.close_ms == k.ts_ms + 3_599_999


def test_binance_vision_microsecond_times(tmp_path):
    f = tmp_path / "BTCUSDT-1m-2025-01-02.csv"
    f.write_text("1735776000000000,1,2,0.5,1.5,10,1735776059999999,0,1,0,0,0\n")
    (k,) = read_klines(f)
    assert k.ts_ms == 1735776000000 and k.close_ms == 1735776059999


@pytest.mark.parametrize("header", [True, False])
def test_binance_vision_funding_rate_file(tmp_path, header):
    rows = ["1722470400000,8,0.00010000", "1722499200001,8,-0.00005123", "1722513600000,4,0.00002500"]
    text = "\n".join((["calc_time,funding_interval_hours,last_funding_rate"] if header else []) + rows)
    f = _zip(tmp_path / "BTCUSDT-fundingRate-2024-08.zip", "BTCUSDT-fundingRate-2024-08.csv", text)
    rs = list(read_funding_rates(f))
    assert rs == [FundingRecord("BTCUSDT", 1722470400000, P("0.0001"), 8),
                  FundingRecord("BTCUSDT", 1722499200001, -P("0.00005123"), 8),
                  FundingRecord("BTCUSDT", 1722513600000, P("0.000025"), 4)]


def test_rest_funding_rate_csv(tmp_path):
    f = tmp_path / "funding.csv"
    f.write_text("symbol,fundingTime,fundingRate,markPrice\n"
                 "BTCUSDT,1722470400000,0.00010000,64628.00000000\n"
                 "BTCUSDT,1722499200000,0.00007321,\n")
    rs = list(read_funding_rates(f))
    assert rs[0].mark_price == P("64628") and rs[1].mark_price is None and rs[1].symbol == "BTCUSDT"


def test_interval_to_ms():
    assert interval_to_ms("1m") == 60_000
    assert interval_to_ms("8h") == 28_800_000
    with pytest.raises(ValueError):
        interval_to_ms("1M")


# ------------------------------------------------------------------ malformed CSV


@pytest.mark.parametrize("body,line,words", [
    (KLINE_HEADER + "\n1,1,2,0.5,1.5,1,60000,0,1,0,0,0\n2,1,2,abc,1.5,1,60001,0,1,0,0,0\n", 3, "low"),
    ("1,1,2,0.5,1.5\n1,1,2,0.5,1.5\n", 2, "not increasing"),
    ("1,1,2,0.5,1.5\n2,1,1.2,0.5,1.5\n", 2, "inconsistent candle"),
    ("1,1,2,0.5,1.5\n2,1,2,0.5\n", 2, "too few columns"),
    ("open_time,open,high,low,close,wat\n", 1, "unknown column"),
    ("date,open,close\n", 1, "header lacks"),
    ("1,1,2,0.5,1.5\n2,1,2,nan,1.5\n", 2, "not a finite number"),
    ("1,1,2,0,1.5\n", 1, "must be > 0"),
    ("yesterday,1,2,0.5,1.5\n", 1, "unknown column"),
    ("1,1,2,0.5,1.5,-3\n", 1, "must be >= 0"),
    ("date,open,high,low,close\nyesterday,1,2,0.5,1.5\n", 2, "not a timestamp"),
    ("\nopen_time,open,high,low,close,wat\n", 2, "unknown column"),
])
def test_malformed_klines_name_file_and_line(tmp_path, body, line, words):
    f = tmp_path / "BTCUSDT-1m-bad.csv"
    f.write_text(body)
    with pytest.raises(FeedError) as exc:
        list(read_klines(f))
    assert f"{f}:{line}:" in str(exc.value)
    assert words in str(exc.value)
    assert exc.value.line == line


def test_malformed_funding(tmp_path):
    f = tmp_path / "XRPUSDT-fundingRate-bad.csv"
    f.write_text("calc_time,funding_interval_hours,last_funding_rate\n1,8,0.0001\n2,eight,0.0001\n")
    with pytest.raises(FeedError, match=r":3: funding_interval_hours"):
        list(read_funding_rates(f))
    f.write_text("1,8,0.0001\n1,8,0.0001\n")
    with pytest.raises(FeedError, match=r":2: time not increasing"):
        list(read_funding_rates(f))
    f.write_text("1,8\n")
    with pytest.raises(FeedError, match=r":1: too few columns"):
        list(read_funding_rates(f))


def test_bad_containers(tmp_path):
    with pytest.raises(FeedError, match="no such file"):
        list(read_klines(tmp_path / "missing.csv"))
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.csv", "1,1,1,1,1\n")
        zf.writestr("b.csv", "1,1,1,1,1\n")
    with pytest.raises(FeedError, match="one file"):
        list(read_klines(z))
    bad = tmp_path / "junk.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FeedError, match="not a zip"):
        list(read_klines(bad))
    # errors inside a zip name the member
    z2 = _zip(tmp_path / "BTCUSDT-1m-x.zip", "BTCUSDT-1m-x.csv", "1,1,2,0.5,1.5\n0,1,2,0.5,1.5\n")
    with pytest.raises(FeedError, match=r"BTCUSDT-1m-x\.zip!BTCUSDT-1m-x\.csv:2:"):
        list(read_klines(z2))


# ------------------------------------------------------------------ WebSocket capture


N_WS = 4000


def test_ws_capture_btc_first_records(ticks_dir):
    recs = list(itertools.islice(read_ws_capture(ticks_dir / "btcusdt_20240808.gz"), N_WS))
    assert len(recs) == N_WS
    kinds = {type(r) for r in recs}
    assert kinds == {Trade, BookTicker, DepthUpdate, DepthSnapshot}
    assert all(a.ts_ms <= b.ts_ms and a.recv_ns <= b.recv_ns for a, b in zip(recs, recs[1:]))
    assert all(r.ts_ms >= r.exchange_ms for r in recs)
    # exchange times do go back across streams; the replay clock does not
    assert any(b.exchange_ms < a.exchange_ms for a, b in zip(recs, recs[1:]))
    first = recs[0]
    assert isinstance(first, DepthUpdate) and first.exchange_ms == 1723161256298
    assert first.bids[0] == (P("58710.20"), P("0.014"))
    t = recs[2]
    assert t == Trade("BTCUSDT", 1723161256322, 1723161256322, 1723161255088176367, 5266583935,
                      P("61800.30"), P("0.006"), False, "MARKET")
    snap = next(r for r in recs if isinstance(r, DepthSnapshot))
    assert snap.symbol == "BTCUSDT" and snap.last_update_id == 5123107852948
    assert snap.recv_ns == 1723161255319702566
    assert snap.bids[0][0] < snap.asks[0][0]
    lo, hi = P("61590.3"), P("61839.9")
    assert all(lo <= r.price <= hi for r in recs if isinstance(r, Trade))
    books = [r for r in recs if isinstance(r, BookTicker)]
    assert all(b.bid < b.ask for b in books)


def test_ws_capture_eth_filtered(ticks_dir):
    trades = list(itertools.islice(read_ws_capture(ticks_dir / "ethusdt_20240808.gz", kinds={"trade"}), 1000))
    assert len(trades) == 1000 and all(isinstance(t, Trade) and t.symbol == "ETHUSDT" for t in trades)
    assert all(P("2677.9") <= t.price <= P("2684.82") for t in trades)
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(trades, trades[1:]))
    with pytest.raises(ValueError):
        next(read_ws_capture(ticks_dir / "ethusdt_20240808.gz", kinds={"aggTrade"}))


GOOD_TRADE = ('{"stream":"btcusdt@trade","data":{"e":"trade","E":2,"T":2,"s":"BTCUSDT","t":1,'
              '"p":"100.5","q":"0.1","X":"MARKET","m":true}}')


@pytest.mark.parametrize("line2,words", [
    ("5 {not json", "bad JSON"),
    ("3 " + GOOD_TRADE, "receive time went back"),
    ("nope " + GOOD_TRADE, "expected '<receive time ns> <json>'"),
    ("6 " + GOOD_TRADE.replace('"p":"100.5"', '"p":100.5'), "bad JSON"),
    ("6 " + GOOD_TRADE.replace('"p":"100.5"', '"p":"x"'), "not a number"),
    ("6 " + GOOD_TRADE.replace('"T":2', '"T":"2"'), "field 'T'"),
    ("6 " + GOOD_TRADE.replace("@trade", "@kline_1m"), "unknown stream"),
    ("6 " + GOOD_TRADE.replace('"m":true', '"m":1'), "field 'm'"),
    ('6 {"foo": 1}', "neither"),
    ('6 {"lastUpdateId":1,"T":3,"bids":[["1"]],"asks":[]}', "bad level"),
])
def test_ws_capture_malformed(tmp_path, line2, words):
    f = tmp_path / "btcusdt_bad.gz"
    f.write_bytes(gzip.compress(f"4 {GOOD_TRADE}\n{line2}\n".encode()))
    it = read_ws_capture(f)
    first = next(it)
    assert first.price == P("100.5") and first.buyer_is_maker
    with pytest.raises(FeedError) as exc:
        next(it)
    assert f"{f}:2:" in str(exc.value) and words in str(exc.value)


# ------------------------------------------------------------------ operator feed


def test_operator_set_and_wick():
    feed = OperatorFeed("BTCUSDT", P("60000"), at_ms=0, tick=P("0.1"))
    feed.set(10_000, P("61000"))
    assert feed.price_at(0) == P("60000") and feed.price_at(9_999) == P("60000")
    assert feed.price_at(10_000) == P("61000")
    # down 10 % over 1 s from t=20 s, back over 3 s
    w = feed.wick(20_000, P("0.10"), 1_000, 3_000)
    assert (w.bottom_ms, w.end_ms) == (21_000, 24_000)
    assert feed.price_at(20_000) == P("61000")
    assert feed.price_at(20_500) == P("57950")     # 5 % down
    assert feed.price_at(21_000) == P("54900")     # bottom
    assert feed.price_at(22_500) == P("57950")     # half way back
    assert feed.price_at(24_000) == P("61000")
    assert feed.price_at(20_001) == P("60993.9")   # on the 0.1 tick
    with pytest.raises(LookupError):
        feed.price_at(-1)


def test_operator_wick_rides_on_base_and_overlaps():
    feed = OperatorFeed("X", P("100"))
    feed.wick(0, P("0.5"), 100, 100)
    feed.wick(50, P("0.2"), 50, 50)
    assert feed.price_at(100) == P("30")  # 50 % + 20 % at both bottoms
    feed.set(150, P("200"))
    assert feed.price_at(150) == P("150")  # 25 % down from the new base
    full = OperatorFeed("Y", P("100"), tick=P("0.01"))
    full.wick(0, P("1"), 10, 10)
    assert full.price_at(10) == P("0.01")  # never below one tick
    ticks = list(feed.ticks(0, 300, 100))
    assert [t.ts_ms for t in ticks] == [0, 50, 100, 150, 200, 300]
    with pytest.raises(ValueError):
        feed.wick(0, P("1.5"), 1, 1)
    with pytest.raises(ValueError):
        feed.set(0, 0)


# ------------------------------------------------------------------ synthetic feed


PARAMS = SyntheticParams(start_price=P("60000"), tick=P("0.1"), step_ms=1_000,
                         regimes=(Regime(0.5), Regime(2.0)), switch_prob=1 / 600, jump_rate=200.0)


def test_synthetic_reproducible_and_independent_of_access_order():
    a = SyntheticFeed("BTCUSDT", 42, PARAMS, start_ms=1_000_000)
    b = SyntheticFeed("BTCUSDT", 42, PARAMS, start_ms=1_000_000)
    late = b.price_at(1_000_000 + 9_999_000)  # jump ahead first
    path = a.path(10_000)
    assert int(path[-1]) == late
    assert np.array_equal(path, b.path(10_000))
    assert a.price_at(1_000_000) == P("60000")
    assert a.price_at(1_000_500) == a.price_at(1_000_000)  # holds within a step
    assert not np.array_equal(path, SyntheticFeed("BTCUSDT", 43, PARAMS, 1_000_000).path(10_000))
    assert not np.array_equal(path, SyntheticFeed("ETHUSDT", 42, PARAMS, 1_000_000).path(10_000))


def test_synthetic_prices_are_ints_on_tick_with_regimes_and_jumps():
    feed = SyntheticFeed("BTCUSDT", 7, PARAMS)
    path = feed.path(20_000)
    assert path.dtype == np.int64
    assert np.all(path % P("0.1") == 0) and np.all(path > 0)
    assert isinstance(feed.price_at(5_000), int)
    regimes = {feed.regime_at(t * 1000) for t in range(0, 20_000, 50)}
    assert regimes == {0, 1}
    r = np.diff(np.log(path.astype(np.float64)))
    # heavy tails from the jumps: kurtosis well above a normal's 3
    kurt = np.mean((r - r.mean()) ** 4) / np.var(r) ** 2
    assert kurt > 5
    ticks = list(feed.ticks(500, 5_000))
    assert [t.ts_ms for t in ticks] == [1000, 2000, 3000, 4000, 5000]
    with pytest.raises(LookupError):
        feed.price_at(-1)


def test_synthetic_single_regime_no_jumps_is_plain_gbm():
    p = SyntheticParams(start_price=P("100"), tick=P("0.0001"), regimes=(Regime(0.8),), jump_rate=0.0)
    path = SyntheticFeed("X", 1, p).path(50_000).astype(np.float64)
    r = np.diff(np.log(path))
    ann = r.std() * np.sqrt(365 * 86_400)
    assert 0.7 < ann < 0.9
    with pytest.raises(ValueError):
        SyntheticParams(start_price=0, tick=1)


# ------------------------------------------------------------------ replay helpers


def test_kline_ticks_on_the_crash_bar(xrp):
    ks = [k for k in read_klines(xrp / "XRP_USDT_USDT-8h-mark.csv", kind="trade")
          if ms("2021-12-03T16:00:00") <= k.ts_ms <= ms("2021-12-04T08:00:00")]
    ticks = list(kline_ticks(ks))
    assert len(ticks) == 4 * len(ks) == 12
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(ticks, ticks[1:]))
    crash = ticks[4:8]  # down candle: open, high, low, close
    assert [t.price for t in crash] == [P("0.9212"), P("0.9246"), P("0.5764"), P("0.7497")]
    assert crash[0].ts_ms == ms("2021-12-04T00:00:00") and crash[3].ts_ms == ms("2021-12-04T07:59:59.999")
    with pytest.raises(ValueError):
        list(kline_ticks([Kline("X", "trade", 0, None, 1, 1, 1, 1)]))


def test_merge_by_time(xrp, ticks_dir):
    funding = read_funding_rates(xrp / "XRP_USDT_USDT-8h-funding_rate.csv")
    marks = read_klines(xrp / "XRP_USDT_USDT-1h-mark.csv")
    merged = list(merge(marks, funding))
    assert len(merged) == 191
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(merged, merged[1:]))
    a = OperatorFeed("A", P("1")).ticks(0, 10, 5)
    b = OperatorFeed("B", P("2")).ticks(0, 10, 5)
    assert [t.symbol for t in merge(a, b)] == ["A", "B"] * 3
