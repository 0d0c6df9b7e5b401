"""Everything levradar knows about Bybit v5 linear: ``stream`` parses its WebSocket messages (``levradar record``),
``rest`` pages its public REST endpoints (``levradar sync``, with the venue's request budget)."""

from levradar.venues.bybit.stream import VENUE, parse

__all__ = ["VENUE", "parse"]
