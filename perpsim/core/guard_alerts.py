"""Trader-protection alerts: configured margin-ratio levels and distances from the liquidation price,
each sent once until the figure goes back; indexed by the risk pass's status bands, so a new mark
re-evaluates only the accounts it concerns. Binance lets a trader set such alerts in its app; the
levels are ours [I] (docs/choices.md, "Trader protection").
"""
from __future__ import annotations


from .fixed import SCALE
from .margin import price_move_to_liquidation
from .risk import far_condition, maint_condition, ratio_condition


class GuardAlerts:
    """Alerts (a mixin of ``Guard``)."""

    def _alerts(self, account_id: int, now: int) -> list:
        """Margin-ratio levels and liquidation-price distances, each once until the figure goes back.

        Reads the account's figures of the risk pass (risk.py) and leaves there the mark range within
        which no alert can start or end (so a new mark re-evaluates only the accounts it concerns)."""
        risk = self.venue.risk
        ch = self.venue.clearing
        acct = ch.accounts.get(account_id)
        st = self.accounts.get(account_id)
        if acct is None or (not acct.has_position() and (st is None or not st.fired)):
            risk.put_bands("alerts_index", account_id, None, [], set())
            return []
        figs = risk.figures(acct)
        ratios = (st.alert_ratios if st is not None and st.alert_ratios is not None
                  else self.config.guard_alert_margin_ratios)
        distances = (st.alert_distances if st is not None and st.alert_distances is not None
                     else self.config.guard_alert_liq_distances)
        live: dict[tuple, dict] = {}
        if not ratios and not distances:
            positions = []
            isolated = []
        else:
            positions = figs.positions
            isolated = figs.isolated
        far = max(distances) if distances else 0
        banded = risk.wants_bands("alerts_index", account_id)
        conditions: list | None = [] if banded else None
        pending: set = set()
        if banded:
            mmrmax, tiers = risk.table_bounds({p.symbol for p in positions})
            if any(not isinstance(x, int) or isinstance(x, bool) or x <= 0 for x in (*ratios, *distances)):
                banded = False
                pending = {p.symbol for p in positions}
        # A cheap bound first: at the liquidation price margin balance meets maintenance, and
        # MB - MM = (mark - LP) x (q -/+ |q| x MMR) for the scope's legs of a symbol, so the move to
        # liquidation is at least (MB - MM) / (1.5 x notional). Only scopes that may be within the
        # largest alert distance get the exact (costlier) liquidation-price solve.
        cross_far: dict[str, bool] = {}
        for asset in sorted(figs.legs if positions else ()):
            f = figs.cross(asset)
            legs = figs.legs[asset]
            if f.maint_margin:
                for lv in ratios:
                    if f.margin_ratio is None or f.margin_ratio >= lv:
                        live[("MR", "CROSSED", asset, "", lv)] = {
                            "marginType": "CROSSED", "asset": asset, "level": lv,
                            "marginRatio": f.margin_ratio if f.margin_ratio is not None else -1}
                    if banded:
                        c = ratio_condition(lv, f.margin_balance, f.maint_margin, legs, mmrmax, tiers)
                        if c is None:
                            pending |= set(legs)
                        else:
                            conditions.append(c)
                if banded and ratios:
                    c = maint_condition(f.maint_margin, legs, mmrmax, tiers)
                    if c is None:
                        pending |= set(legs)
                    else:
                        conditions.append(c)
            elif banded and ratios:
                pending |= set(legs)
            total = figs.cross_notional[asset]
            cross_far[asset] = (f.margin_balance - f.maint_margin) * 100 * SCALE > far * total * 3 // 2
            if banded and distances:
                c = (far_condition(f.margin_balance, f.maint_margin, total, far, legs, mmrmax, tiers)
                     if cross_far[asset] else None)
                if c is None:
                    pending |= set(legs)
                else:
                    conditions.append(c)
        near = []
        for it in isolated:
            p = it.pos
            n, mm, mb, mr = it.notional, it.maint_margin, it.margin_balance, it.margin_ratio
            leg = {p.symbol: abs(p.qty)}
            if mm:
                for lv in ratios:
                    if mr is None or mr >= lv:
                        live[("MR", "ISOLATED", p.symbol, p.side, lv)] = {
                            "marginType": "ISOLATED", "symbol": p.symbol, "positionSide": p.side, "level": lv,
                            "marginRatio": mr if mr is not None else -1}
                    if banded:
                        c = ratio_condition(lv, mb, mm, leg, mmrmax, tiers)
                        if c is None:
                            pending.add(p.symbol)
                        else:
                            conditions.append(c)
                if banded and ratios:
                    c = maint_condition(mm, leg, mmrmax, tiers)
                    if c is None:
                        pending.add(p.symbol)
                    else:
                        conditions.append(c)
            elif banded and ratios:
                pending.add(p.symbol)
            if not distances:
                continue
            if (mb - mm) * 100 * SCALE > far * n * 3 // 2:
                if banded:
                    c = far_condition(mb, mm, n, far, leg, mmrmax, tiers)
                    if c is None:
                        pending.add(p.symbol)
                    else:
                        conditions.append(c)
                continue
            near.append(p)
            pending.add(p.symbol)
        if distances:
            near += [p for p in positions if p.wallet is None
                     and not cross_far.get(ch.instruments[p.symbol].margin_asset, True)]
        for p in sorted(near, key=lambda p: (p.symbol, p.side)):
            fig = ch.position_figures(p)
            move = price_move_to_liquidation(p.qty, fig.mark_price, fig.liquidation_price)
            if move is not None:
                for lv in distances:
                    if move <= lv:
                        live[("LP", p.symbol, p.side, lv)] = {
                            "symbol": p.symbol, "positionSide": p.side, "level": lv, "distance": move,
                            "markPrice": fig.mark_price, "liquidationPrice": fig.liquidation_price}
        risk.put_bands("alerts_index", account_id, figs, conditions, pending)
        if not live and (st is None or not st.fired):
            return []
        st = st or self.get(account_id)
        out = []
        for key in sorted(live, key=repr):
            if key not in st.fired:
                st.fired.add(key)
                kind = "MARGIN_ALERT" if key[0] == "MR" else "LIQUIDATION_PRICE_ALERT"
                out.append(self._notify(st, account_id, now, kind, live[key]))
        st.fired &= set(live)
        return out
