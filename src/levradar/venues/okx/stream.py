"""OKX v5 public channels: ``liquidation-orders``, ``mark-price``, ``index-tickers``, ``open-interest``,
``funding-rate`` (the coming settlement's rate: predicted funding).

``liquidation-orders``: ``posSide`` is the liquidated position's side (``side`` is the order's); ``sz`` is in
*contracts*, converted to coin with the instrument's contract value (refused when unknown); ``bkPx`` is the
bankruptcy price; the feed is sampled (at most one per symbol per second). ``open-interest``: ``oi`` contracts,
``oiCcy`` coin. ``funding-rate`` pushes the current period's rate before it settles: not stored as a settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from levradar.domain.records import Rows, Side
from levradar.domain.venues import CONTRACT_SIZES
from levradar.venues.common import ParseError, epoch_us, number, perp_market

VENUE = "okx"
POS_SIDE: dict[str, Side] = {"long": "long", "short": "short"}


DEFAULT_CONTRACT_VALUES = {asset: size for (venue, asset), size in CONTRACT_SIZES.items() if venue == VENUE}


def parse(
    message: dict[str, Any], received_us: int, out: Rows, contract_values: Mapping[str, float] | None = None
) -> None:
    """``contract_values``: coin per contract by asset (the synced instrument list); the built-in table otherwise.

    The liquidation channel carries every swap: an item that cannot be read (an unknown contract value, say) is
    refused with a partial :class:`ParseError`, the message's other items kept in ``out``."""
    arg = message.get("arg")
    data = message.get("data")
    if not isinstance(arg, dict) or "data" not in message:
        return  # subscription acknowledgements, errors, pongs
    if not isinstance(data, list):
        raise ParseError(VENUE, "data", f"{arg.get('channel')} expects a list")
    channel = arg.get("channel")
    values = DEFAULT_CONTRACT_VALUES if contract_values is None else contract_values
    refused: list[ParseError] = []
    for item in data:
        if not isinstance(item, dict):
            raise ParseError(VENUE, "data", "expected an object per item")
        if channel == "liquidation-orders":
            start = len(out.rows)
            try:
                _liquidations(item, values, out)
            except ParseError as exc:
                out.rollback(start)  # none of the refused item's fills
                refused.append(exc)
        elif channel == "mark-price":
            market = perp_market(VENUE, str(item.get("instId", "")))
            out.mark_index(
                VENUE, market.symbol, epoch_us(VENUE, item, "ts"), number(VENUE, item, "markPx"), None
            )
        elif channel == "index-tickers":
            market = perp_market(VENUE, str(item.get("instId", "")) + "-SWAP")
            out.mark_index(
                VENUE, market.symbol, epoch_us(VENUE, item, "ts"), None, number(VENUE, item, "idxPx")
            )
        elif channel == "funding-rate" and item.get("fundingRate") not in (None, ""):
            # the rate of the coming settlement at fundingTime (not a settlement); old frames carry only the next
            market = perp_market(VENUE, str(item.get("instId", "")))
            settles = epoch_us(VENUE, item, "fundingTime")
            following = epoch_us(VENUE, item, "nextFundingTime") if item.get("nextFundingTime") else None
            hours = (following - settles) / 10**6 / 3600 if following and following > settles else None
            when = epoch_us(VENUE, item, "ts", default=received_us)
            rate = number(VENUE, item, "fundingRate")
            out.predicted_funding(VENUE, market.symbol, when, rate, settles, hours)
        elif channel == "open-interest":
            market = perp_market(VENUE, str(item.get("instId", "")))
            when = epoch_us(VENUE, item, "ts", default=received_us)
            coin, contracts = number(VENUE, item, "oiCcy"), number(VENUE, item, "oi")
            out.open_interest(VENUE, market.symbol, when, contracts, "contracts", coin, None)
    if refused:
        first = refused[0]
        raise ParseError(
            VENUE, first.field, f"{len(refused)} item(s) refused, first: {first.problem}", partial=True
        )


def _liquidations(item: dict[str, Any], contract_values: Mapping[str, float], out: Rows) -> None:
    inst = str(item.get("instId", ""))
    if not inst.endswith("-SWAP"):
        raise ParseError(VENUE, "instId", f"{inst!r} is not a perpetual swap")
    market = perp_market(VENUE, inst)
    size = contract_values.get(market.asset)
    if size is None:
        raise ParseError(VENUE, "sz", f"contract value of {inst} unknown: cannot convert contracts to coin")
    for d in item.get("details") or []:
        side = str(d.get("posSide", ""))
        if side not in POS_SIDE:
            raise ParseError(VENUE, "posSide", f"expected long or short, got {side!r}")
        out.liquidation(
            VENUE,
            market.symbol,
            epoch_us(VENUE, d, "ts"),
            POS_SIDE[side],
            number(VENUE, d, "bkPx"),
            number(VENUE, d, "sz") * size,
            sampled=True,
        )
