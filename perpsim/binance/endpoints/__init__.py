"""REST endpoints, grouped by what they serve. Importing a module registers its endpoints."""
from . import account, admin, general, market, protection, risk, trade  # noqa: F401
