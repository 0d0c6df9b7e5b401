"""Everything levradar knows about Binance USDⓈ-M: ``stream`` parses its WebSocket messages (``levradar record``),
``rest`` pages its public REST endpoints (``levradar sync``, with the venue's request budget)."""

from levradar.venues.binance.stream import VENUE, parse

__all__ = ["VENUE", "parse"]
