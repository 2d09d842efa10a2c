"""The venue's settings: one frozen, typed configuration per subsystem, with defaults and evidence.

``set_setting`` changes one setting by name; an unknown name or a value of the wrong type is refused
with Binance's -1130 and changes nothing. ``Exchange.config`` holds the configurations built from
the settings in force (``Configs``); the subsystems read their fields from there.

Evidence tags: [P] Binance publishes the rule or figure (the source is named), [I] Binance publishes
none and this is our choice, explained in docs/choices.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import errors as E
from .fixed import SCALE

DAY = 86_400_000
P = SCALE // 100    # one percent in 1e-8 units of a fraction

#: kinds of value: what each accepts
KINDS = {
    "bool": "true or false",
    "ratio": "a non-negative integer in 1e-8 units of a fraction (100000000 is 100%)",
    "count": "a non-negative integer",
    "ms": "a non-negative integer of milliseconds",
    "ratios": "a list of at most 16 non-negative integers in 1e-8 units",
    "choice": "one of the listed values",
    "account": "an account id, or null",
    "time": "a time in ms since the epoch, or null",
    "text": "a string of at most 64 characters, or null",
    "flag": "true, or null to clear",
}
MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Knob:
    """What one setting accepts, and why its default is what it is."""

    kind: str
    evidence: str
    doc: str
    choices: tuple = ()


def knob(default: Any, kind: str, evidence: str, doc: str, choices: tuple = ()) -> Any:
    return field(default=default, metadata={"knob": Knob(kind, evidence, doc, choices)})


# ---------------------------------------------------------------------- the subsystems
@dataclass(frozen=True)
class WaterfallConfig:
    """The liquidation waterfall (FAQ 360033525271, "Liquidation Protocols")."""

    partial_liquidation: bool = knob(True, "bool", "I", "liquidate a position above the first tier partly")
    partial_target_ratio: int = knob(90 * P, "ratio", "I", "margin ratio a partial liquidation brings the "
                                     "scope back to, at the mark")
    insurance_capacity_ratio: int = knob(SCALE, "ratio", "P", "the insurance fund takes a position over only "
                                         "while its net notional stays within this share of the fund (Binance's "
                                         "2019-2023 text: 100%)")
    leftover_to_insurance: int = knob(SCALE, "ratio", "I", "share of the equity left after a full liquidation "
                                      "that goes to the fund (\"a portion of the remaining collateral\")")


@dataclass(frozen=True)
class MarginCallConfig:
    """Margin calls (FAQ 360033525271: a margin call "when the margin ratio reaches a certain level")."""

    margin_call_ratio: int = knob(80 * P, "ratio", "I", "margin ratio at which a margin call goes out")


@dataclass(frozen=True)
class PriceConfig:
    """The mark price's inputs (FAQ 360033525071, "Mark Price and Price Index")."""

    mark_from_book: bool = knob(False, "bool", "I", "feed the mark's last price and Price 2 from the venue's own "
                                "book; off: the mark follows the index alone")


@dataclass(frozen=True)
class RiskConfig:
    """How the risk pass finds what to re-check: the same events and state either way."""

    risk_scan: str = knob("indexed", "choice", "I", "indexed: only what a change can reach; full: every "
                          "account on every change (a reference for the indexed mode)", ("indexed", "full"))


@dataclass(frozen=True)
class GuardConfig:
    """Trader protection: alerts, risk controls, bans (docs/choices.md, "Trader protection")."""

    guard_alert_margin_ratios: tuple = knob((50 * P, 70 * P, 90 * P), "ratios", "I",
                                            "margin ratios at which a margin alert goes out")
    guard_alert_liq_distances: tuple = knob((10 * SCALE, 5 * SCALE), "ratios", "I",
                                            "distances to the liquidation price, in 1e-8 units of percent of the "
                                            "mark, at which an alert goes out")
    guard_liq_streak: int = knob(3, "count", "I", "consecutive liquidations within the window that ask for a "
                                 "risk test")
    guard_liq_streak_window_ms: int = knob(DAY, "ms", "I", "window of the liquidation streak")
    guard_loss_rate: int = knob(50 * P, "ratio", "I", "futures loss rate within the window that asks for a risk test")
    guard_loss_window_ms: int = knob(DAY, "ms", "I", "window of the loss rate")
    guard_shrink_rate: int = knob(80 * P, "ratio", "I", "futures wallet shrinkage within the window that pauses "
                                  "futures trading")
    guard_shrink_window_ms: int = knob(7 * DAY, "ms", "I", "window of the shrinkage")
    guard_pause_ms: int = knob(3 * DAY, "ms", "I", "a pause (\"pauses futures trading for a few days\")")
    guard_repeat_triggers: int = knob(3, "count", "I", "control triggers within the window that ban for a while")
    guard_repeat_window_ms: int = knob(30 * DAY, "ms", "I", "window of the repeated triggers")
    guard_temp_ban_ms: int = knob(7 * DAY, "ms", "I", "a temporary ban")
    guard_ban_allows_reduce_only: bool = knob(True, "bool", "I", "a banned trader may still close")
    guard_quiz_questions: int = knob(6, "count", "I", "questions per risk test; all must be right")
    guard_new_account_days: int = knob(60, "count", "P", "days a new account's leverage is capped (Binance "
                                       "announcement d6457e23eb2e42f2b9c3ce44f46f9a6d)")
    guard_new_account_max_leverage: int = knob(20, "count", "P", "the new account's leverage cap (same announcement)")
    guard_duplicate_identity_policy: str = knob("ban", "choice", "P", "a second account of one identity: "
                                                "\"banned upon discovery\"", ("ban", "flag"))
    guard_duplicate_device_policy: str = knob("flag", "choice", "P", "a second account of one device: flagged",
                                              ("flag", "ban"))
    guard_appeal_compensation_ratio: int = knob(SCALE, "ratio", "I", "share of the loss an upheld appeal pays back")
    guard_notifications_kept: int = knob(200, "count", "I", "notifications kept per account")
    guard_history_kept: int = knob(1000, "count", "I", "liquidation records kept per account")


@dataclass(frozen=True)
class OperatorConfig:
    """What the server records about how it runs this venue (not Binance rules)."""

    history_anchor: int | None = knob(None, "time", "I", "where the seeded past ends and the live market starts")
    history_days: str | None = knob(None, "text", "I", "days of seeded past before the anchor")
    demo_account: int | None = knob(None, "account", "I", "the demo account the dashboard opens with")
    liquidity_account: int | None = knob(None, "account", "I", "the liquidity agent's account")
    legacy_conditional_orders: bool = knob(False, "bool", "I", "conditional orders on POST /fapi/v1/order, as "
                                           "before Binance moved them to the algo order endpoints")


#: the subsystems, by the attribute of ``Configs`` that holds them
SUBSYSTEMS = {"waterfall": WaterfallConfig, "margin_calls": MarginCallConfig, "prices": PriceConfig,
              "risk": RiskConfig, "guard": GuardConfig, "operator": OperatorConfig}

#: settings named by a prefix and a symbol: the operator holds the symbol's index at its price
HOLD_PREFIX = "operator_hold:"
HOLD_KNOB = Knob("flag", "I", "hold the symbol's index at the operator's price (POST /admin/v1/price)")

KNOBS: dict[str, Knob] = {}
OWNER: dict[str, str] = {}
for _part, _cls in SUBSYSTEMS.items():
    for _f in dataclasses.fields(_cls):
        KNOBS[_f.name] = _f.metadata["knob"]
        OWNER[_f.name] = _part


def defaults(cls) -> dict[str, Any]:
    """A subsystem's settings and their defaults."""
    return {f.name: f.default for f in dataclasses.fields(cls)}


def knob_of(name: str) -> Knob | None:
    if name in KNOBS:
        return KNOBS[name]
    if name.startswith(HOLD_PREFIX) and 0 < len(name) - len(HOLD_PREFIX) <= 20 \
            and name[len(HOLD_PREFIX):].isalnum():
        return HOLD_KNOB
    return None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_INT


def accepts(k: Knob, value: object) -> bool:
    kind = k.kind
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("ratio", "count", "ms"):
        return _is_int(value)
    if kind == "ratios":
        return isinstance(value, (list, tuple)) and len(value) <= 16 and all(_is_int(v) for v in value)
    if kind == "choice":
        return value in k.choices
    if kind in ("account", "time"):
        return value is None or (_is_int(value) and (kind == "time" or value > 0))
    if kind == "text":
        return value is None or (isinstance(value, str) and len(value) <= 64)
    if kind == "flag":
        return value is None or value is True
    raise AssertionError(kind)


def check(name: object, value: object) -> None:
    """Refuse an unknown setting or a value of the wrong type (Binance's -1130, naming the parameter)."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise E.illegal_param("name")
    k = knob_of(name)
    if k is None:
        raise E.illegal_param("name", f"Unknown setting {name!r}; GET /admin/v1/settings lists them.")
    if not accepts(k, value):
        what = KINDS[k.kind] + (f": {', '.join(k.choices)}" if k.choices else "")
        raise E.illegal_param("value", f"{name} takes {what}.")


class Configs:
    """The configurations in force, built from a venue's settings (``Exchange.settings``: only what
    was changed from the defaults is stored there, so the state hash is unchanged by this view)."""

    __slots__ = tuple(SUBSYSTEMS)

    def __init__(self, settings: dict[str, Any]):
        for part, cls in SUBSYSTEMS.items():
            names = {f.name for f in dataclasses.fields(cls)}
            setattr(self, part, cls(**{n: v for n, v in settings.items() if n in names}))


def listing(settings: dict[str, Any]) -> list[dict]:
    """Every setting with its subsystem, kind, default, value in force and evidence (GET /admin/v1/settings)."""
    rows = []
    for name, k in KNOBS.items():
        cls = SUBSYSTEMS[OWNER[name]]
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        value = settings.get(name, default)
        rows.append({"name": name, "subsystem": OWNER[name], "kind": k.kind, "accepts": KINDS[k.kind],
                     "choices": list(k.choices), "default": _json(default), "value": _json(value),
                     "evidence": k.evidence, "doc": k.doc})
    for name in sorted(n for n in settings if n.startswith(HOLD_PREFIX)):
        rows.append({"name": name, "subsystem": "operator", "kind": HOLD_KNOB.kind, "accepts": KINDS["flag"],
                     "choices": [], "default": None, "value": settings[name], "evidence": "I", "doc": HOLD_KNOB.doc})
    return rows


def _json(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
