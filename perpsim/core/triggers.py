"""Conditional (algo) order triggering for one symbol: a pure, indexed component.

Rules (Binance USD-M New Order / New Algo Order docs, developers.binance.com USD-M):

* ``workingType`` picks the price an order watches: ``MARK_PRICE`` or ``CONTRACT_PRICE``
  (the last trade price; Binance's default).
* STOP / STOP_MARKET: BUY fires when price >= stopPrice, SELL when price <= stopPrice.
* TAKE_PROFIT / TAKE_PROFIT_MARKET: BUY fires when price <= stopPrice, SELL when >= stopPrice.
* TRAILING_STOP_MARKET: "BUY: the lowest price after order placed <= activationPrice, and the
  latest price >= the lowest price * (1 + callbackRate); SELL: the highest price after order
  placed >= activationPrice, and the latest price <= the highest price * (1 - callbackRate)".
  Without an activation price the order is active at once, its extreme starting at the
  latest price. Because every price before activation is on the far side of the activation
  price, "extreme since placement" equals "extreme since activation"; the order can therefore
  not fire on the update that activates it.
* -2021 "Order would immediately trigger." (``would_immediately_trigger``): the stop
  condition already holds at the current price; for trailing orders, "BUY: activationPrice
  should be smaller than latest price. SELL: activationPrice should be larger than latest
  price."
* priceProtect: a protected order fires only if |MARK - CONTRACT| / MARK <= the symbol's
  ``triggerProtect``; otherwise it stays pending and is re-checked on later updates. Binance
  does not publish the denominator (New-Order doc, priceProtect / triggerProtect); we choose the mark price,
  the reference the rest of Binance's price bands use.

Units: prices are ints in any one scale (ticks or 1e-8 units, the caller's choice); rates
(``callback_rate``, ``trigger_protect``) are ints in ``fixed.SCALE`` units (1% = 1_000_000).
All comparisons are exact integer cross-multiplications, with no rounding.

Index: per working type, a min-heap of "fires on a rise" stops (STOP BUY, TAKE_PROFIT SELL)
and a max-heap of "fires on a fall" stops (STOP SELL, TAKE_PROFIT BUY), so an update pops
only what fires. Trailing orders wait for activation in the same kind of heaps; once active
they sit in cohorts that share one extreme (all orders whose extreme a new high or low
overtakes get the same extreme), each cohort a heap by callback rate, so an update costs the
number of live cohorts plus what fires. Cancels are lazy.
"""
from __future__ import annotations

from heapq import heapify, heappop, heappush

from perpsim.core.errors import ILLEGAL_PARAM, VenueError
from perpsim.core.fixed import SCALE

BUY = 1
SELL = -1

STOP = "STOP"
STOP_MARKET = "STOP_MARKET"
TAKE_PROFIT = "TAKE_PROFIT"
TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"
ALGO_TYPES = (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET)

MARK_PRICE = "MARK_PRICE"
CONTRACT_PRICE = "CONTRACT_PRICE"
WORKING_TYPES = (MARK_PRICE, CONTRACT_PRICE)

#: callbackRate bounds, 0.1% .. 5% (New-Order doc, TRAILING_STOP_MARKET), in fixed.SCALE units.
MIN_CALLBACK_RATE = SCALE // 1000
MAX_CALLBACK_RATE = 5 * SCALE // 100

WOULD_TRIGGER = -2021
WOULD_TRIGGER_MSG = "Order would immediately trigger."

_STOPS = (STOP, STOP_MARKET)
_TPS = (TAKE_PROFIT, TAKE_PROFIT_MARKET)


class AlgoOrder:
    """A conditional order waiting for its trigger. ``payload`` is opaque to this module.

    ``stop_price`` for STOP/TAKE_PROFIT kinds; ``activation_price`` (optional) and
    ``callback_rate`` for trailing orders. ``extreme`` is the trailing order's highest (SELL)
    or lowest (BUY) price since activation, None before. ``triggered_at`` is set when it fires.
    """
    __slots__ = ("algo_id", "owner", "side", "order_type", "stop_price", "working_type",
                 "price_protect", "activation_price", "callback_rate", "payload", "seq",
                 "triggered_at", "_cohort")

    def __init__(self, algo_id: int, owner: int, side: int, order_type: str,
                 stop_price: int | None = None, working_type: str = CONTRACT_PRICE,
                 price_protect: bool = False, activation_price: int | None = None,
                 callback_rate: int | None = None, payload: object = None):
        self.algo_id = algo_id
        self.owner = owner
        self.side = side
        self.order_type = order_type
        self.stop_price = stop_price
        self.working_type = working_type
        self.price_protect = price_protect
        self.activation_price = activation_price
        self.callback_rate = callback_rate
        self.payload = payload
        self.seq = 0
        self.triggered_at: int | None = None
        self._cohort: int | None = None     # the extreme of its cohort, once active

    @property
    def extreme(self) -> int | None:
        return self._cohort

    @property
    def active(self) -> bool:
        """Trailing orders: activated (tracking); other kinds: always."""
        return self.order_type != TRAILING_STOP_MARKET or self._cohort is not None

    def __repr__(self):
        return (f"AlgoOrder(id={self.algo_id}, {self.order_type} "
                f"{'BUY' if self.side == BUY else 'SELL'} stop={self.stop_price} "
                f"act={self.activation_price} cb={self.callback_rate} {self.working_type})")


def _bad(name: str, why: str) -> VenueError:
    return VenueError(ILLEGAL_PARAM, f"Data sent for parameter '{name}' is not valid. {why}")


def rises_to_fire(order: AlgoOrder) -> bool:
    """True for STOP BUY and TAKE_PROFIT SELL (fire on price >= stop), else fires on a fall."""
    return (order.side == BUY) == (order.order_type in _STOPS)


def stop_condition(order: AlgoOrder, price: int) -> bool:
    """The STOP/TAKE_PROFIT condition at ``price`` (Binance New Order, 'Condition orders')."""
    if rises_to_fire(order):
        return price >= order.stop_price
    return price <= order.stop_price


def trailing_fires(side: int, extreme: int, callback_rate: int, price: int) -> bool:
    """SELL: price <= highest * (1 - cb); BUY: price >= lowest * (1 + cb). Exact."""
    if side == SELL:
        return price * SCALE <= extreme * (SCALE - callback_rate)
    return price * SCALE >= extreme * (SCALE + callback_rate)


def protect_ok(mark: int, last: int, trigger_protect: int | None) -> bool:
    """priceProtect: |mark - last| / mark <= triggerProtect (denominator: mark, our choice)."""
    if trigger_protect is None:
        return True
    return abs(mark - last) * SCALE <= trigger_protect * mark


def would_immediately_trigger(order: AlgoOrder, mark: int, last: int) -> bool:
    """Binance -2021 at placement, with the current mark and last prices."""
    price = mark if order.working_type == MARK_PRICE else last
    if order.order_type == TRAILING_STOP_MARKET:
        act = order.activation_price
        if act is None:
            return False
        return act >= price if order.side == BUY else act <= price
    return stop_condition(order, price)


class _Side:
    """The index for one working type."""
    __slots__ = ("up", "down", "act_up", "act_down", "sell_cohorts", "sell_keys",
                 "buy_cohorts", "buy_keys")

    def __init__(self):
        self.up: list = []            # (stop, seq, order): fires when price >= stop
        self.down: list = []          # (-stop, seq, order): fires when price <= stop
        self.act_up: list = []        # trailing SELL waiting for price >= activation
        self.act_down: list = []      # trailing BUY waiting for price <= activation
        self.sell_cohorts: dict[int, list] = {}   # highest -> heap (cb, seq, order)
        self.sell_keys: list = []     # min-heap of highs (to merge those a new high passes)
        self.buy_cohorts: dict[int, list] = {}    # lowest -> heap (cb, seq, order)
        self.buy_keys: list = []      # min-heap of -lows


class TriggerBook:
    """Pending conditional orders of one symbol, indexed by trigger price.

    ``register`` adds an order (raising -2021 if it would fire at once, when prices are
    given), ``cancel`` removes it, ``on_price`` returns the orders that fire, oldest first.
    """

    def __init__(self, trigger_protect: int | None = None):
        self.trigger_protect = trigger_protect
        self._live: dict[int, AlgoOrder] = {}
        self._idx = {MARK_PRICE: _Side(), CONTRACT_PRICE: _Side()}
        self._seq = 0
        self._dead = 0          # canceled entries still in the heaps

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, algo_id: int) -> bool:
        return algo_id in self._live

    def get(self, algo_id: int) -> AlgoOrder | None:
        return self._live.get(algo_id)

    def orders(self, owner: int | None = None) -> list[AlgoOrder]:
        """Pending orders (of ``owner`` if given), oldest first."""
        return sorted((o for o in self._live.values() if owner is None or o.owner == owner),
                      key=lambda o: o.seq)

    def register(self, order: AlgoOrder, mark: int | None = None,
                 last: int | None = None) -> AlgoOrder:
        """Add ``order``. With ``mark`` and ``last``, refuse -2021 if it would fire at once.

        A trailing order without an activation price needs the price it watches (mark or
        last) to start its extreme.
        """
        if order.algo_id in self._live:
            raise _bad("algoId", "duplicate algo id")
        if order.side not in (BUY, SELL):
            raise _bad("side", "BUY or SELL")
        if order.order_type not in ALGO_TYPES:
            raise _bad("type", " | ".join(ALGO_TYPES))
        if order.working_type not in WORKING_TYPES:
            raise _bad("workingType", "MARK_PRICE or CONTRACT_PRICE")
        trailing = order.order_type == TRAILING_STOP_MARKET
        if trailing:
            cb = order.callback_rate
            if cb.__class__ is not int or not MIN_CALLBACK_RATE <= cb <= MAX_CALLBACK_RATE:
                raise _bad("callbackRate", "between 0.1% and 5%")
            act = order.activation_price
            if act is not None and (act.__class__ is not int or act <= 0):
                raise _bad("activatePrice", "must be a positive integer")
        else:
            sp = order.stop_price
            if sp.__class__ is not int or sp <= 0:
                raise _bad("triggerPrice", "must be a positive integer")
        price = None
        if mark is not None and last is not None:
            if would_immediately_trigger(order, mark, last):
                raise VenueError(WOULD_TRIGGER, WOULD_TRIGGER_MSG)
            price = mark if order.working_type == MARK_PRICE else last
        if trailing and order.activation_price is None and price is None:
            raise _bad("activatePrice", "needed when no current price is given")
        self._seq += 1
        order.seq = self._seq
        order.triggered_at = None
        order._cohort = None
        self._live[order.algo_id] = order
        ix = self._idx[order.working_type]
        if not trailing:
            if rises_to_fire(order):
                heappush(ix.up, (order.stop_price, order.seq, order))
            else:
                heappush(ix.down, (-order.stop_price, order.seq, order))
        elif order.activation_price is None:
            self._activate(ix, order, price)
        elif order.side == SELL:
            heappush(ix.act_up, (order.activation_price, order.seq, order))
        else:
            heappush(ix.act_down, (-order.activation_price, order.seq, order))
        return order

    def cancel(self, algo_id: int) -> AlgoOrder:
        """Remove a pending order (lazily from the heaps); unknown ids raise -2011."""
        order = self._live.pop(algo_id, None)
        if order is None:
            raise VenueError(-2011, "Unknown order sent.")
        self._dead += 1
        if self._dead > len(self._live) + 64:
            self._rebuild()
        return order

    def on_price(self, source: str, price: int, mark: int, last: int,
                 trigger_protect: int | None = None) -> list[AlgoOrder]:
        """A new ``source`` price (MARK_PRICE or CONTRACT_PRICE): the orders that fire.

        ``mark``/``last`` are both current prices, for priceProtect; ``trigger_protect``
        overrides the book's threshold for this call. Fired orders leave the book, get
        ``triggered_at = price``, and come back oldest first.
        """
        ix = self._idx[source]
        live = self._live
        tp = self.trigger_protect if trigger_protect is None else trigger_protect
        ok = protect_ok(mark, last, tp)
        fired: list[AlgoOrder] = []
        held: list = []

        def take(entry, heap):
            o = entry[2]
            if live.get(o.algo_id) is not o:
                return                      # canceled (lazy)
            if o.price_protect and not ok:
                held.append((heap, entry))  # stays pending
                return
            del live[o.algo_id]
            o.triggered_at = price
            fired.append(o)

        up, down = ix.up, ix.down
        while up and up[0][0] <= price:
            take(heappop(up), up)
        while down and -down[0][0] >= price:
            take(heappop(down), down)
        # trailing: activation, then new extremes, then callbacks
        act_up, act_down = ix.act_up, ix.act_down
        while act_up and act_up[0][0] <= price:
            o = heappop(act_up)[2]
            if live.get(o.algo_id) is o:
                self._activate(ix, o, price)
        while act_down and -act_down[0][0] >= price:
            o = heappop(act_down)[2]
            if live.get(o.algo_id) is o:
                self._activate(ix, o, price)
        self._merge(ix.sell_cohorts, ix.sell_keys, price, 1)
        self._merge(ix.buy_cohorts, ix.buy_keys, price, -1)
        held_stops = held[:]
        for heap, entry in held_stops:
            heappush(heap, entry)
        for cohorts, side in ((ix.sell_cohorts, SELL), (ix.buy_cohorts, BUY)):
            empty = []
            for ext, heap in cohorts.items():
                held.clear()
                while heap:
                    entry = heap[0]
                    o = entry[2]
                    if live.get(o.algo_id) is not o or o._cohort != ext:
                        heappop(heap)
                        continue
                    if not trailing_fires(side, ext, entry[0], price):
                        break               # smallest callback first: the rest cannot fire
                    take(heappop(heap), heap)
                for _, entry in held:
                    heappush(heap, entry)
                if not heap:
                    empty.append(ext)
            for ext in empty:
                del cohorts[ext]
        fired.sort(key=lambda o: o.seq)
        return fired

    def to_state(self) -> dict:
        """Pending orders and counters as data (``payload`` must be JSON-safe for a journal)."""
        return {"trigger_protect": self.trigger_protect, "seq": self._seq,
                "orders": [[o.algo_id, o.owner, o.side, o.order_type, o.stop_price,
                            o.working_type, o.price_protect, o.activation_price,
                            o.callback_rate, o.payload, o.seq, o._cohort]
                           for o in self.orders()]}

    @classmethod
    def from_state(cls, state: dict) -> "TriggerBook":
        """Rebuild from ``to_state()``, trailing extremes included."""
        tb = cls(state["trigger_protect"])
        tb._seq = state["seq"]
        for (aid, owner, side, otype, stop, wt, pp, act, cb, payload, seq,
             cohort) in state["orders"]:
            o = AlgoOrder(aid, owner, side, otype, stop, wt, pp, act, cb, payload)
            o.seq = seq
            o._cohort = cohort
            tb._live[aid] = o
        tb._rebuild()
        return tb

    # --- internals ------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """Drop canceled entries: re-index every live order, keeping trailing extremes."""
        self._dead = 0
        self._idx = {MARK_PRICE: _Side(), CONTRACT_PRICE: _Side()}
        for o in sorted(self._live.values(), key=lambda o: o.seq):
            ix = self._idx[o.working_type]
            if o.order_type != TRAILING_STOP_MARKET:
                if rises_to_fire(o):
                    heappush(ix.up, (o.stop_price, o.seq, o))
                else:
                    heappush(ix.down, (-o.stop_price, o.seq, o))
            elif o._cohort is not None:
                self._activate(ix, o, o._cohort)
            elif o.side == SELL:
                heappush(ix.act_up, (o.activation_price, o.seq, o))
            else:
                heappush(ix.act_down, (-o.activation_price, o.seq, o))

    @staticmethod
    def _activate(ix: _Side, o: AlgoOrder, price: int) -> None:
        if o.side == SELL:
            cohorts, keys, key = ix.sell_cohorts, ix.sell_keys, price
        else:
            cohorts, keys, key = ix.buy_cohorts, ix.buy_keys, -price
        heap = cohorts.get(price)
        if heap is None:
            cohorts[price] = heap = []
            heappush(keys, key)
        o._cohort = price
        heappush(heap, (o.callback_rate, o.seq, o))

    def _merge(self, cohorts: dict, keys: list, price: int, sign: int) -> None:
        """Cohorts whose extreme ``price`` overtakes take ``price`` as their extreme.

        SELL cohorts (sign 1) hold highs: those below ``price`` merge. BUY cohorts (sign -1)
        hold lows, keyed negated: those above ``price`` merge.
        """
        target = sign * price
        moved = None
        while keys and keys[0] < target:
            ext = sign * heappop(keys)
            heap = cohorts.pop(ext, None)
            if heap is None:
                continue                    # stale key
            if moved is None:
                moved = heap
            else:
                moved.extend(heap)
        if moved is None:
            return
        into = cohorts.get(price)
        if into is None:
            cohorts[price] = into = []
            heappush(keys, target)
        live = self._live
        entries = [e for e in moved if live.get(e[2].algo_id) is e[2]]
        for e in entries:
            e[2]._cohort = price
        into.extend(entries)
        heapify(into)
