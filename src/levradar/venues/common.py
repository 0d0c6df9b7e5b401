"""Helpers shared by the venue parsers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from levradar.domain.symbols import Market, SymbolError, canonical_market


class ParseError(ValueError):
    """A venue message that cannot be turned into records: names the venue, the field and the problem."""

    def __init__(self, venue: str, field: str, problem: str, records: list[Any] | None = None) -> None:
        super().__init__(f"{venue}: {field}: {problem}")
        self.venue, self.field, self.problem = venue, field, problem
        self.records: list[Any] = records or []  # what the message's other, valid items carried


@lru_cache(maxsize=4096)
def perp_market(venue: str, raw_symbol: str, quotes: tuple[str, ...] = ("USDT", "USDC")) -> Market:
    """The linear perpetual a venue symbol names; anything else (inverse, dated futures) is refused."""
    try:
        market = canonical_market(venue, raw_symbol)
    except SymbolError as exc:
        raise ParseError(
            venue, "symbol", f"{raw_symbol!r} is not a perpetual levradar follows ({exc})"
        ) from None
    if market.quote not in quotes or market.symbol != raw_symbol:
        # streams name a perpetual in the venue's own spelling; anything else (BTCUSD, BTCUSDU23) is another product
        raise ParseError(venue, "symbol", f"{raw_symbol!r} is not a linear USDT/USDC perpetual")
    return market


def number(venue: str, payload: dict[str, Any], key: str) -> float:
    """A finite number from ``payload[key]`` (venues send numbers as strings)."""
    try:
        value = float(payload[key])
    except KeyError:
        raise ParseError(venue, key, "missing") from None
    except (TypeError, ValueError):
        raise ParseError(venue, key, f"not a number: {payload[key]!r}") from None
    if not math.isfinite(value):
        raise ParseError(venue, key, f"not a finite number: {payload[key]!r}")
    return value


def optional_number(venue: str, payload: dict[str, Any], key: str) -> float | None:
    return number(venue, payload, key) if payload.get(key) not in (None, "") else None


def millis(venue: str, payload: dict[str, Any], key: str, default: datetime | None = None) -> datetime:
    """A UTC time from epoch milliseconds in ``payload[key]`` (``default`` when absent)."""
    if key not in payload and default is not None:
        return default
    return datetime.fromtimestamp(number(venue, payload, key) / 1000.0, tz=UTC)
