"""The one error type the core raises: a Binance error code and message.

Binance answers every refused request with ``{"code": -XXXX, "msg": "..."}``
(developers.binance.com, USD-M error codes). The core raises ``VenueError`` with the same
pair so that every face (REST, CLI, simulator) reports the same thing. A command that
raises has changed nothing: the core validates before it mutates.
"""
from __future__ import annotations


class VenueError(Exception):
    """A refused command: Binance's error ``code`` and ``msg``."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg

    def to_dict(self) -> dict:
        return {"code": self.code, "msg": self.msg}


# Codes used by the core, with Binance's messages (Binance's USDⓈ-M Futures API "Error Codes" page and
# Binance's USD-M error-code page).
UNKNOWN = -1000
BAD_PARAM = -1102          # Mandatory parameter '%s' was not sent, was empty/null, or malformed.
ILLEGAL_PARAM = -1130      # Data sent for parameter '%s' is not valid.
BAD_PRECISION = -1111      # Precision is over the maximum defined for this asset.
BAD_SYMBOL = -1121         # Invalid symbol.
MARGIN_INSUFFICIENT = -2019
MAX_POSITION = -2027       # Exceeded the maximum allowable position at current leverage.
BALANCE_INSUFFICIENT = -5013   # Asset transfer failed: insufficient balance
INVALID_LEVERAGE = -4028   # Leverage %s is not valid
NO_NEED_MARGIN_TYPE = -4046
MARGIN_TYPE_OPEN_ORDERS = -4047
MARGIN_TYPE_POSITION = -4048
ADD_ISOLATED_MARGIN_NO_POSITION = -4050  # Cross balance insufficient / no position
ISOLATED_BALANCE_INSUFFICIENT = -4051
NO_NEED_POSITION_SIDE = -4059
POSITION_SIDE_MISMATCH = -4061
POSITION_SIDE_OPEN_ORDERS = -4067
POSITION_SIDE_POSITION = -4068
ACCOUNT_NOT_FOUND = -2015
TRANSFER_TYPE_INVALID = -5001


def bad_param(name: str) -> VenueError:
    return VenueError(BAD_PARAM, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_param(name: str, why: str = "") -> VenueError:
    msg = f"Data sent for parameter '{name}' is not valid."
    return VenueError(ILLEGAL_PARAM, f"{msg} {why}".strip())
