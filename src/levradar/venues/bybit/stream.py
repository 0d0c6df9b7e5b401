"""Bybit v5 public streams: ``allLiquidation.<symbol>``, ``liquidation.<symbol>``, ``tickers.<symbol>``.

Liquidation ``S`` / ``side`` is the side of the *position* that was liquidated (Buy = a long was liquidated), the
opposite convention to Binance; ``p`` is the bankruptcy price, ``v`` the size in coin. ``allLiquidation`` carries
every liquidation (not sampled). Ticker deltas carry only the fields that changed: each present field gives a
record. Linear ``openInterest`` is in coin; ``fundingRate`` is the current period's rate, not a settlement: stored
as predicted funding for ``nextFundingTime`` (with ``fundingIntervalHour`` where sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from levradar.domain.records import Liquidation, MarkIndex, OpenInterest, PredictedFunding, Side, _Record
from levradar.venues.common import ParseError, millis, number, optional_number, perp_market

VENUE = "bybit"
POSITION_SIDE: dict[str, Side] = {"Buy": "long", "Sell": "short"}


def parse(message: dict[str, Any], received_at: datetime) -> list[_Record]:
    topic = str(message.get("topic", ""))
    data = message.get("data")
    if topic.startswith("allLiquidation."):
        if not isinstance(data, list):
            raise ParseError(VENUE, "data", "allLiquidation expects a list")
        return [_liquidation(d, "s", "S", "v", "p", "T") for d in data]
    if topic.startswith("liquidation."):
        if not isinstance(data, dict):
            raise ParseError(VENUE, "data", "liquidation expects an object")
        return [_liquidation(data, "symbol", "side", "size", "price", "updatedTime")]
    if topic.startswith("tickers."):
        if not isinstance(data, dict):
            raise ParseError(VENUE, "data", "tickers expects an object")
        market = perp_market(VENUE, str(data.get("symbol", topic.split(".", 1)[1])))
        when = millis(VENUE, message, "ts", default=received_at)
        out: list[_Record] = []
        mark, index = optional_number(VENUE, data, "markPrice"), optional_number(VENUE, data, "indexPrice")
        if mark is not None or index is not None:
            out.append(MarkIndex(VENUE, market.symbol, when, mark, index))
        oi = optional_number(VENUE, data, "openInterest")
        if oi is not None:
            out.append(OpenInterest.from_raw(VENUE, market.symbol, when, oi, "coin", price=mark))
        rate = optional_number(VENUE, data, "fundingRate")
        if rate is not None:  # the current period's rate, settled at nextFundingTime
            settles = millis(VENUE, data, "nextFundingTime") if data.get("nextFundingTime") else None
            hours = optional_number(VENUE, data, "fundingIntervalHour")
            out.append(PredictedFunding(VENUE, market.symbol, when, rate, settles, hours))
        return out
    return []


def _liquidation(d: dict[str, Any], sym: str, side: str, size: str, price: str, ts: str) -> Liquidation:
    if not isinstance(d, dict):
        raise ParseError(VENUE, "data", "expected an object per liquidation")
    market = perp_market(VENUE, str(d.get(sym, "")))
    raw_side = str(d.get(side, ""))
    if raw_side not in POSITION_SIDE:
        raise ParseError(VENUE, side, f"expected Buy or Sell, got {raw_side!r}")
    return Liquidation(
        VENUE,
        market.symbol,
        millis(VENUE, d, ts),
        POSITION_SIDE[raw_side],
        number(VENUE, d, price),
        number(VENUE, d, size),
        sampled=False,
    )
