"""Everything levradar knows about Hyperliquid perpetuals: ``stream`` parses its WebSocket messages (``levradar record``),
``rest`` pages its public REST endpoints (``levradar sync``, with the venue's request budget)."""

from levradar.venues.hyperliquid.stream import VENUE, parse

__all__ = ["VENUE", "parse"]
