"""OKX v5 public channels: ``liquidation-orders``, ``mark-price``, ``index-tickers``, ``open-interest``,
``funding-rate`` (the coming settlement's rate: predicted funding).

``liquidation-orders``: ``posSide`` is the liquidated position's side (``side`` is the order's); ``sz`` is in
*contracts*, converted to coin with the instrument's contract value (refused when unknown); ``bkPx`` is the
bankruptcy price; the feed is sampled (at most one per symbol per second). ``open-interest``: ``oi`` contracts,
``oiCcy`` coin. ``funding-rate`` pushes the current period's rate before it settles: not stored as a settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from levradar.domain.records import Liquidation, MarkIndex, OpenInterest, PredictedFunding, Side, _Record
from levradar.domain.venues import CONTRACT_SIZES
from levradar.venues.common import ParseError, millis, number, perp_market

VENUE = "okx"
POS_SIDE: dict[str, Side] = {"long": "long", "short": "short"}


DEFAULT_CONTRACT_VALUES = {asset: size for (venue, asset), size in CONTRACT_SIZES.items() if venue == VENUE}


def parse(
    message: dict[str, Any], received_at: datetime, contract_values: Mapping[str, float] | None = None
) -> list[_Record]:
    """``contract_values``: coin per contract by asset (the synced instrument list); the built-in table otherwise.

    The liquidation channel carries every swap: an item that cannot be read (an unknown contract value, say) is
    refused with a :class:`ParseError` that still carries the records of the message's other items."""
    arg = message.get("arg")
    data = message.get("data")
    if not isinstance(arg, dict) or "data" not in message:
        return []  # subscription acknowledgements, errors, pongs
    if not isinstance(data, list):
        raise ParseError(VENUE, "data", f"{arg.get('channel')} expects a list")
    channel = arg.get("channel")
    values = DEFAULT_CONTRACT_VALUES if contract_values is None else contract_values
    out: list[_Record] = []
    refused: list[ParseError] = []
    for item in data:
        if not isinstance(item, dict):
            raise ParseError(VENUE, "data", "expected an object per item")
        if channel == "liquidation-orders":
            try:
                out.extend(_liquidations(item, values))
            except ParseError as exc:
                refused.append(exc)
        elif channel == "mark-price":
            market = perp_market(VENUE, str(item.get("instId", "")))
            out.append(
                MarkIndex(
                    VENUE, market.symbol, millis(VENUE, item, "ts"), number(VENUE, item, "markPx"), None
                )
            )
        elif channel == "index-tickers":
            market = perp_market(VENUE, str(item.get("instId", "")) + "-SWAP")
            out.append(
                MarkIndex(VENUE, market.symbol, millis(VENUE, item, "ts"), None, number(VENUE, item, "idxPx"))
            )
        elif channel == "funding-rate" and item.get("fundingRate") not in (None, ""):
            # the rate of the coming settlement at fundingTime (not a settlement); old frames carry only the next
            market = perp_market(VENUE, str(item.get("instId", "")))
            settles = millis(VENUE, item, "fundingTime")
            following = millis(VENUE, item, "nextFundingTime") if item.get("nextFundingTime") else None
            hours = (
                (following - settles).total_seconds() / 3600 if following and following > settles else None
            )
            when = millis(VENUE, item, "ts", default=received_at)
            rate = number(VENUE, item, "fundingRate")
            out.append(PredictedFunding(VENUE, market.symbol, when, rate, settles, hours))
        elif channel == "open-interest":
            market = perp_market(VENUE, str(item.get("instId", "")))
            when = millis(VENUE, item, "ts", default=received_at)
            coin, contracts = number(VENUE, item, "oiCcy"), number(VENUE, item, "oi")
            out.append(OpenInterest(VENUE, market.symbol, when, contracts, "contracts", coin, None))
    if refused:
        first = refused[0]
        raise ParseError(VENUE, first.field, f"{len(refused)} item(s) refused, first: {first.problem}", out)
    return out


def _liquidations(item: dict[str, Any], contract_values: Mapping[str, float]) -> list[_Record]:
    inst = str(item.get("instId", ""))
    if not inst.endswith("-SWAP"):
        raise ParseError(VENUE, "instId", f"{inst!r} is not a perpetual swap")
    market = perp_market(VENUE, inst)
    size = contract_values.get(market.asset)
    if size is None:
        raise ParseError(VENUE, "sz", f"contract value of {inst} unknown: cannot convert contracts to coin")
    out: list[_Record] = []
    for d in item.get("details") or []:
        side = str(d.get("posSide", ""))
        if side not in POS_SIDE:
            raise ParseError(VENUE, "posSide", f"expected long or short, got {side!r}")
        out.append(
            Liquidation(
                VENUE,
                market.symbol,
                millis(VENUE, d, "ts"),
                POS_SIDE[side],
                number(VENUE, d, "bkPx"),
                number(VENUE, d, "sz") * size,
                sampled=True,
            )
        )
    return out
