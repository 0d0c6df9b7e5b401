"""Hyperliquid ``activeAssetCtx``: mark and oracle (index) price and open interest (coin) of one perpetual.

``funding`` there is the current hourly rate before settlement: stored as predicted funding for the next full hour,
never as a settlement.
"""

from __future__ import annotations

from typing import Any

from levradar.domain.records import HOUR_US, Rows, oi_from_raw
from levradar.venues.common import ParseError, number, perp_market

VENUE = "hyperliquid"


def parse(message: dict[str, Any], received_us: int, out: Rows) -> None:
    if message.get("channel") != "activeAssetCtx":
        return
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
        raise ParseError(VENUE, "data.ctx", "activeAssetCtx without its context")
    market = perp_market(VENUE, str(data.get("coin", "")))
    ctx = data["ctx"]
    mark = number(VENUE, ctx, "markPx")
    next_hour = (received_us // HOUR_US + 1) * HOUR_US
    out.mark_index(VENUE, market.symbol, received_us, mark, number(VENUE, ctx, "oraclePx"))
    oi = number(VENUE, ctx, "openInterest")
    out.open_interest(VENUE, market.symbol, received_us, oi, "coin", *oi_from_raw(oi, "coin", price=mark))
    # the hourly rate accruing now, paid at the next full hour
    out.predicted_funding(VENUE, market.symbol, received_us, number(VENUE, ctx, "funding"), next_hour, 1.0)
