"""Everything levradar knows about OKX swaps: ``stream`` parses its WebSocket messages (``levradar record``),
``rest`` pages its public REST endpoints (``levradar sync``, with the venue's request budget)."""

from levradar.venues.okx.stream import DEFAULT_CONTRACT_VALUES, VENUE, parse

__all__ = ["DEFAULT_CONTRACT_VALUES", "VENUE", "parse"]
