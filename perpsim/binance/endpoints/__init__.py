"""REST endpoints, grouped by what they serve. Importing a module registers its endpoints."""
from . import account, admin, algo_orders, general, market, orders, protection, risk, trade_history  # noqa: F401
