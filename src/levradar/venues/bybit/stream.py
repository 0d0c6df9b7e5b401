"""Bybit v5 public streams: ``allLiquidation.<symbol>``, ``liquidation.<symbol>``, ``tickers.<symbol>``.

Liquidation ``S`` / ``side`` is the side of the *position* that was liquidated (Buy = a long was liquidated), the
opposite convention to Binance; ``p`` is the bankruptcy price, ``v`` the size in coin. ``allLiquidation`` carries
every liquidation (not sampled). Ticker deltas carry only the fields that changed: each present field gives a
record. Linear ``openInterest`` is in coin; ``fundingRate`` is the current period's rate, not a settlement: stored
as predicted funding for ``nextFundingTime`` (with ``fundingIntervalHour`` where sent).
"""

from __future__ import annotations

from typing import Any

from levradar.domain.records import Rows, Side, oi_from_raw
from levradar.venues.common import ParseError, epoch_us, number, optional_number, perp_market

VENUE = "bybit"
POSITION_SIDE: dict[str, Side] = {"Buy": "long", "Sell": "short"}


def parse(message: dict[str, Any], received_us: int, out: Rows) -> None:
    topic = str(message.get("topic", ""))
    data = message.get("data")
    if topic.startswith("allLiquidation."):
        if not isinstance(data, list):
            raise ParseError(VENUE, "data", "allLiquidation expects a list")
        for d in data:
            _liquidation(d, "s", "S", "v", "p", "T", out)
    elif topic.startswith("liquidation."):
        if not isinstance(data, dict):
            raise ParseError(VENUE, "data", "liquidation expects an object")
        _liquidation(data, "symbol", "side", "size", "price", "updatedTime", out)
    elif topic.startswith("tickers."):
        if not isinstance(data, dict):
            raise ParseError(VENUE, "data", "tickers expects an object")
        market = perp_market(VENUE, str(data.get("symbol", topic.split(".", 1)[1])))
        when = epoch_us(VENUE, message, "ts", default=received_us)
        mark, index = optional_number(VENUE, data, "markPrice"), optional_number(VENUE, data, "indexPrice")
        if mark is not None or index is not None:
            out.mark_index(VENUE, market.symbol, when, mark, index)
        oi = optional_number(VENUE, data, "openInterest")
        if oi is not None:
            out.open_interest(VENUE, market.symbol, when, oi, "coin", *oi_from_raw(oi, "coin", price=mark))
        rate = optional_number(VENUE, data, "fundingRate")
        if rate is not None:  # the current period's rate, settled at nextFundingTime
            settles = epoch_us(VENUE, data, "nextFundingTime") if data.get("nextFundingTime") else None
            hours = optional_number(VENUE, data, "fundingIntervalHour")
            out.predicted_funding(VENUE, market.symbol, when, rate, settles, hours)


def _liquidation(d: dict[str, Any], sym: str, side: str, size: str, price: str, ts: str, out: Rows) -> None:
    if not isinstance(d, dict):
        raise ParseError(VENUE, "data", "expected an object per liquidation")
    market = perp_market(VENUE, str(d.get(sym, "")))
    raw_side = str(d.get(side, ""))
    if raw_side not in POSITION_SIDE:
        raise ParseError(VENUE, side, f"expected Buy or Sell, got {raw_side!r}")
    out.liquidation(
        VENUE,
        market.symbol,
        epoch_us(VENUE, d, ts),
        POSITION_SIDE[raw_side],
        number(VENUE, d, price),
        number(VENUE, d, size),
        sampled=False,
    )
