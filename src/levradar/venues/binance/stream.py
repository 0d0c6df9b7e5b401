"""Binance USDⓈ-M futures streams: ``forceOrder``, ``markPrice``, ``openInterest``.

``forceOrder``: ``S`` is the side of the *forced order*: SELL closes a long, so a SELL means a long was liquidated.
Binance sends at most one liquidation per symbol per second (the feed is sampled: ``sampled=True``).
``markPrice``: mark ``p`` and index ``i``; ``r`` is the *predicted* rate of the coming settlement at ``T``, stored
as predicted funding (never as a settlement).
"""

from __future__ import annotations

from typing import Any

from levradar.domain.records import Liquidation, Rows, oi_from_raw
from levradar.venues.common import ParseError, epoch_us, number, optional_number, perp_market

VENUE = "binance"


def parse(message: dict[str, Any], received_us: int, out: Rows) -> None:
    data = message.get("data", message)
    if not isinstance(data, dict):
        raise ParseError(VENUE, "data", "expected an object")
    event = data.get("e")
    if event == "forceOrder":
        _force_order(data, out)
    elif event == "markPriceUpdate":
        market = perp_market(VENUE, str(data.get("s", "")))
        when = epoch_us(VENUE, data, "E")
        out.mark_index(
            VENUE, market.symbol, when, number(VENUE, data, "p"), optional_number(VENUE, data, "i")
        )
        predicted = optional_number(VENUE, data, "r")
        if predicted is not None:  # the coming settlement's rate; the symbol's interval is not in the message
            settles = epoch_us(VENUE, data, "T") if data.get("T") else None
            out.predicted_funding(VENUE, market.symbol, when, predicted, settles)
    elif "openInterest" in data and "symbol" in data:
        market = perp_market(VENUE, str(data["symbol"]))
        when = epoch_us(VENUE, data, "time", default=received_us)
        value = number(VENUE, data, "openInterest")
        out.open_interest(VENUE, market.symbol, when, value, "coin", *oi_from_raw(value, "coin"))


def _force_order(data: dict[str, Any], out: Rows) -> None:
    order = data.get("o")
    if not isinstance(order, dict):
        raise ParseError(VENUE, "o", "forceOrder without its order object")
    market = perp_market(VENUE, str(order.get("s", "")))
    # every size and price of the order is read, used or not: a message with one corrupt number is not trusted
    quantity, limit = number(VENUE, order, "q"), number(VENUE, order, "p")
    filled = optional_number(VENUE, order, "z") or quantity
    price = optional_number(VENUE, order, "ap") or limit
    side = str(order.get("S", ""))
    if side not in ("BUY", "SELL"):
        raise ParseError(VENUE, "S", f"expected BUY or SELL, got {side!r}")
    out.liquidation(
        VENUE,
        market.symbol,
        epoch_us(VENUE, order, "T"),
        Liquidation.side_from_order(side),
        price,
        filled,
        sampled=True,
    )
