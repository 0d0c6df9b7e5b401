"""Hyperliquid ``activeAssetCtx``: mark and oracle (index) price and open interest (coin) of one perpetual.

``funding`` there is the current hourly rate before settlement: not stored as a settlement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from levradar.domain.records import MarkIndex, OpenInterest, _Record
from levradar.venues.common import ParseError, number, perp_market

VENUE = "hyperliquid"


def parse(message: dict[str, Any], received_at: datetime) -> list[_Record]:
    if message.get("channel") != "activeAssetCtx":
        return []
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
        raise ParseError(VENUE, "data.ctx", "activeAssetCtx without its context")
    market = perp_market(VENUE, str(data.get("coin", "")))
    ctx = data["ctx"]
    mark = number(VENUE, ctx, "markPx")
    return [
        MarkIndex(VENUE, market.symbol, received_at, mark, number(VENUE, ctx, "oraclePx")),
        OpenInterest.from_raw(
            VENUE, market.symbol, received_at, number(VENUE, ctx, "openInterest"), "coin", price=mark
        ),
    ]
