"""Helpers shared by the venue parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from levradar.domain.datasets import EARLIEST_TS, QTY_MAX
from levradar.domain.records import utc_us
from levradar.domain.symbols import Market, SymbolError, canonical_market


class ParseError(ValueError):
    """A venue message that cannot be turned into records: names the venue, the field and the problem."""

    def __init__(self, venue: str, field: str, problem: str, *, partial: bool = False) -> None:
        super().__init__(f"{venue}: {field}: {problem}")
        self.venue, self.field, self.problem = venue, field, problem
        self.partial = partial  # the message's other, valid items were kept
        self.records: list[Any] = []  # those items as records (levradar.venues.parse)


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


# A plain decimal as venues write numbers in strings: ASCII digits, an optional sign, point and exponent. Python's
# float() also takes "1_000", Unicode digits, "NaN" and "inf"; a venue never means those: a string must be ASCII
# without "_" (float() then accepts exactly the plain decimals, hex and the like raising) and finite.
MAX_MAGNITUDE = QTY_MAX  # the largest figure any dataset accepts (docs/data.md, plausible ranges)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_MS_RANGE = (EARLIEST_TS.timestamp() * 1000, LATEST.timestamp() * 1000)
_MS_INT_RANGE = (int(_MS_RANGE[0]), int(_MS_RANGE[1]))


def _show(raw: Any) -> str:
    text = raw if isinstance(raw, str) else type(raw).__name__ if isinstance(raw, dict | list) else str(raw)
    return repr(text[:40] + "…" if len(text) > 40 else text)


def number(venue: str, payload: dict[str, Any], key: str) -> float:
    """A finite number from ``payload[key]``: a JSON number (not ``true``/``false``) or a plain ASCII decimal string
    (venues send numbers as strings), of a magnitude below ``MAX_MAGNITUDE``; anything else is a ParseError."""
    try:
        raw = payload[key]
    except (KeyError, TypeError, IndexError):  # TypeError: not an object where one belongs
        raise ParseError(venue, key, "missing") from None
    return _number(venue, key, raw)


def _number(venue: str, key: str, raw: Any) -> float:
    kind = type(raw)
    if kind is str:
        if not raw.isascii() or "_" in raw:
            raise ParseError(venue, key, f"not a plain decimal number: {_show(raw)}")
        try:
            value = float(raw)
        except ValueError:
            raise ParseError(venue, key, f"not a plain decimal number: {_show(raw)}") from None
    elif kind is float or kind is int:
        try:
            value = float(raw)
        except OverflowError:
            raise ParseError(venue, key, f"not a representable number: {_show(raw)}") from None
    else:  # bool, None, containers
        raise ParseError(venue, key, f"not a number: {_show(raw)}")
    if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:  # NaN and infinities fail too
        named = kind is str and raw.strip().lstrip("+-")[:1].isalpha()  # "nan", "inf", "Infinity"
        raise ParseError(
            venue, key, f"{'not a plain decimal number' if named else 'out of range'}: {_show(raw)}"
        )
    return value


def optional_number(venue: str, payload: dict[str, Any], key: str) -> float | None:
    """:func:`number`, or None where ``payload[key]`` is absent, null or empty."""
    raw = payload.get(key)
    return None if raw is None or raw == "" else _number(venue, key, raw)


def epoch_us(venue: str, payload: dict[str, Any], key: str, default: int | None = None) -> int:
    """A UTC time as microseconds since the epoch from epoch milliseconds in ``payload[key]`` (``default`` when
    absent), between 2009 and 2100; a fraction of a millisecond rounds to the microsecond as ``datetime`` does."""
    if key not in payload and default is not None:
        return default
    # the common cases first, read as number() reads them: an integer, or a short string of ASCII digits
    raw = payload.get(key) if type(payload) is dict else None
    if type(raw) is str and len(raw) < 17 and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if type(raw) is int and _MS_INT_RANGE[0] <= raw < _MS_INT_RANGE[1]:
        return raw * 1000
    value = number(venue, payload, key)
    if not _MS_RANGE[0] <= value < _MS_RANGE[1]:
        raise ParseError(
            venue, key, f"not an epoch-milliseconds time between 2009 and 2100: {_show(payload[key])}"
        )
    if value.is_integer():
        return int(value) * 1000
    return utc_us(datetime.fromtimestamp(value / 1000.0, tz=UTC))
