"""Venue adapters. ``parse(venue, message, received_at)`` turns one raw stream message into domain records.

Raw payload shapes stay inside this package; everything else sees domain records (``levradar.domain.records``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from levradar.domain.records import Liquidation, _Record
from levradar.venues import binance, bybit, hyperliquid, okx
from levradar.venues.common import ParseError

Parser = Callable[[dict[str, Any], datetime], list[_Record]]

PARSERS: dict[str, Parser] = {
    "binance": binance.parse,
    "bybit": bybit.parse,
    "okx": okx.parse,
    "hyperliquid": hyperliquid.parse,
}


def parse(
    venue: str,
    message: dict[str, Any],
    received_at: datetime,
    contract_values: Mapping[str, float] | None = None,
) -> list[_Record]:
    """Records carried by one stream message of ``venue`` (empty for messages with nothing to store).

    ``contract_values`` (coin per contract by asset) applies to venues quoting sizes in contracts (OKX)."""
    if venue == "okx":
        try:
            return _number_identical_fills(okx.parse(message, received_at, contract_values))
        except ParseError as exc:
            exc.records = _number_identical_fills(exc.records)
            raise
    try:
        parser = PARSERS[venue]
    except KeyError:
        raise ParseError(venue, "venue", f"no stream parser; known: {', '.join(PARSERS)}") from None
    return _number_identical_fills(parser(message, received_at))


def _number_identical_fills(records: list[_Record]) -> list[_Record]:
    """Identical fills inside one message are separate fills (seq 0, 1, …); the same fill delivered again in
    another message after a reconnect keeps seq 0, so the store holds it once."""
    seen: dict[tuple[object, ...], int] = {}
    out: list[_Record] = []
    for r in records:
        if isinstance(r, Liquidation):
            key = (r.venue, r.symbol, r.ts, r.liquidated_side, r.price, r.qty_base)
            seen[key] = seen.get(key, -1) + 1
            r = replace(r, seq=seen[key]) if seen[key] else r
        out.append(r)
    return out


__all__ = ["PARSERS", "ParseError", "parse"]
