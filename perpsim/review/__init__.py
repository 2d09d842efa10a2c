"""The post-liquidation review: pure analysis of Binance-API-shaped data.

``review(data)`` answers the post-liquidation review questions for every liquidation; ``binance_data`` and
``from_data_dir`` export a perpsim venue's events in that shape; ``render`` prints a review with rich.
"""
from .analysis import review
from .export import binance_data, from_data_dir

__all__ = ["review", "binance_data", "from_data_dir"]
