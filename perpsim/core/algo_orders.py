"""Conditional (algo) orders: POST /fapi/v1/algoOrder's STOP, STOP_MARKET, TAKE_PROFIT,
TAKE_PROFIT_MARKET and TRAILING_STOP_MARKET on MARK_PRICE or CONTRACT_PRICE (-2021 if it would
trigger at once), priceProtect and closePosition. A fired order enters the book as LIMIT (STOP,
TAKE_PROFIT) or MARKET with every check of a new order; refused, the algo order is REJECTED with
the reason. CONTRACT_PRICE orders watch the last trade price of each matching, so a cascade of
stops runs within the command, oldest first (Binance's USDⓈ-M Futures API, "New Algo Order").
"""
from __future__ import annotations


from . import errors as E
from .clearing import BUY, SELL
from .errors import VenueError
from .fixed import SCALE, fmt_plain, mul
from .positions import LONG, SHORT
from .triggers import (ALGO_TYPES, CONTRACT_PRICE, MARK_PRICE, MAX_CALLBACK_RATE, MIN_CALLBACK_RATE,
                       TRAILING_STOP_MARKET, WORKING_TYPES, AlgoOrder)
from .order_records import (A_CANCELED, A_EXPIRED, A_FINISHED, A_NEW, A_REJECTED, A_TRIGGERED, Algo, DEFAULT_STP,
                            LIMIT, MARKET, STOP_MARKET, STP_MODES, TAKE_PROFIT_MARKET, TIFS, _LIMIT_ALGOS,
                            _MAX_CASCADE, _SIDE_INT)
from .order_filters import (INVALID_SIDE, INVALID_STP, INVALID_TIF, INVALID_TYPE, INVALID_WORKING_TYPE,
                            MAX_STOP_ORDERS, NO_SUCH_ORDER, QTY_WITH_CLOSE, UNKNOWN_ORDER, _err, _is_int,
                            _not_required)


class AlgoOrders:
    """Conditional orders and their triggering (a mixin of ``OrderManager``)."""

    # ------------------------------------------------------------------ algo orders
    def place_algo(self, account_id: int, symbol: str, side: str, type: str, quantity: int | None = None,
                   price: int | None = None, trigger_price: int | None = None, time_in_force: str | None = None,
                   working_type: str | None = None, price_protect: bool = False, reduce_only: bool = False,
                   close_position: bool = False, position_side: str | None = None,
                   activate_price: int | None = None, callback_rate: int | None = None,
                   client_algo_id: str | None = None, stp_mode: str | None = None,
                   now: int = 0) -> tuple[dict, list]:
        """POST /fapi/v1/algoOrder (algoType CONDITIONAL). ``callback_rate`` is Binance's percent
        (1e-8 units: 1% = 100000000), 0.1 to 5."""
        ch = self.clearing
        acct = ch.account(account_id)
        ins = ch.instruments.get(symbol) if isinstance(symbol, str) else None
        if ins is None:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        if side not in (BUY, SELL):
            raise _err(INVALID_SIDE)
        if type not in ALGO_TYPES:
            raise _err(INVALID_TYPE)
        wt = working_type or CONTRACT_PRICE
        if wt not in WORKING_TYPES:
            raise _err(INVALID_WORKING_TYPE, f"Invalid parameter working type: {wt}")
        for name, v in (("priceProtect", price_protect), ("reduceOnly", reduce_only),
                        ("closePosition", close_position)):
            if not isinstance(v, bool):
                raise E.illegal_param(name)
        stp = DEFAULT_STP if stp_mode is None else stp_mode
        if stp not in STP_MODES:
            raise _err(INVALID_STP)
        ps = ch.resolve_position_side(acct, side, position_side)
        if reduce_only and acct.hedge_mode:
            raise _not_required("reduceOnly")
        trailing = type == TRAILING_STOP_MARKET
        limit = type in _LIMIT_ALGOS
        tif = "GTC"
        if limit:
            tif = time_in_force or "GTC"
            if tif not in TIFS:
                raise _err(INVALID_TIF)
            price = self._check_price(ins, price)
        elif price is not None:
            raise _not_required("price")
        if close_position:
            if type not in (STOP_MARKET, TAKE_PROFIT_MARKET):
                raise _not_required("closePosition")
            if quantity is not None:
                raise _err(QTY_WITH_CLOSE)
            if reduce_only:
                raise _not_required("reduceOnly")
            if (side == BUY and ps == LONG) or (side == SELL and ps == SHORT):
                raise E.illegal_param("closePosition", "BUY with LONG or SELL with SHORT cannot close.")
            qty = 0
        else:
            qty = self._check_qty(ins, quantity, not limit)
        cb = 0
        act = None
        if trailing:
            if trigger_price is not None:
                raise _not_required("triggerPrice")
            if not _is_int(callback_rate):
                raise E.bad_param("callbackRate")
            cb = callback_rate
            if not MIN_CALLBACK_RATE * 100 <= cb <= MAX_CALLBACK_RATE * 100:
                raise E.illegal_param("callbackRate", "It must be between 0.1 and 5.")
            if activate_price is not None:
                act = self._check_stop_price(ins, activate_price, "activatePrice")
            stop = 0
        else:
            if activate_price is not None:
                raise _not_required("activatePrice")
            if callback_rate is not None:
                raise _not_required("callbackRate")
            stop = self._check_stop_price(ins, trigger_price)
        if limit:
            # the limit price must stay within the multipliers of the trigger price (-4183 / -4184)
            if side == BUY and price * SCALE > stop * ins.multiplier_up:
                raise VenueError(-4183, f"Limit price can't be higher than {fmt_plain(mul(stop, ins.multiplier_up))}.")
            if side == SELL and price * SCALE < stop * ins.multiplier_down:
                raise VenueError(-4184, f"Limit price can't be lower than {fmt_plain(mul(stop, ins.multiplier_down))}.")
        if qty:
            ref = price if limit else (stop or act or ch.mark(symbol) or self.last_price(symbol))
            if ref:
                self._check_min_notional(ins, qty, ref, reduce_only)
        if self._count_algo(account_id, symbol) >= ins.max_num_algo_orders:
            raise _err(MAX_STOP_ORDERS)
        caid = self._client_id(account_id, client_algo_id, self.client_algo_ids, "perpsim-algo-",
                               self.next_algo_id + 1)
        mark = ch.mark(symbol)
        last = self.last_price(symbol)
        mark_p, last_p = (mark or last), (last or mark)
        aid = self.next_algo_id + 1
        ao = AlgoOrder(aid, account_id, _SIDE_INT[side], type, stop or None, wt, price_protect, act,
                       cb // 100 if trailing else None, None)
        if trailing and act is None and not (mark_p if wt == MARK_PRICE else last_p):
            raise E.bad_param("activatePrice")
        tb = self.trigger_book(symbol)
        tb.register(ao, mark_p or None, last_p or None) if mark_p else tb.register(ao)
        # ---- accepted (register is the last check: -2021)
        ch._stored_config(acct, symbol)
        self.next_algo_id = aid
        a = Algo(algo_id=aid, client_algo_id=caid, account_id=account_id, symbol=symbol, side=side, type=type,
                 qty=qty, price=price or 0, trigger_price=stop, tif=tif, working_type=wt, price_protect=price_protect,
                 reduce_only=reduce_only, close_position=close_position, position_side=ps,
                 activate_price=act or 0, callback_rate=cb, stp=stp, status=A_NEW, time=now, update_time=now,
                 trigger_time=0, actual_order_id=0, reject_reason="")
        ao.payload = a
        self.algos[aid] = a
        self.open_algos.setdefault(symbol, {}).setdefault(account_id, {})[aid] = a
        self.client_algo_ids[(account_id, caid)] = aid
        self.refresh(account_id, symbol)
        return a.view(), [self._algo_update(a, now)]

    def cancel_algo(self, account_id: int, algo_id: int | None = None, client_algo_id: str | None = None,
                    now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/algoOrder; -2011 for an unknown or finished algo order."""
        self.clearing.account(account_id)
        try:
            a = self.find_algo(account_id, algo_id, client_algo_id)
        except VenueError as e:
            if e.code == NO_SUCH_ORDER[0]:
                raise _err(UNKNOWN_ORDER) from None
            raise
        if not a.is_open:
            raise _err(UNKNOWN_ORDER)
        self.trigger_book(a.symbol).cancel(a.algo_id)
        self._finish_algo(a, A_CANCELED, now)
        return ({"algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "code": "200", "msg": "success"},
                [self._algo_update(a, now)])

    def cancel_all_algo(self, account_id: int, symbol: str, now: int = 0) -> tuple[dict, list]:
        """DELETE /fapi/v1/algoOpenOrders."""
        self.clearing.account(account_id)
        if symbol not in self.clearing.instruments:
            raise VenueError(E.BAD_SYMBOL, "Invalid symbol.")
        events = []
        for a in sorted(self.open_algos.get(symbol, {}).get(account_id, {}).values(), key=lambda a: a.algo_id):
            self.trigger_book(symbol).cancel(a.algo_id)
            self._finish_algo(a, A_CANCELED, now)
            events.append(self._algo_update(a, now))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}, events

    def _finish_algo(self, a: Algo, status: str, now: int, reason: str = "") -> None:
        a.status = status
        a.update_time = now
        a.reject_reason = reason
        by = self.open_algos.get(a.symbol, {})
        mine = by.get(a.account_id)
        if mine is not None and mine.pop(a.algo_id, None) is not None and not mine:
            del by[a.account_id]
        key = (a.account_id, a.client_algo_id)
        if self.client_algo_ids.get(key) == a.algo_id:
            del self.client_algo_ids[key]
        self.refresh(a.account_id, a.symbol)

    # ------------------------------------------------------------------ triggering
    def on_mark(self, symbol: str, mark: int, now: int = 0) -> list:
        """A new mark price (the caller has set it in the clearing house): refresh the margin resting
        orders reserve (open loss moves with the mark) and fire MARK_PRICE conditional orders."""
        self.refresh_symbol(symbol)
        tb = self.triggers.get(symbol)
        if tb is None or not len(tb):
            return []
        last = self.last_price(symbol) or mark
        fired = tb.on_price(MARK_PRICE, mark, mark, last)
        events: list = []
        if fired:
            events += self._fire(symbol, fired, now)
        return events

    def _cascade(self, symbol: str, now: int) -> list:
        """Fire CONTRACT_PRICE orders at the new last price, and again after what they trade."""
        tb = self.triggers.get(symbol)
        events: list = []
        if tb is None:
            return events
        for _ in range(_MAX_CASCADE):
            if not len(tb):
                break
            last = self.last_price(symbol)
            mark = self.clearing.mark(symbol) or last
            fired = tb.on_price(CONTRACT_PRICE, last, mark, last)
            if not fired:
                break
            events += self._fire(symbol, fired, now, cascade=False)
            if self.last_price(symbol) == last:
                break
        return events

    def _fire(self, symbol: str, fired: list, now: int, cascade: bool = True) -> list:
        """Place the orders of fired algo orders, oldest first; a refused one is REJECTED."""
        events: list = []
        ch = self.clearing
        for ao in fired:
            a: Algo = ao.payload
            a.trigger_time = now
            qty = a.qty
            reduce_only = a.reduce_only
            if a.close_position:
                acct = ch.accounts[a.account_id]
                pos = acct.positions.get((symbol, a.position_side))
                q = pos.qty if pos is not None else 0
                qty = q if a.side == SELL else -q
                reduce_only = not acct.hedge_mode
                if acct.hedge_mode and qty > 0:     # what resting closing orders leave
                    qty = self._room(acct, symbol, a.position_side, a.side)
            type_ = LIMIT if a.type in _LIMIT_ALGOS else MARKET
            if qty <= 0:
                self._finish_algo(a, A_EXPIRED, now, "No position to close")
                events.append(self._algo_update(a, now))
                continue
            cid = a.client_algo_id if (a.account_id, a.client_algo_id) not in self.client_ids else None
            try:
                o, oev = self._submit(a.account_id, symbol, a.side, type_, qty, a.price if type_ == LIMIT else None,
                                      a.tif if type_ == LIMIT else None, reduce_only, a.position_side, cid, a.stp,
                                      now, algo=a, close_position=a.close_position)
            except VenueError as e:
                self._finish_algo(a, A_REJECTED, now, e.msg)
                events.append(self._algo_update(a, now))
                continue
            a.actual_order_id = o.order_id
            self._finish_algo(a, A_TRIGGERED if o.is_open else A_FINISHED, now)
            events.append(self._algo_update(a, now, o))
            events += oev
        return events
