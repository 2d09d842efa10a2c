"""The order layer: every Binance USD-M order type end to end, from request to settlement.

``OrderManager`` owns one ``OrderBook`` (book.py) and one ``TriggerBook`` (triggers.py) per
symbol, the registry of orders and algo (conditional) orders, and the market data their trades
make (marketdata.py). It validates a request with Binance's filters and codes, checks the cost
to open with the clearing house, matches it, settles every fill on both sides through
``ClearingHouse.apply_fill`` (maker flag, commission at each account's rate), keeps the margin
resting orders reserve (``Account.order_margin``) and the count of open orders
(``Account.open_orders``), fires conditional orders on mark and last prices, and returns what
happened as immutable events (events.py). A refused request raises ``VenueError`` before
anything changes.

The order layer, by job: order_records.py (Binance's enumerations, ``Order``, ``Algo``),
order_filters.py (the filters and their codes), reserved_margin.py (what resting orders reserve),
algo_orders.py (conditional orders and their triggering), liquidation_orders.py (the orders of a
liquidation and of ADL), and this module: the manager, new orders, the book's events, reduce-only
orders, cancel and modify, with one after-match sequence around every book call (``_match``).

Rules and sources (developers.binance.com, USD-M: New-Order, Modify-Order, Exchange-Information and
common-definition (filters), Error-Code):

* Filters, checked in this order: PRICE_FILTER (-4001 price <= 0, -4013 below minPrice, -4002
  above maxPrice, -4014 tick), LOT_SIZE / MARKET_LOT_SIZE for MARKET (-4003 qty <= 0, -4004 below
  minQty, -4005 above maxQty, -4023 step), PERCENT_PRICE against the mark (BUY price <= mark x
  multiplierUp else -4016; SELL price >= mark x multiplierDown else -4024), MIN_NOTIONAL
  (price x qty, the mark for MARKET; -4164 unless reduce-only), MAX_NUM_ORDERS (-2025) and
  MAX_NUM_ALGO_ORDERS (-4045), per account and symbol.
* marketTakeBound: a MARKET order fills no further than mark x (1 +/- bound) (rounded to the
  tick inward) and its rest expires; if the best opposite price is already beyond it the order
  is refused with -4131.
* reduceOnly (one-way mode only, -1106 in hedge mode): -2022 if there is nothing left to
  reduce; its quantity is capped at what is left: the position minus the reduce-only orders
  already resting on that side. In hedge mode a closing order (SELL LONG, BUY SHORT) larger
  than what is left is refused with -2022. When a position shrinks, resting reduce-only and
  closing orders shrink with it, newest first (the oldest keep their quantity), and expire
  at zero; before every match they are re-capped, in case a position changed outside the book
  (ADL, insurance takeover), so none fills beyond the position it closes.
* The pre-trade check is ``ClearingHouse.check_order_cost``: cost to open (IM at the order
  price + open loss against the mark) of the opening part within the available balance
  (-2019) and the position + order within the bracket cap at the leverage (-2027). A MARKET
  order's price for this is the best opposite price (within the bound), else the mark.
* Reserved margin (``Account.order_margin[symbol]``), per position side: Binance's netting
  rule ``max(|P + B|, |P - A|) / L - |P| / L`` with P the position notional at the mark and B,
  A the resting BUY and SELL orders' open notional at their prices (docs/choices.md "Orders").
* Time in force GTC / IOC / FOK / GTX and self-trade prevention are the book's (book.py);
  a GTX order that would take is refused with -5022, a FOK order that cannot fill in full
  with -5021 (both before anything changes). Default STP mode NONE.
* Conditional orders (POST /fapi/v1/algoOrder; -4120 on /fapi/v1/order): STOP, STOP_MARKET,
  TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET on MARK_PRICE or CONTRACT_PRICE, -2021
  if it would trigger at once, priceProtect. A fired order enters the book as LIMIT (STOP,
  TAKE_PROFIT) or MARKET with every check of a new order; if refused, the algo order is
  REJECTED with the reason. closePosition (STOP_MARKET / TAKE_PROFIT_MARKET) closes the whole
  position when it fires. CONTRACT_PRICE orders watch the last trade price of each order's
  matching, so a cascade of stops is processed within the command, oldest first.
* Modify (PUT /fapi/v1/order): LIMIT only (-5025), same side; the book re-queues the order.
"""
from __future__ import annotations

from collections import deque

from . import book as B
from . import errors as E
from .book import OrderBook
from .clearing import BUY, SELL, ClearingHouse
from .errors import VenueError
from .fixed import mul
from .margin import notional
from .marketdata import MarketData
from .positions import LONG, SHORT
from .triggers import ALGO_TYPES, TriggerBook
from .order_records import (A_FINISHED, A_TRIGGERED, Algo, CANCELED, DEFAULT_STP, EXPIRED, EXPIRED_IN_MATCH,
                            FILLED, LIMIT, LIQUIDATION, MARKET, Order, PARTIALLY_FILLED, PRUNE_AFTER_MS, STP_MODES,
                            TIFS, X_AMENDMENT, X_CALCULATED, X_CANCELED, X_EXPIRED, X_NEW, X_TRADE, _SIDE_INT)
from .order_filters import (FOK_REJECT, INVALID_SIDE, INVALID_STP, INVALID_TIF, INVALID_TYPE, LIMIT_ONLY,
                            MARKET_REJECT, MAX_OPEN_ORDERS, NO_SUCH_ORDER, OrderFilters, REDUCE_ONLY_REJECT,
                            UNKNOWN_ORDER, USE_ALGO, _err, _is_int, _not_required)
from .reserved_margin import ReservedMargin
from .liquidation_orders import LiquidationOrders
from .algo_orders import AlgoOrders
from .events import AlgoUpdate, BookTicker, DepthUpdate, OrderUpdate


# --- the manager -----------------------------------------------------------------------------

class OrderManager(OrderFilters, ReservedMargin, LiquidationOrders, AlgoOrders):
    """Orders, books, triggers and market data of one venue (see the module docstring)."""

    def __init__(self, clearing: ClearingHouse):
        self.clearing = clearing
        self.books: dict[str, OrderBook] = {}
        self.triggers: dict[str, TriggerBook] = {}
        self.market: dict[str, MarketData] = {}
        self.orders: dict[int, Order] = {}
        self.algos: dict[int, Algo] = {}
        self.next_order_id = 0          # last orderId given (one counter for every symbol)
        self.next_algo_id = 0
        # open orders by symbol -> account -> {orderId: Order} (resting in the book)
        self.resting: dict[str, dict[int, dict[int, Order]]] = {}
        # open algo orders by symbol -> account -> {algoId: Algo}
        self.open_algos: dict[str, dict[int, dict[int, Algo]]] = {}
        self.client_ids: dict[tuple[int, str], int] = {}        # (account, clientOrderId) -> open orderId
        self.client_algo_ids: dict[tuple[int, str], int] = {}   # (account, clientAlgoId) -> open algoId
        # reserve sums: (symbol, account) -> {positionSide: [BUY open qty x price, SELL ...]} (unscaled)
        self._sums: dict[tuple[str, int], dict[str, list[int]]] = {}
        self._n_closing: dict[tuple[str, int], int] = {}        # resting reduce-only/closing orders
        self._prunable: deque = deque()     # (update time, orderId) of CANCELED/EXPIRED orders without fills

    # ------------------------------------------------------------------ per-symbol state
    def book(self, symbol: str) -> OrderBook:
        bk = self.books.get(symbol)
        if bk is None:
            bk = self.books[symbol] = OrderBook(symbol)
        return bk

    def trigger_book(self, symbol: str) -> TriggerBook:
        tb = self.triggers.get(symbol)
        if tb is None:
            tb = self.triggers[symbol] = TriggerBook(self.clearing.instruments[symbol].trigger_protect)
        return tb

    def market_data(self, symbol: str) -> MarketData:
        md = self.market.get(symbol)
        if md is None:
            md = self.market[symbol] = MarketData(symbol)
        return md

    def last_price(self, symbol: str) -> int:
        md = self.market.get(symbol)
        return md.last_price if md is not None else 0

    def book_ticker(self, symbol: str, now: int = 0) -> BookTicker:
        bk = self.book(symbol)
        bb, ba = bk.best_bid(), bk.best_ask()
        return BookTicker(symbol, bb or 0, bk.depth(B.BUY, bb) if bb else 0, ba or 0,
                          bk.depth(B.SELL, ba) if ba else 0, bk.update_id, now)

    # ------------------------------------------------------------------ lookups
    def find(self, account_id: int, symbol: str, order_id: int | None = None,
             client_order_id: str | None = None) -> Order:
        """An order of this account and symbol by orderId or (open) origClientOrderId; -2013."""
        o = None
        if order_id is not None:
            o = self.orders.get(order_id) if _is_int(order_id) else None
        elif client_order_id is not None:
            oid = self.client_ids.get((account_id, client_order_id))
            o = self.orders.get(oid) if oid is not None else None
            if o is None:   # a closed order: the newest with that id
                for cand in reversed(self.orders.values()):
                    if cand.account_id == account_id and cand.client_order_id == client_order_id:
                        o = cand
                        break
        else:
            raise VenueError(E.BAD_PARAM,
                             "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
        if o is None or o.account_id != account_id or o.symbol != symbol:
            raise _err(NO_SUCH_ORDER)
        return o

    def find_algo(self, account_id: int, algo_id: int | None = None, client_algo_id: str | None = None) -> Algo:
        a = None
        if algo_id is not None:
            a = self.algos.get(algo_id) if _is_int(algo_id) else None
        elif client_algo_id is not None:
            aid = self.client_algo_ids.get((account_id, client_algo_id))
            a = self.algos.get(aid) if aid is not None else None
            if a is None:
                for cand in reversed(self.algos.values()):
                    if cand.account_id == account_id and cand.client_algo_id == client_algo_id:
                        a = cand
                        break
        else:
            raise VenueError(E.BAD_PARAM, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        if a is None or a.account_id != account_id:
            raise _err(NO_SUCH_ORDER)
        return a

    def open_orders(self, account_id: int, symbol: str | None = None) -> list[Order]:
        out = []
        for sym in sorted(self.resting) if symbol is None else (symbol,):
            out += self.resting.get(sym, {}).get(account_id, {}).values()
        return sorted(out, key=lambda o: o.order_id)

    def open_algo_orders(self, account_id: int, symbol: str | None = None) -> list[Algo]:
        out = []
        for sym in sorted(self.open_algos) if symbol is None else (symbol,):
            out += self.open_algos.get(sym, {}).get(account_id, {}).values()
        return sorted(out, key=lambda a: a.algo_id)
    def all_orders(self, account_id: int, symbol: str, order_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 500) -> list[Order]:
        """GET /fapi/v1/allOrders: the account's orders in ``symbol`` with orderId >= ``order_id``
        (else the newest), created within [start_time, end_time], oldest first, at most ``limit``."""
        out = [o for o in self.orders.values()
               if o.account_id == account_id and o.symbol == symbol
               and (order_id is None or o.order_id >= order_id)
               and (start_time is None or o.time >= start_time) and (end_time is None or o.time <= end_time)]
        return out[:limit] if order_id is not None else out[-limit:]

    def prune(self, now: int) -> None:
        """Forget CANCELED/EXPIRED orders without fills 3 days after they closed (Binance: GET
        /fapi/v1/order no longer finds them), so the registry stays bounded."""
        dq = self._prunable
        horizon = now - PRUNE_AFTER_MS
        while dq and dq[0][0] < horizon:
            _, oid = dq.popleft()
            o = self.orders.get(oid)
            if o is not None and not o.is_open and not o.executed:
                del self.orders[oid]

    # ------------------------------------------------------------------ new orders
    def place(self, account_id: int, symbol: str, side: str, type: str, quantity: int | None = None,
              price: int | None = None, time_in_force: str | None = None, reduce_only: bool = False,
              position_side: str | None = None, client_order_id: str | None = None,
              stp_mode: str | None = None, now: int = 0) -> tuple[dict, list]:
        """POST /fapi/v1/order for LIMIT and MARKET; conditional types answer -4120."""
        if type in ALGO_TYPES:
            raise _err(USE_ALGO)
        order, events = self._submit(account_id, symbol, side, type, quantity, price, time_in_force,
                                     reduce_only, position_side, client_order_id, stp_mode, now)
        return order.view(), events

    def _submit(self, account_id, symbol, side, type_, quantity, price, tif, reduce_only, position_side,
                client_order_id, stp_mode, now, algo: Algo | None = None, close_position: bool = False):
        """Validate, reserve, match, settle; then fire what the new last price triggers."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        if side not in (BUY, SELL):
            raise _err(INVALID_SIDE)
        if type_ not in (LIMIT, MARKET):
            raise _err(INVALID_TYPE)
        if not isinstance(reduce_only, bool):
            raise E.illegal_param("reduceOnly")
        stp = DEFAULT_STP if stp_mode is None else stp_mode
        if stp not in STP_MODES:
            raise _err(INVALID_STP)
        ps = ch.resolve_position_side(acct, side, position_side)
        if reduce_only and acct.hedge_mode:
            raise _not_required("reduceOnly")
        market = type_ == MARKET
        if market:
            if tif is not None and algo is None:
                raise VenueError(-1114, "TimeInForce parameter sent when not required.")
            if price is not None:
                raise _not_required("price")
            tif = "GTC"
        else:
            if tif is None:
                raise E.bad_param("timeInForce")
            if tif not in TIFS:
                raise _err(INVALID_TIF)
            price = self._check_price(ins, price)
        qty = self._check_qty(ins, quantity, market)
        closing = reduce_only or (ps == LONG and side == SELL) or (ps == SHORT and side == BUY)
        book = self.book(symbol)
        bside = _SIDE_INT[side]
        bound = None
        if market:
            bound = self._market_bound(ins, side)
            best = book.best_ask() if side == BUY else book.best_bid()
            if bound is not None and best is not None and (best > bound if side == BUY else best < bound):
                raise _err(MARKET_REJECT)
            mark = ch.mark(symbol)
            check_price = best if best is not None else (
                (-(-mark // ins.tick_size) * ins.tick_size if side == BUY else mark // ins.tick_size * ins.tick_size)
                if mark else None)
            notional_price = mark or check_price
        else:
            self._check_percent_price(ins, side, price)
            check_price = notional_price = price
        if closing:
            room = self._room(acct, symbol, ps, side)
            if room <= 0 or (not reduce_only and qty > room):
                raise _err(REDUCE_ONLY_REJECT)
            if qty > room:
                qty = room          # Binance caps a reduce-only order at the position
        if notional_price:
            self._check_min_notional(ins, qty, notional_price, closing)
        if not market and tif == "GTX" and book.would_take(bside, price):
            raise VenueError(B.POST_ONLY_REJECTED, B.POST_ONLY_MSG)
        if not market and tif == "FOK" and book.fillable(bside, qty, price, account_id, B.STPS[stp]) < qty:
            raise _err(FOK_REJECT)
        if self._count_open(account_id, symbol) >= ins.max_num_orders and (not market and tif == "GTC"
                                                                            or tif == "GTX"):
            raise _err(MAX_OPEN_ORDERS)
        cid = self._client_id(account_id, client_order_id, self.client_ids, "perpsim-", self.next_order_id + 1)
        if check_price and not closing:
            ch.check_order_cost(account_id, symbol, side, qty, check_price, ps)
        # ---- accepted: from here on nothing raises
        if self._prunable and self._prunable[0][0] < now - PRUNE_AFTER_MS:
            self.prune(now)
        ch._stored_config(acct, symbol)
        self.next_order_id += 1
        oid = self.next_order_id
        o = Order(oid, symbol, account_id, cid, side, type_, tif, qty, price or 0, reduce_only, closing, ps, stp,
                  now)
        if algo is not None:
            o.orig_type = algo.type
            o.stop_price = algo.trigger_price or 0
            o.working_type = algo.working_type
            o.price_protect = algo.price_protect
            o.close_position = close_position
            o.activate_price = algo.activate_price or 0
            o.callback_rate = algo.callback_rate or 0
            o.algo_id = algo.algo_id
        self.orders[oid] = o
        self.client_ids[(account_id, cid)] = oid
        events: list = [self._update(o, X_NEW, now)]

        def place(touched: set) -> None:
            bev = book.place(oid, account_id, bside, qty, None if market else price, B.TIFS[tif], B.STPS[stp],
                             closing, bound)
            self._process(symbol, bev, o, now, events, touched)
        self._match(symbol, account_id, now, events, place)
        return o, events

    def _match(self, symbol: str, account_id: int, now: int, events: list, book_call) -> None:
        """The one sequence around every book call (a new order, a modify, a liquidation order):
        re-cap closing orders at their positions, run the call and settle what it did, then shrink
        reduce-only orders, refresh reserved margin, publish aggTrades and depth, and fire the
        conditional orders the new last price triggers."""
        touched = {account_id}
        events += self._sweep_reduce_only(symbol, now, touched)
        md = self.market_data(symbol)
        agg0, last0 = md.agg_id, md.last_price
        book_call(touched)
        md.end_taker()
        self._after_match(symbol, touched, now, events, agg0)
        if md.last_price != last0:
            events += self._cascade(symbol, now)

    # ------------------------------------------------------------------ book events
    def _process(self, symbol: str, bev: list, taker: Order | None, now: int, events: list, touched: set) -> None:
        """Settle fills and record expiries/rests from one book call."""
        ch = self.clearing
        md = self.market_data(symbol)
        orders = self.orders
        for ev in bev:
            cls = ev.__class__
            if cls is B.Fill:
                m = orders[ev.maker_id]
                t = orders[ev.taker_id]
                px, q = ev.price, ev.qty
                tid = ev.trade_id
                mev = ch.apply_fill(m.account_id, symbol, m.side, q, px, True, m.position_side, now,
                                    trade_id=tid, order_id=m.order_id)
                if t.type == LIQUIDATION:
                    tev = ch.apply_fill(t.account_id, symbol, t.side, q, px, False, t.position_side, now,
                                        fee=False, execution=LIQUIDATION, release_isolated=False, trade_id=tid,
                                        order_id=t.order_id)
                else:
                    tev = ch.apply_fill(t.account_id, symbol, t.side, q, px, False, t.position_side, now,
                                        trade_id=tid, order_id=t.order_id)
                events += mev
                events += tev
                touched.add(m.account_id)
                quote = mul(q, px)
                for o, sev, rem, is_maker in ((m, mev[-2], ev.maker_remaining, True),
                                              (t, tev[-2], ev.taker_remaining, False)):
                    counted = o._ck
                    if counted:
                        self._unreserve(o)
                    o.executed += q
                    o.cum_quote += quote
                    o.update_time = now
                    if rem == 0 and o.executed == o.qty:
                        o.status = FILLED
                        self._close(o, events, now)
                    else:
                        o.status = PARTIALLY_FILLED
                        if counted:
                            self._reserve(o)
                    x = X_CALCULATED if o.type == LIQUIDATION and not is_maker else X_TRADE
                    events.append(self._update(o, x, now, q, px, sev.commission, ev.trade_id, is_maker,
                                               sev.realized_pnl, sev.commission_asset))
                events.append(md.on_trade(ev.trade_id, px, q, ev.taker_side == B.BUY, t.order_id, m.order_id, now))
            elif cls is B.OrderExpired:
                o = orders[ev.order_id]
                if o.type == LIQUIDATION:
                    continue    # the waterfall goes on with the rest; finish_liquidation closes the order
                o.status = EXPIRED_IN_MATCH if ev.reason == B.R_STP else EXPIRED
                o.update_time = now
                touched.add(o.account_id)
                self._close(o, events, now)
                events.append(self._update(o, X_EXPIRED, now, expire_reason=ev.reason))
            elif cls is B.OrderRested:
                o = orders[ev.order_id]
                self.resting.setdefault(symbol, {}).setdefault(o.account_id, {})[o.order_id] = o
                self._reserve(o)
            elif cls is B.OrderCanceled:
                o = orders[ev.order_id]
                o.status = CANCELED
                o.update_time = now
                touched.add(o.account_id)
                self._close(o, events, now)
                events.append(self._update(o, X_CANCELED, now))
            elif cls is B.OrderRejected:    # only from a modify's re-entry; never expected
                raise ev.to_error()

    def _close(self, o: Order, events: list | None = None, now: int = 0) -> None:
        """Forget a closed order in the open-order indexes; a triggered algo order whose order is
        done becomes FINISHED (algoStatus)."""
        self._unreserve(o)
        if not o.executed and o.status != FILLED:
            self._prunable.append((o.update_time, o.order_id))
        if o.algo_id and events is not None:
            a = self.algos.get(o.algo_id)
            if a is not None and a.status == A_TRIGGERED:
                a.status = A_FINISHED
                a.update_time = now
                events.append(self._algo_update(a, now, o))
        by_acct = self.resting.get(o.symbol)
        if by_acct is not None:
            mine = by_acct.get(o.account_id)
            if mine is not None and mine.pop(o.order_id, None) is not None and not mine:
                del by_acct[o.account_id]
        key = (o.account_id, o.client_order_id)
        if self.client_ids.get(key) == o.order_id:
            del self.client_ids[key]

    def _after_match(self, symbol: str, touched: set, now: int, events: list, agg0: int | None = None) -> None:
        """Shrink reduce-only orders, refresh reserved margin and counts, publish aggTrades and depth."""
        for acct_id in sorted(touched):
            events += self._enforce_reduce_only(acct_id, symbol, now)
        for acct_id in sorted(touched):
            self.refresh(acct_id, symbol)
        md = self.market.get(symbol)
        if agg0 is not None and md is not None and md.agg_id != agg0:
            events += md.aggs_since(agg0)
        diff = self.book(symbol).drain_depth()
        if diff is not None:
            events.append(DepthUpdate(symbol, diff.U, diff.u, diff.pu, diff.bids, diff.asks, now))

    def _sweep_reduce_only(self, symbol: str, now: int, touched: set) -> list:
        """Before matching: cap every account's resting reduce-only/closing orders at its position,
        in case a position changed outside the book (ADL, insurance takeover, a direct trade), so
        that no such order can fill beyond the position it closes. Accounts changed go in
        ``touched`` (their reserve is refreshed after the match)."""
        events: list = []
        for key in [k for k in self._n_closing if k[0] == symbol]:
            evs = self._enforce_reduce_only(key[1], symbol, now)
            if evs:
                touched.add(key[1])
                events += evs
        return events

    def _enforce_reduce_only(self, account_id: int, symbol: str, now: int) -> list:
        """Cap resting reduce-only/closing orders at the position, oldest first; expire at zero."""
        if not self._n_closing.get((symbol, account_id)):
            return []
        mine = self.resting[symbol][account_id]
        closing = [o for o in mine.values() if o.closing]
        if not closing:
            return []
        acct = self.clearing.accounts[account_id]
        events: list = []
        book = self.book(symbol)
        groups: dict[tuple[str, str], list[Order]] = {}
        for o in sorted(closing, key=lambda o: o.order_id):
            groups.setdefault((o.position_side, o.side), []).append(o)
        for (ps, side), group in groups.items():
            pos = acct.positions.get((symbol, ps))
            q = pos.qty if pos is not None else 0
            room = max(0, q if side == SELL else -q)
            for o in group:
                rem = o.qty - o.executed
                if rem <= room:
                    room -= rem
                    continue
                if room == 0:
                    book.cancel(o.order_id)
                    o.status = EXPIRED
                    o.update_time = now
                    self._close(o, events, now)
                    events.append(self._update(o, X_EXPIRED, now, expire_reason="REDUCE_ONLY"))
                    continue
                book.modify(o.order_id, o.price, o.executed + room)
                o.qty = o.executed + room
                self._reserve(o)
                o.update_time = now
                events.append(self._update(o, X_AMENDMENT, now))
                room = 0
        return events
    # ------------------------------------------------------------------ cancel / modify
    def cancel(self, account_id: int, symbol: str, order_id: int | None = None,
               client_order_id: str | None = None, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/order: -2011 for an unknown or closed order."""
        self.clearing.account(account_id)
        try:
            o = self.find(account_id, symbol, order_id, client_order_id)
        except VenueError as e:
            if e.code == NO_SUCH_ORDER[0]:
                raise _err(UNKNOWN_ORDER) from None
            raise
        if not o.is_open:
            raise _err(UNKNOWN_ORDER)
        bev = self.book(symbol).cancel(o.order_id)
        events: list = []
        self._process(symbol, bev, None, now, events, {account_id})
        self._after_match(symbol, {account_id}, now, events)
        return o.view(), events

    def cancel_all(self, account_id: int, symbol: str, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/allOpenOrders (regular orders; algo orders have their own endpoint)."""
        self.clearing.account(account_id)
        if symbol not in self.clearing.instruments:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        events: list = []
        if self.resting.get(symbol, {}).get(account_id):
            bev = self.book(symbol).cancel_all(account_id)
            self._process(symbol, bev, None, now, events, {account_id})
            self._after_match(symbol, {account_id}, now, events)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}, events

    def modify(self, account_id: int, symbol: str, side: str, quantity: int, price: int,
               order_id: int | None = None, client_order_id: str | None = None, now: int = 0) -> tuple[dict, list]:
        """PUT /fapi/v1/order: a resting LIMIT order's price and/or quantity (re-queued by the book)."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        o = self.find(account_id, symbol, order_id, client_order_id)
        if o.type != LIMIT:
            raise _err(LIMIT_ONLY)
        if not o.is_open:
            raise VenueError(-2013, "Order does not exist.")
        if side != o.side:
            raise E.illegal_param("side")
        price = self._check_price(ins, price)
        qty = self._check_qty(ins, quantity, False)
        if price == o.price and qty == o.qty:
            raise VenueError(B.NO_NEED_TO_MODIFY, "No need to modify the order.")
        self._check_percent_price(ins, o.side, price)
        cancels = qty <= o.executed or (o.tif == "GTX" and self.book(symbol).would_take(_SIDE_INT[o.side], price))
        if not cancels:
            self._check_min_notional(ins, qty, price, o.closing, code=-5029)
            if o.closing and qty - o.executed > self._room(acct, symbol, o.position_side, o.side, exclude=o.order_id):
                raise _err(REDUCE_ONLY_REJECT)
            if not o.closing:
                before = acct.order_margin.get(symbol, 0)
                saved = (o.qty, o.price)
                o.qty, o.price = qty, price
                try:
                    after = self.required_margin(account_id, symbol, fresh=True)
                finally:
                    o.qty, o.price = saved
                if after > before:
                    avail = ch.cross_figures(account_id, ins.margin_asset).available_balance
                    if after - before > avail:
                        raise VenueError(E.MARGIN_INSUFFICIENT, "Margin is insufficient.")
                pos = acct.positions.get((symbol, o.position_side))
                q = pos.qty if pos is not None else 0
                new_q = q + (qty - o.executed if o.side == BUY else o.executed - qty)
                mark = ch.mark(symbol) or price
                if notional(new_q, max(mark, price)) > ch.table(symbol).max_notional(ch.config(acct, symbol).leverage):
                    raise VenueError(E.MAX_POSITION, "Exceeded the maximum allowable position at current leverage.")
        # ---- accepted
        book = self.book(symbol)
        events: list = []

        def requeue(touched: set) -> None:
            self._unreserve(o)          # re-counted when it rests again
            bev = book.modify(o.order_id, price, qty)
            if bev and bev[0].__class__ is B.OrderModified:
                o.qty, o.price, o.update_time = qty, price, now
                events.append(self._update(o, X_AMENDMENT, now))
                self._process(symbol, bev[1:], o, now, events, touched)
            else:
                self._process(symbol, bev, None, now, events, touched)
        self._match(symbol, account_id, now, events, requeue)
        return o.view(), events
    # ------------------------------------------------------------------ events
    @staticmethod
    def _update(o: Order, x: str, now: int, last_qty: int = 0, last_price: int = 0, commission: int = 0,
                trade_id: int = 0, maker: bool = False, realized: int = 0, asset: str = "USDT",
                expire_reason: str = "") -> OrderUpdate:
        return OrderUpdate(o.account_id, o.symbol, o.client_order_id, o.side, o.type, o.tif, o.qty, o.price,
                           o.avg_price, o.stop_price, x, o.status, o.order_id, last_qty, o.executed, last_price,
                           asset, commission, now, trade_id, maker, o.reduce_only, o.working_type, o.orig_type,
                           o.position_side, o.close_position, o.activate_price, o.callback_rate, o.price_protect,
                           realized, o.stp, expire_reason, o.cum_quote, now)

    @staticmethod
    def _algo_update(a: Algo, now: int, o: Order | None = None) -> AlgoUpdate:
        return AlgoUpdate(a.account_id, a.symbol, a.algo_id, a.client_algo_id, a.type, a.side, a.position_side,
                          a.tif, a.qty, a.status, a.actual_order_id or 0, o.avg_price if o else 0,
                          o.executed if o else 0, o.type if o else "", a.trigger_price, a.price, a.stp,
                          a.working_type, a.close_position, a.price_protect, a.reduce_only, a.activate_price,
                          a.callback_rate, a.trigger_time or 0, a.reject_reason or "", now)

    # ------------------------------------------------------------------ invariants and hashing
    def check(self) -> None:
        """Invariants (tests): books uncrossed and consistent, quantities conserved, indexes exact,
        reserved margin and open-order counts as recomputed from scratch."""
        for bk in self.books.values():
            bk.check()
        for o in self.orders.values():
            assert 0 <= o.executed <= o.qty, o
            info = self.books[o.symbol].get(o.order_id) if o.symbol in self.books else None
            if o.is_open:
                assert info is not None, o
                assert o.executed + info.remaining == o.qty and info.filled == o.executed, (o, info)
                assert self.resting[o.symbol][o.account_id][o.order_id] is o
                assert self.client_ids[(o.account_id, o.client_order_id)] == o.order_id
            else:
                assert info is None, o
                assert (o.status == FILLED) == (o.executed == o.qty), o
        for sym, by in self.resting.items():
            for acct_id, mine in by.items():
                assert mine, (sym, acct_id)
                for oid, o in mine.items():
                    assert o.is_open and o.order_id == oid
        for acct in self.clearing.accounts.values():
            syms = set(acct.order_margin) | set(self.resting) | set(acct.open_orders) | set(self.open_algos)
            for sym in syms:
                need = self.required_margin(acct.id, sym, fresh=True)
                assert acct.order_margin.get(sym, 0) == need == self.required_margin(acct.id, sym), (acct.id, sym)
                n = self._count_open(acct.id, sym) + self._count_algo(acct.id, sym)
                assert acct.open_orders.get(sym, 0) == n, (acct.id, sym)
        for sym, tb in self.triggers.items():
            live = {o.algo_id for o in tb.orders()}
            opened = {aid for mine in self.open_algos.get(sym, {}).values() for aid in mine}
            assert live == opened, (sym, live, opened)

    def hash_into(self, h) -> None:
        """Feed a canonical dump of the order state into a hashlib object."""
        h.update(f"OM|{self.next_order_id}|{self.next_algo_id}\n".encode())
        for oid in sorted(self.orders):
            o = self.orders[oid]
            h.update(f"O|{oid}|{o.symbol}|{o.account_id}|{o.client_order_id}|{o.side}|{o.type}|{o.tif}|{o.qty}|"
                     f"{o.price}|{o.executed}|{o.cum_quote}|{o.status}|{int(o.closing)}|{o.position_side}|"
                     f"{o.update_time}\n".encode())
        for aid in sorted(self.algos):
            a = self.algos[aid]
            ext = None
            tb = self.triggers.get(a.symbol)
            if tb is not None and aid in tb:
                ext = tb.get(aid).extreme
            h.update(f"G|{aid}|{a.symbol}|{a.account_id}|{a.type}|{a.side}|{a.qty}|{a.price}|{a.trigger_price}|"
                     f"{a.status}|{a.actual_order_id}|{ext}\n".encode())
        for sym in sorted(self.books):
            bk = self.books[sym]
            if not bk.update_id and not bk.trade_id:
                continue        # created by a lookup, never used: the same as absent
            snap = bk.snapshot()
            h.update(f"B|{sym}|{bk.update_id}|{bk.trade_id}|{snap.bids}|{snap.asks}\n".encode())
        for sym in sorted(self.market):
            if self.market[sym].last_time or self.market[sym].trades:
                self.market[sym].hash_into(h)
