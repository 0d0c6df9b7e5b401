"""Venue adapters. ``parse(venue, message, received_at)`` turns one raw stream message into domain records;
``parse_into`` appends them to a :class:`~levradar.domain.records.Rows` batch (the recorder's fast path).

Raw payload shapes stay inside this package; everything else sees domain records (``levradar.domain.records``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from levradar.domain.records import Rows, _Record, utc_us
from levradar.venues import binance, bybit, hyperliquid, okx
from levradar.venues.common import ParseError

Parser = Callable[[dict[str, Any], int, Rows], None]

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

    ``contract_values`` (coin per contract by asset) applies to venues quoting sizes in contracts (OKX). A
    :class:`ParseError` carries the records of a partly readable message's valid items in ``records``."""
    rows = Rows()
    try:
        parse_into(rows, venue, message, utc_us(received_at), contract_values)
    except ParseError as exc:
        exc.records = rows.records()
        raise
    return rows.records()


def parse_into(
    out: Rows,
    venue: str,
    message: dict[str, Any],
    received_us: int,
    contract_values: Mapping[str, float] | None = None,
) -> None:
    """Append the records one stream message carries to ``out`` (``received_us``: its receipt, UTC microseconds).

    On any error the message adds nothing, except a partial :class:`ParseError`: the valid items of a partly
    readable message stay. Identical fills inside one message are separate fills (``Rows.number_fills``)."""
    start = len(out.rows)
    try:
        if venue == "okx":
            okx.parse(message, received_us, out, contract_values)
        else:
            try:
                parser = PARSERS[venue]
            except KeyError:
                raise ParseError(venue, "venue", f"no stream parser; known: {', '.join(PARSERS)}") from None
            parser(message, received_us, out)
    except ParseError as exc:
        if not exc.partial:
            out.rollback(start)
        out.number_fills(start)
        raise
    except BaseException:
        out.rollback(start)
        raise
    if len(out.rows) - start > 1:
        out.number_fills(start)


__all__ = ["PARSERS", "ParseError", "parse", "parse_into"]
