"""Hyperliquid ``activeAssetCtx``: mark and oracle (index) price and open interest (coin) of one perpetual.

``funding`` there is the current hourly rate before settlement: stored as predicted funding for the next full hour,
never as a settlement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from levradar.domain.records import MarkIndex, OpenInterest, PredictedFunding, _Record
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
    next_hour = received_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [
        MarkIndex(VENUE, market.symbol, received_at, mark, number(VENUE, ctx, "oraclePx")),
        OpenInterest.from_raw(
            VENUE, market.symbol, received_at, number(VENUE, ctx, "openInterest"), "coin", price=mark
        ),
        # the hourly rate accruing now, paid at the next full hour
        PredictedFunding(VENUE, market.symbol, received_at, number(VENUE, ctx, "funding"), next_hour, 1.0),
    ]
