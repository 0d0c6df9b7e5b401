"""Venue adapters. ``parse(venue, message, received_at)`` turns one raw stream message into domain records.

Raw payload shapes stay inside this package; everything else sees domain records (``levradar.domain.records``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from levradar.domain.records import _Record
from levradar.venues import binance, bybit, hyperliquid, okx
from levradar.venues.common import ParseError

Parser = Callable[[dict[str, Any], datetime], list[_Record]]

PARSERS: dict[str, Parser] = {
    "binance": binance.parse,
    "bybit": bybit.parse,
    "okx": okx.parse,
    "hyperliquid": hyperliquid.parse,
}


def parse(venue: str, message: dict[str, Any], received_at: datetime) -> list[_Record]:
    """Records carried by one stream message of ``venue`` (empty for messages with nothing to store)."""
    try:
        parser = PARSERS[venue]
    except KeyError:
        raise ParseError(venue, "venue", f"no stream parser; known: {', '.join(PARSERS)}") from None
    return parser(message, received_at)


__all__ = ["PARSERS", "ParseError", "parse"]
