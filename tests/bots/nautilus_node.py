"""A nautilus_trader live TradingNode on perpsim (run in the bot's own virtualenv by the bot test).

Binance's USDⓈ-M adapter, unmodified but for base_url_http / base_url_ws: it connects, loads
ETHUSDT-PERP, subscribes to quotes and the user stream, places a limit order far from the market
and cancels it, buys at market, then reports what it sees (one JSON object a line on stdout) until
the position it holds is gone (the test's wick liquidates it) or the time is up.

    python nautilus_node.py BASE_HTTP BASE_WS API_KEY API_SECRET KEY_TYPE SECONDS
"""
import json
import sys
from decimal import Decimal

from nautilus_trader.adapters.binance import BINANCE, BinanceAccountType, BinanceDataClientConfig
from nautilus_trader.adapters.binance import BinanceExecClientConfig, BinanceLiveDataClientFactory
from nautilus_trader.adapters.binance import BinanceLiveExecClientFactory
from nautilus_trader.adapters.binance.common.enums import BinanceKeyType
from nautilus_trader.config import InstrumentProviderConfig, LiveExecEngineConfig, LoggingConfig
from nautilus_trader.config import StrategyConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

IID = "ETHUSDT-PERP.BINANCE"


def emit(kind: str, **kw) -> None:
    print(json.dumps({"event": kind, **kw}, default=str), flush=True)


class ProbeConfig(StrategyConfig, frozen=True):
    instrument_id: str = IID
    seconds: int = 120


class Probe(Strategy):
    def __init__(self, config: ProbeConfig):
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.limit = None
        self.market = None
        self.opened = False
        self.ticks = 0

    def on_start(self):
        ins = self.cache.instrument(self.iid)
        emit("instrument", id=str(ins.id), price_increment=str(ins.price_increment),
             size_increment=str(ins.size_increment))
        self.instrument = ins
        self.subscribe_quote_ticks(self.iid)
        self.clock.set_timer("watch", interval=__import__("datetime").timedelta(milliseconds=500),
                             callback=self.on_watch)
        self.clock.set_timer("deadline", interval=__import__("datetime").timedelta(seconds=self.config.seconds),
                             callback=lambda e: (emit("timeout"), self.stop_node()))

    def stop_node(self):
        emit("done")
        self.stop()

    def on_quote_tick(self, tick):
        self.ticks += 1
        if self.ticks == 1:
            emit("quote", bid=str(tick.bid_price), ask=str(tick.ask_price))
            price = self.instrument.make_price(Decimal(str(tick.bid_price)) * Decimal("0.8"))
            self.limit = self.order_factory.limit(self.iid, OrderSide.BUY, self.instrument.make_qty(Decimal("0.1")),
                                                  price, time_in_force=TimeInForce.GTC)
            self.submit_order(self.limit)

    def on_order_accepted(self, event):
        emit("accepted", client_order_id=str(event.client_order_id), venue_order_id=str(event.venue_order_id))
        if self.limit is not None and event.client_order_id == self.limit.client_order_id:
            self.cancel_order(self.limit)

    def on_order_canceled(self, event):
        emit("canceled", client_order_id=str(event.client_order_id))
        if self.market is None:
            self.market = self.order_factory.market(self.iid, OrderSide.BUY, self.instrument.make_qty(Decimal("0.1")))
            self.submit_order(self.market)

    def on_order_filled(self, event):
        emit("filled", client_order_id=str(event.client_order_id), venue_order_id=str(event.venue_order_id),
             qty=str(event.last_qty), price=str(event.last_px), trade_id=str(event.trade_id))

    def on_order_rejected(self, event):
        emit("rejected", reason=str(event.reason))

    def on_watch(self, event):
        net = self.portfolio.net_position(self.iid)
        if not self.opened and net and net > 0:
            self.opened = True
            emit("position", net=str(net))
        liq = [o for o in self.cache.orders(instrument_id=self.iid)
               if str(o.client_order_id).startswith("autoclose-")]
        if self.opened and liq:
            o = liq[-1]
            emit("liquidation", client_order_id=str(o.client_order_id), venue_order_id=str(o.venue_order_id),
                 status=str(o.status_string()), filled=str(o.filled_qty), net=str(self.portfolio.net_position(self.iid)),
                 fills=[str(f.trade_id) for f in self.cache.order(o.client_order_id).events
                        if type(f).__name__ == "OrderFilled"])
            self.stop_node()


def main():
    base_http, base_ws, key, secret, key_type, seconds = sys.argv[1:7]
    kt = {"HMAC": BinanceKeyType.HMAC, "RSA": BinanceKeyType.RSA, "ED25519": BinanceKeyType.ED25519}[key_type]
    common = dict(api_key=key, api_secret=secret, key_type=kt, account_type=BinanceAccountType.USDT_FUTURES,
                  base_url_http=base_http, base_url_ws=base_ws,
                  instrument_provider=InstrumentProviderConfig(load_ids=frozenset({IID})))
    config = TradingNodeConfig(
        trader_id="PERPSIM-001",
        logging=LoggingConfig(log_level="WARNING"),
        exec_engine=LiveExecEngineConfig(reconciliation=True, reconciliation_lookback_mins=60),
        data_clients={BINANCE: BinanceDataClientConfig(**common)},
        exec_clients={BINANCE: BinanceExecClientConfig(**common)},
        timeout_connection=30.0, timeout_reconciliation=10.0, timeout_portfolio=10.0, timeout_disconnection=5.0,
        timeout_post_stop=2.0,
    )
    node = TradingNode(config=config)
    node.trader.add_strategy(Probe(ProbeConfig(seconds=int(seconds))))
    node.add_data_client_factory(BINANCE, BinanceLiveDataClientFactory)
    node.add_exec_client_factory(BINANCE, BinanceLiveExecClientFactory)
    node.build()
    emit("built")
    try:
        node.run()
    finally:
        node.dispose()


if __name__ == "__main__":
    main()
