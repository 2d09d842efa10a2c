"""One limit order book per symbol: price-time priority matching, nothing else.

The book knows integer ticks and integer quantity units (plain ``int``; the scale is the
caller's business). It does no margin checks and no settlement: it takes commands
(``place``, ``cancel``, ``modify``), changes its ladder and returns what happened as a list of
immutable events. A command that raises ``VenueError`` has changed nothing.

Rules and their Binance sources (USD-M futures, developers.binance.com):

* Price-time priority; a trade happens at the maker's price.
* ``timeInForce`` (New Order, POST /fapi/v1/order): GTC rests; IOC fills what it can and
  expires the rest; FOK fills completely or expires without trading (checked before
  matching); GTX (post-only) is refused with -5022 if it would take.
* MARKET orders never rest; their unfilled remainder expires. ``bound`` is an optional
  protection price (the caller derives it from the symbol's ``marketTakeBound`` and the mark
  price): no fill beyond it, the rest expires with reason ``BOUND``.
* Self-trade prevention (USD-M STP FAQ): decided by the *taker's* mode alone, when the next
  maker in line has the same owner. ``EXPIRE_TAKER`` expires the taker's remainder and leaves
  the maker; ``EXPIRE_MAKER`` expires that maker and keeps matching; ``EXPIRE_BOTH`` does both.
  A FOK order counts only the liquidity it could really take under its STP mode.
* Modify (PUT /fapi/v1/order, LIMIT only): "modified orders will be reordered in the match
  queue", so a modify always loses time priority, even a pure quantity decrease. ``qty`` is
  the new original quantity; if it is not above the executed quantity the order is canceled;
  a GTX order whose new price would take is canceled; otherwise the order is re-entered at its
  new price (it may trade as a taker) keeping its id, executed quantity and STP mode.
  Unchanged price and quantity is refused with -5027.
* Depth ids (Binance's "Diff. Book Depth Streams" and "How to manage a local order book correctly"): every command that changes a level bumps ``update_id`` by
  one. ``drain_depth()`` returns the levels changed since the previous drain as a
  ``DepthDiff(U, u, pu, bids, asks)`` with absolute level totals (0 = level removed), so a
  client can rebuild the book from ``snapshot()`` plus diffs. Drain after every command for
  per-command diffs, or every 100 ms of venue time for Binance's ``@depth@100ms``.

Order ids are assigned by the caller (the clearing core owns Binance's ``orderId``); the book
refuses an id that is already resting. Owners are account ids (int). Sides, TIFs and STP
modes are small ints (``BUY``/``SELL``, ``GTC``..``GTX``, ``STP_NONE``..``EXPIRE_BOTH``); the
``*_NAMES`` / ``SIDES`` / ``TIFS`` / ``STPS`` dicts translate Binance's strings.

Events, in the order things happened: ``Fill`` (one per maker hit, trade ids consecutive),
``OrderExpired`` (reason IOC, FOK, MARKET, BOUND or STP; makers expired by STP too),
``OrderRested``, ``OrderCanceled`` (USER or MODIFY), ``OrderModified``, ``OrderRejected``.
There is no "accepted" event: the caller knows what it sent, and Binance's NEW is implied by
any answer other than ``OrderRejected``. Per order, original qty = filled + expired/canceled
+ still resting, always. Events are ``NamedTuple`` subclasses: immutable, no ``__dict__``,
~100 ns to build against ~700 ns for a frozen slotted dataclass (measured on the B2 machine;
matching emits one per fill). Their equality also compares the event type.

setup.py compiles this file with Cython ("pure Python mode": the C types are in book.pxd
beside it, this file stays plain Python); without the extension it runs as it is, with the
same behaviour. ``COMPILED`` says which is running.
"""
from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import NamedTuple

from perpsim.core.errors import ILLEGAL_PARAM, VenueError

try:
    import cython           # compiled (setup.py): book.pxd adds C types to this file
except ImportError:         # Cython is only needed to build; plain Python runs without it
    class cython:
        compiled = False

COMPILED: bool = cython.compiled    # True when this is the extension built by setup.py

# --- enumerations: plain ints, cheap to compare in the hot path -----------------------------

BUY = 1
SELL = -1
SIDE_NAMES = {BUY: "BUY", SELL: "SELL"}
SIDES = {"BUY": BUY, "SELL": SELL}

LIMIT = 0
MARKET = 1
TYPE_NAMES = {LIMIT: "LIMIT", MARKET: "MARKET"}

GTC = 0
IOC = 1
FOK = 2
GTX = 3
TIF_NAMES = {GTC: "GTC", IOC: "IOC", FOK: "FOK", GTX: "GTX"}
TIFS = {v: k for k, v in TIF_NAMES.items()}

STP_NONE = 0
EXPIRE_TAKER = 1
EXPIRE_MAKER = 2
EXPIRE_BOTH = 3
STP_NAMES = {STP_NONE: "NONE", EXPIRE_TAKER: "EXPIRE_TAKER", EXPIRE_MAKER: "EXPIRE_MAKER",
             EXPIRE_BOTH: "EXPIRE_BOTH"}
STPS = {v: k for k, v in STP_NAMES.items()}

# Binance codes the book produces (USD-M error-code page).
POST_ONLY_REJECTED = -5022   # Post Only order would take (message: POST_ONLY_MSG).
UNKNOWN_ORDER = -2011        # Unknown order sent.
NO_SUCH_ORDER = -2013        # Order does not exist.
NO_NEED_TO_MODIFY = -5027    # No need to modify the order.
POST_ONLY_MSG = ("Due to the order could not be executed as maker, the Post Only order will be "
                 "rejected.")

# Expiry / cancel reasons carried by events.
R_IOC = "IOC"
R_FOK = "FOK"
R_MARKET = "MARKET"          # market order remainder (book exhausted)
R_BOUND = "BOUND"            # market order stopped at its protection price
R_STP = "STP"
R_USER = "USER"
R_MODIFY = "MODIFY"          # canceled by a modify (qty <= executed, or GTX would take)

_NO_LIMIT = 1 << 200         # "no price limit" for a market order without a bound
_MODES = frozenset((1, 2, 3))  # valid non-zero TIF / STP codes


# --- events -----------------------------------------------------------------------------------

class Fill(NamedTuple):
    """One trade at the maker's price. ``*_remaining`` are the open quantities after it."""
    trade_id: int
    price: int
    qty: int
    taker_side: int
    maker_id: int
    taker_id: int
    maker_owner: int
    taker_owner: int
    maker_remaining: int
    taker_remaining: int


class OrderRested(NamedTuple):
    """The order's open remainder now rests in the book."""
    order_id: int
    owner: int
    side: int
    price: int
    remaining: int


class OrderExpired(NamedTuple):
    """``remaining`` was expired (Binance EXPIRED / EXPIRED_IN_MATCH for STP)."""
    order_id: int
    owner: int
    remaining: int
    reason: str


class OrderCanceled(NamedTuple):
    """``remaining`` was canceled (by the owner, or by a modify: reason MODIFY)."""
    order_id: int
    owner: int
    remaining: int
    reason: str


class OrderRejected(NamedTuple):
    """Refused with Binance ``code``/``msg``; the book did not change."""
    order_id: int
    owner: int
    code: int
    msg: str

    def to_error(self) -> VenueError:
        return VenueError(self.code, self.msg)


class OrderModified(NamedTuple):
    """A modify took effect; the order lost its time priority (PUT /fapi/v1/order)."""
    order_id: int
    owner: int
    old_price: int
    price: int
    qty: int
    remaining: int


class DepthDiff(NamedTuple):
    """Binance ``depthUpdate`` ids and changed levels ``{price: total}``, 0 = removed."""
    U: int
    u: int
    pu: int
    bids: dict
    asks: dict


class DepthSnapshot(NamedTuple):
    """GET /fapi/v1/depth: ``lastUpdateId``, bids best first, asks best first."""
    last_update_id: int
    bids: list
    asks: list


EVENT_TYPES = (Fill, OrderRested, OrderExpired, OrderCanceled, OrderRejected,
               OrderModified, DepthDiff, DepthSnapshot)


def _ev_eq(self, other):
    return type(self) is type(other) and tuple.__eq__(self, other)


def _ev_ne(self, other):
    return not _ev_eq(self, other)


def _ev_hash(self):
    return hash((type(self).__name__, tuple.__hash__(self)))


for _cls in EVENT_TYPES:
    _cls.__eq__ = _ev_eq
    _cls.__ne__ = _ev_ne
    _cls.__hash__ = _ev_hash
del _cls


# --- orders -----------------------------------------------------------------------------------

class OrderInfo(NamedTuple):
    """A copy of a resting order's state. ``filled`` = ``qty`` - ``remaining`` while it rests."""
    order_id: int
    owner: int
    side: int
    price: int
    qty: int
    filled: int
    remaining: int
    tif: int
    stp: int
    reduce_only: bool


# A resting order is a plain list (cheapest to build and to index in CPython):
#   [order_id, owner, side, price, qty, remaining, tif, stp, reduce_only]
# The matching loop uses the literal indices; remaining == 0 marks a canceled order that is
# still in its level's queue (skipped lazily).
_ID, _OWNER, _SIDE, _PRICE, _QTY, _REM, _TIF, _STP, _RO = range(9)


def _info(o: list) -> OrderInfo:
    return OrderInfo(o[0], o[1], o[2], o[3], o[4], o[4] - o[5], o[5], o[6], o[7], o[8])


def _bad(name: str, why: str) -> VenueError:
    return VenueError(ILLEGAL_PARAM, f"Data sent for parameter '{name}' is not valid. {why}")


if not cython.compiled:     # compiled, book.pxd defines _new in C: one allocation, no call
    _new = tuple.__new__    # _new(EventType, (field, ...)): an event without __new__'s checks


class OrderBook:
    """Price-time priority book for one symbol (see the module docstring for the rules).

    Internals: each side is a dict ``key -> [total, queue, head, dead]`` plus a heap of keys,
    where ``key = price`` for asks and ``-price`` for bids, so both sides are min-heaps and one
    matching loop serves both. Canceled orders are marked (``remaining = 0``) and dropped from
    their queue lazily. A queue is a list read from index ``head`` (cheaper than a deque in
    CPython), trimmed when the consumed prefix grows. A level is deleted as soon as its total
    reaches 0, its heap key lazily. ``dead`` counts canceled orders at or after ``head``.
    """

    __slots__ = ("symbol", "update_id", "trade_id", "_orders", "_bids", "_asks", "_bheap",
                 "_aheap", "_pbids", "_pasks", "_last_u")

    def __init__(self, symbol: str = "", update_id: int = 0, trade_id: int = 0):
        self.symbol = symbol
        self.update_id = update_id      # last book update id (GET depth lastUpdateId)
        self.trade_id = trade_id        # last trade id assigned
        self._orders: dict[int, list] = {}
        self._bids: dict[int, list] = {}
        self._asks: dict[int, list] = {}
        self._bheap: list[int] = []
        self._aheap: list[int] = []
        self._pbids: dict[int, int] = {}   # price -> total, changed since the last drain
        self._pasks: dict[int, int] = {}
        self._last_u = update_id           # u of the previous drained diff (the next pu)

    # Pickles (venue snapshots) hold the slots' values as Python's default for a slotted
    # class does, whether or not this module is compiled: either one loads the other's.
    def __getstate__(self):
        return None, {name: getattr(self, name) for name in OrderBook.__slots__}

    def __setstate__(self, state):
        for name, value in state[1].items():
            setattr(self, name, value)

    # --- commands -----------------------------------------------------------------------------

    def place(self, order_id: int, owner: int, side: int, qty: int, price: int | None = None,
              tif: int = GTC, stp: int = STP_NONE, reduce_only: bool = False,
              bound: int | None = None, _order: list | None = None) -> list:
        """Match a new order, then rest, expire or reject its remainder; return the events.

        ``price=None`` is a MARKET order (``tif`` ignored; the remainder expires). ``bound``
        caps a market order's fill prices (BUY: <= bound, SELL: >= bound).

        Events: ``Fill``s (and ``OrderExpired(reason=STP)`` for makers removed by STP), then
        one of ``OrderRested`` / ``OrderExpired`` for a remainder (none if fully filled), or a
        lone ``OrderRejected`` (GTX that would take; nothing changed). The caller already knows
        the order it sent, so there is no separate "accepted" event: Binance's NEW is implied.
        """
        if _order is None:
            if type(qty) is not int or qty <= 0:
                raise _bad("quantity", "must be a positive integer")
            if order_id in self._orders:
                raise _bad("orderId", "duplicate order id")
            if stp and stp not in _MODES:
                raise _bad("selfTradePreventionMode",
                           "NONE, EXPIRE_TAKER, EXPIRE_MAKER or EXPIRE_BOTH")
            if price is None:
                market = True
                if bound is None:
                    limit = _NO_LIMIT
                else:
                    if type(bound) is not int or bound <= 0:
                        raise _bad("bound", "must be a positive integer")
                    limit = bound if side == 1 else -bound
            else:
                if type(price) is not int or price <= 0:
                    raise _bad("price", "must be a positive integer")
                if tif and tif not in _MODES:
                    raise _bad("timeInForce", "GTC, IOC, FOK or GTX")
                market = False
                limit = price if side == 1 else -price
            rem = qty
        else:  # re-entry of a modified order (keeps its id, executed qty and STP mode)
            market = False
            limit = price if side == 1 else -price
            rem = _order[5]
        if side == 1:
            oheap = self._aheap
            olev = self._asks
            opend = self._pasks
        elif side == -1:
            oheap = self._bheap
            olev = self._bids
            opend = self._pbids
        else:
            raise _bad("side", "BUY or SELL")
        if tif and not market:
            if tif == 3:    # GTX: refuse if it would take
                while oheap and oheap[0] not in olev:
                    heappop(oheap)
                if oheap and oheap[0] <= limit:
                    return [_new(OrderRejected, (order_id, owner, POST_ONLY_REJECTED,
                                                 POST_ONLY_MSG))]
            elif tif == 2:  # FOK: all or nothing, decided before matching
                if self._fillable(olev, limit, owner, stp, rem) < rem:
                    return [_new(OrderExpired, (order_id, owner, rem, R_FOK))]
        # --- matching: walk the opposite side from its best level --------------------------
        if oheap and oheap[0] <= limit:
            events = []
            why = None
            orders = self._orders
            tid = self.trade_id
            while rem and oheap:
                k = oheap[0]
                if k > limit:
                    break
                lv = olev.get(k)
                if lv is None:          # stale heap key (level emptied by a cancel)
                    heappop(oheap)
                    continue
                q = lv[1]
                h = lv[2]
                tot = lv[0]
                px = k if side == 1 else -k
                while True:
                    m = q[h]
                    mr = m[5]
                    if not mr:                      # canceled earlier, skipped lazily
                        h += 1
                        lv[3] -= 1
                        continue
                    if stp and m[1] == owner:
                        if stp != 1:                # EXPIRE_MAKER / EXPIRE_BOTH: maker goes
                            h += 1
                            del orders[m[0]]
                            tot -= mr
                            events.append(_new(OrderExpired, (m[0], owner, mr, R_STP)))
                        if stp != 2:                # EXPIRE_TAKER / EXPIRE_BOTH: taker stops
                            why = R_STP
                            break
                        if not tot:
                            break
                        continue
                    if mr > rem:
                        mr -= rem
                        m[5] = mr
                        tot -= rem
                        tid += 1
                        events.append(_new(Fill, (tid, px, rem, side, m[0], order_id, m[1],
                                                  owner, mr, 0)))
                        rem = 0
                        break
                    h += 1
                    del orders[m[0]]
                    rem -= mr
                    tot -= mr
                    tid += 1
                    events.append(_new(Fill, (tid, px, mr, side, m[0], order_id, m[1], owner,
                                              0, rem)))
                    if not tot or not rem:
                        break
                if tot:
                    opend[px] = lv[0] = tot
                    if h > 32 and 2 * h > len(q):
                        del q[:h]
                        h = 0
                    lv[2] = h
                else:
                    del olev[k]
                    heappop(oheap)
                    opend[px] = 0
                if why is not None:
                    break
            if events:                  # fills or makers expired by STP changed the book
                self.trade_id = tid
                self.update_id += 1
            if not rem:
                if _order is not None:
                    _order[5] = 0
                return events
            if why is not None:
                events.append(_new(OrderExpired, (order_id, owner, rem, why)))
                if _order is not None:
                    _order[5] = 0
                return events
            if not events:              # only stale heap keys were met: nothing changed yet
                events = None
        else:
            events = None
        # --- the remainder: rest, or expire ---------------------------------------------------
        if market:
            reason = R_MARKET
            if limit != _NO_LIMIT:
                while oheap and oheap[0] not in olev:
                    heappop(oheap)
                if oheap:
                    reason = R_BOUND        # liquidity left, but beyond the bound
            ev = _new(OrderExpired, (order_id, owner, rem, reason))
        elif tif == 1 or tif == 2:
            ev = _new(OrderExpired, (order_id, owner, rem, R_IOC if tif == 1 else R_FOK))
        else:
            if _order is None:
                o = [order_id, owner, side, price, qty, rem, tif, stp, reduce_only]
            else:
                o = _order
                o[5] = rem
            if side == 1:
                mylev = self._bids
                mypend = self._pbids
            else:
                mylev = self._asks
                mypend = self._pasks
            key = -limit
            lv = mylev.get(key)
            if lv is None:
                mylev[key] = [rem, [o], 0, 0]
                myheap = self._bheap if side == 1 else self._aheap
                heappush(myheap, key)
                if len(myheap) > 2 * len(mylev) + 64:
                    myheap[:] = mylev
                    heapify(myheap)
                mypend[price] = rem
            else:
                lv[1].append(o)
                mypend[price] = lv[0] = lv[0] + rem
            self._orders[order_id] = o
            if events is None:
                self.update_id += 1
                return [_new(OrderRested, (order_id, owner, side, price, rem))]
            ev = _new(OrderRested, (order_id, owner, side, price, rem))
        if events is None:
            return [ev]
        events.append(ev)
        return events

    def cancel(self, order_id: int, reason: str = R_USER) -> list:
        """Cancel a resting order (DELETE /fapi/v1/order); unknown ids raise -2011."""
        o = self._orders.pop(order_id, None)
        if o is None:
            raise VenueError(UNKNOWN_ORDER, "Unknown order sent.")
        rem = self._unlink(o)
        self.update_id += 1
        return [_new(OrderCanceled, (order_id, o[1], rem, reason))]

    def cancel_all(self, owner: int) -> list:
        """Cancel every resting order of ``owner`` (DELETE /fapi/v1/allOpenOrders), by id."""
        ids = sorted(oid for oid, o in self._orders.items() if o[1] == owner)
        events = []
        for oid in ids:
            o = self._orders.pop(oid)
            events.append(_new(OrderCanceled, (oid, owner, self._unlink(o), R_USER)))
        if ids:
            self.update_id += 1
        return events

    def modify(self, order_id: int, price: int, qty: int) -> list:
        """PUT /fapi/v1/order for a resting LIMIT order; see the module docstring for the rules.

        Unknown id: -2013. Same price and qty: -5027. ``qty`` <= executed: canceled (reason
        MODIFY). GTX that would take at the new price: canceled. Otherwise the order leaves its
        queue, may trade as a taker at the new price, and rests at the back of the new level.
        Events: ``OrderModified`` then what ``place`` returns, or a lone ``OrderCanceled``.
        """
        o = self._orders.get(order_id)
        if o is None:
            raise VenueError(NO_SUCH_ORDER, "Order does not exist.")
        if type(price) is not int or price <= 0:
            raise _bad("price", "must be a positive integer")
        if type(qty) is not int or qty <= 0:
            raise _bad("quantity", "must be a positive integer")
        if price == o[3] and qty == o[4]:
            raise VenueError(NO_NEED_TO_MODIFY, "No need to modify the order.")
        filled = o[4] - o[5]
        if qty <= filled or (o[6] == GTX and self.would_take(o[2], price)):
            return self.cancel(order_id, R_MODIFY)
        del self._orders[order_id]
        self._unlink(o)                 # the old entry stays in its queue as a dead one,
        o = o[:]                        # so the order re-enters as a new object
        u0 = self.update_id
        old = o[3]
        o[3] = price
        o[4] = qty
        o[5] = qty - filled
        events = [_new(OrderModified, (order_id, o[1], old, price, qty, o[5]))]
        events += self.place(order_id, o[1], o[2], o[5], price, o[6], o[7], o[8], None, o)
        if self.update_id == u0:
            self.update_id += 1
        return events

    # --- queries --------------------------------------------------------------------------------

    def get(self, order_id: int) -> OrderInfo | None:
        """A copy of the resting order with this id, or None."""
        o = self._orders.get(order_id)
        return None if o is None else _info(o)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def orders(self, owner: int | None = None) -> list[OrderInfo]:
        """Resting orders (of ``owner`` if given), in id order."""
        return [_info(o) for o in sorted(self._orders.values(), key=lambda o: o[0])
                if owner is None or o[1] == owner]

    def best_bid(self) -> int | None:
        return -self._top(self._bheap, self._bids) if self._bids else None

    def best_ask(self) -> int | None:
        return self._top(self._aheap, self._asks) if self._asks else None

    def would_take(self, side: int, price: int) -> bool:
        """True if a LIMIT order at ``price`` would trade now (the GTX -5022 test)."""
        if side == BUY:
            best = self.best_ask()
            return best is not None and price >= best
        best = self.best_bid()
        return best is not None and price <= best

    def fillable(self, side: int, qty: int, price: int | None = None, owner: int = -1,
                 stp: int = STP_NONE) -> int:
        """How much of ``qty`` a taker could fill now up to ``price`` (None = any price)."""
        limit = _NO_LIMIT if price is None else (price if side == BUY else -price)
        return min(qty, self._fillable(self._asks if side == BUY else self._bids, limit, owner,
                                       stp, qty))

    def depth(self, side: int, price: int) -> int:
        """Total open quantity at one price level (0 if none)."""
        lv = (self._bids.get(-price) if side == BUY else self._asks.get(price))
        return lv[0] if lv else 0

    def snapshot(self, limit: int | None = None) -> DepthSnapshot:
        """GET /fapi/v1/depth: up to ``limit`` levels a side, best first, and ``lastUpdateId``."""
        bk = sorted(self._bids)
        ak = sorted(self._asks)
        if limit is not None:
            bk = bk[:limit]
            ak = ak[:limit]
        bids = self._bids
        asks = self._asks
        return DepthSnapshot(self.update_id, [(-k, bids[k][0]) for k in bk],
                             [(k, asks[k][0]) for k in ak])

    def drain_depth(self) -> DepthDiff | None:
        """Levels changed since the last drain as one diff, or None if nothing changed.

        Update ids are consecutive, so ``U`` = the previous diff's ``u`` + 1, ``u`` =
        ``update_id`` now and ``pu`` = the previous diff's ``u``. ``bids``/``asks`` are dicts
        ``price -> total`` in the order the levels first changed; a total of 0 removes the level.
        """
        u = self.update_id
        pu = self._last_u
        if u == pu:
            return None
        self._last_u = u
        bids = self._pbids
        asks = self._pasks
        self._pbids = {}
        self._pasks = {}
        return _new(DepthDiff, (pu + 1, u, pu, bids, asks))

    def to_state(self) -> dict:
        """The whole book as JSON-safe data (journal snapshots, state hashes); see from_state.

        Levels best first, each with its live orders in queue order as
        ``[order_id, owner, qty, remaining, tif, stp, reduce_only]``.
        """
        def side(lev: dict, sign: int) -> list:
            return [[sign * k, [[o[0], o[1], o[4], o[5], o[6], o[7], o[8]]
                                for o in lev[k][1][lev[k][2]:] if o[5]]]
                    for k in sorted(lev)]
        return {"symbol": self.symbol, "update_id": self.update_id, "trade_id": self.trade_id,
                "last_u": self._last_u, "bids": side(self._bids, -1),
                "asks": side(self._asks, 1),
                "pending_bids": [[p, q] for p, q in self._pbids.items()],
                "pending_asks": [[p, q] for p, q in self._pasks.items()]}

    @classmethod
    def from_state(cls, state: dict) -> "OrderBook":
        """Rebuild a book from ``to_state()``: same queues, ids and pending depth changes."""
        b = cls(state["symbol"], state["update_id"], state["trade_id"])
        b._last_u = state["last_u"]
        for name, side, lev, heap in (("bids", BUY, b._bids, b._bheap),
                                      ("asks", SELL, b._asks, b._aheap)):
            for price, orders in state[name]:
                key = -side * price
                q = [[oid, owner, side, price, qty, rem, tif, stp, ro]
                     for oid, owner, qty, rem, tif, stp, ro in orders]
                if not q:
                    continue
                lev[key] = [sum(o[5] for o in q), q, 0, 0]
                heap.append(key)
                for o in q:
                    b._orders[o[0]] = o
            heapify(heap)
        b._pbids = {p: q for p, q in state["pending_bids"]}
        b._pasks = {p: q for p, q in state["pending_asks"]}
        return b

    def check(self) -> None:
        """Verify internal invariants (tests): totals, ids, heaps, not crossed."""
        seen = set()
        for lev, heap, sign in ((self._bids, self._bheap, BUY), (self._asks, self._aheap, SELL)):
            assert set(lev) <= set(heap), "a live level is missing from its heap"
            for k, (tot, q, head, dead) in lev.items():
                dq = q[head:]
                live = [o for o in dq if o[5]]
                assert tot == sum(o[5] for o in live) and tot > 0
                assert dead == len(dq) - len(live)
                for o in live:
                    assert o[2] == sign and -sign * o[3] == k
                    assert self._orders.get(o[0]) is o
                    assert 0 < o[5] <= o[4]
                    seen.add(o[0])
        assert seen == set(self._orders)
        bb, ba = self.best_bid(), self.best_ask()
        assert bb is None or ba is None or bb < ba, f"crossed book {bb} >= {ba}"

    # --- internals ------------------------------------------------------------------------------

    @staticmethod
    def _top(heap, lev):
        while heap[0] not in lev:
            heappop(heap)
        return heap[0]

    def _unlink(self, o: list) -> int:
        """Take a resting order out of its level (lazily); return its open quantity."""
        rem = o[5]
        o[5] = 0
        price = o[3]
        if o[2] == BUY:
            key, lev, pend = -price, self._bids, self._pbids
        else:
            key, lev, pend = price, self._asks, self._pasks
        lv = lev[key]
        tot = lv[0] - rem
        if tot:
            lv[0] = tot
            dead = lv[3] + 1
            q = lv[1]
            if dead > 16 and 2 * dead > len(q) - lv[2]:  # compact a level full of cancels
                lv[1] = [x for x in q[lv[2]:] if x[5]]
                lv[2] = dead = 0
            lv[3] = dead
        else:
            del lev[key]
        pend[price] = tot
        return rem

    @staticmethod
    def _fillable(olev, limit, owner, stp, need) -> int:
        """Quantity a taker could fill against ``olev`` up to ``limit`` under its STP mode."""
        avail = 0
        for k in sorted(k for k in olev if k <= limit):
            lv = olev[k]
            if not stp:
                avail += lv[0]
            else:
                for m in lv[1][lv[2]:]:
                    mr = m[5]
                    if not mr:
                        continue
                    if m[1] == owner:
                        if stp == EXPIRE_MAKER:
                            continue
                        return avail            # the taker would expire here
                    avail += mr
                    if avail >= need:
                        return avail
            if avail >= need:
                return avail
        return avail


# --- a compiled module runs only if it was built from this very book.py -----------------------

def _changed_source() -> tuple[str, bytes] | None:
    """Path and text of the book.py beside the compiled module, if not the one it was built from."""
    import hashlib
    import os

    path = os.path.join(os.path.dirname(__file__), "book.py")
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        text = f.read()
    return None if hashlib.sha256(text).hexdigest() == BOOK_PY_SHA256.decode() else (path, text)


if cython.compiled:
    # An editable install keeps the extension built from an older book.py until it is rebuilt;
    # rather than run stale code, run the current book.py as plain Python in this module.
    _changed = _changed_source()
    if _changed is not None:
        import warnings
        warnings.warn("perpsim/core/book.py changed after its compiled module was built: running "
                      "it as plain Python (rebuild with `pip install -e .`)", RuntimeWarning)
        exec(compile(_changed[1], _changed[0], "exec"), globals())
    del _changed
