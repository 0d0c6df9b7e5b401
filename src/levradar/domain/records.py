"""Typed domain records: what venue parsers produce and the rest of the code consumes.

Each record validates itself on construction; :func:`records_frame` builds a canonical dataset frame from many
records of one type. :class:`Rows` holds many records of several types as plain tuples (what the stream parsers
append to: each row checked by its type's own rules, no Python object per record) and turns them into one canonical
frame per dataset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any, ClassVar, Literal

import polars as pl

from levradar.domain.datasets import CANDLE_INTERVALS, QUALITY_VENUE, dataset
from levradar.domain.symbols import canonical_market
from levradar.domain.units import OI_UNITS, oi_base_from_raw, oi_usd_from_base
from levradar.domain.units import rate_8h as per_8h

Side = Literal["long", "short"]


class RecordError(ValueError):
    """A record's fields break a rule of its type."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
HOUR_US = (
    3_600_000_000  # an hour in microseconds (times are epoch µs in the row batches and the compiled loops)
)
DAY_US = 24 * HOUR_US


def utc_us(ts: datetime) -> int:
    """Microseconds since the epoch of an aware time (exact)."""
    return (ts - EPOCH) // _US


def from_us(us: int) -> datetime:
    """The aware UTC time ``us`` microseconds after the epoch (exact)."""
    return EPOCH + timedelta(microseconds=us)


def _utc(ts: datetime, name: str) -> datetime:
    if ts.tzinfo is None:
        raise RecordError(f"{name} must be timezone-aware (UTC), got naive {ts!r}")
    return ts.astimezone(UTC)


def _finite(value: float, name: str, *, positive: bool = False, non_negative: bool = False) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise RecordError(f"{name} must be positive, got {value!r}")
    if non_negative and value < 0:
        raise RecordError(f"{name} must not be negative, got {value!r}")


# The same rules, quick where the value is a float that obeys them (what a parser gives); the rest is decided,
# and its error worded, by _finite.
def _positive(value: float, name: str) -> None:
    if not (type(value) is float and 0.0 < value < math.inf):
        _finite(value, name, positive=True)


def _non_negative(value: float, name: str) -> None:
    if not (type(value) is float and 0.0 <= value < math.inf):
        _finite(value, name, non_negative=True)


def _any_finite(value: float, name: str) -> None:
    if not (type(value) is float and -math.inf < value < math.inf):
        _finite(value, name)


@dataclass(frozen=True)
class _Record:
    dataset_name: ClassVar[str]
    venue: str
    symbol: str

    @property
    def asset(self) -> str:
        return canonical_market(self.venue, self.symbol).asset


@dataclass(frozen=True)
class Candle(_Record):
    dataset_name: ClassVar[str] = "candles"
    interval: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume_base: float | None = None
    volume_quote: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        if self.interval not in CANDLE_INTERVALS:
            raise RecordError(f"interval must be one of {', '.join(CANDLE_INTERVALS)}, got {self.interval!r}")
        for name in ("open", "high", "low", "close"):
            _finite(getattr(self, name), name, positive=True)
        if self.high < max(self.open, self.close, self.low) or self.low > min(self.open, self.close):
            raise RecordError(
                f"high/low {self.high}/{self.low} do not enclose open/close {self.open}/{self.close}"
            )


@dataclass(frozen=True)
class FundingSettlement(_Record):
    """One funding payment: ``rate`` is for one period of ``interval_hours``."""

    dataset_name: ClassVar[str] = "funding"
    ts: datetime
    rate: float
    interval_hours: float
    interval_source: str = "venue"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        _finite(self.rate, "rate")
        _finite(self.interval_hours, "interval_hours", positive=True)

    @property
    def rate_8h(self) -> float:
        return per_8h(self.rate, self.interval_hours)


@dataclass(frozen=True)
class OpenInterest(_Record):
    """Open interest as the venue reported it (``raw_value`` in ``raw_unit``), normalised to coin and USD."""

    dataset_name: ClassVar[str] = "open_interest"
    ts: datetime
    raw_value: float
    raw_unit: str
    oi_base: float
    oi_usd: float | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        self.check(self.raw_value, self.raw_unit, self.oi_base)

    @staticmethod
    def check(raw_value: float, raw_unit: str, oi_base: float) -> None:
        """The rules of an open-interest figure (a :class:`RecordError` naming the first one broken)."""
        if raw_unit not in OI_UNITS:
            raise RecordError(f"raw_unit must be one of {', '.join(OI_UNITS)}, got {raw_unit!r}")
        _non_negative(raw_value, "raw_value")
        _non_negative(oi_base, "oi_base")

    @classmethod
    def from_raw(
        cls,
        venue: str,
        symbol: str,
        ts: datetime,
        value: float,
        unit: str,
        *,
        price: float | None = None,
        contract_size: float | None = None,
    ) -> OpenInterest:
        """Normalise a venue's raw OI (coin, USD or contracts) with the price and contract size it needs."""
        return cls(venue, symbol, ts, value, unit, *oi_from_raw(value, unit, price, contract_size))


def oi_from_raw(
    value: float, unit: str, price: float | None = None, contract_size: float | None = None
) -> tuple[float, float | None]:
    """``(oi_base, oi_usd)`` of a venue's raw OI: USD where the venue gave it or a price values the coin."""
    base = oi_base_from_raw(value, unit, price=price, contract_size=contract_size)
    return base, value if unit == "usd" else (oi_usd_from_base(base, price) if price else None)


@dataclass(frozen=True)
class Liquidation(_Record):
    """One forced fill. ``liquidated_side`` is the side of the position that was liquidated."""

    dataset_name: ClassVar[str] = "liquidations"
    ts: datetime
    liquidated_side: Side
    price: float
    qty_base: float
    sampled: bool = False
    seq: int = 0  # numbers fills identical in every field within one venue message (they are separate fills)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        self.check(self.liquidated_side, self.price, self.qty_base)

    @staticmethod
    def check(liquidated_side: str, price: float, qty_base: float) -> None:
        """The rules of a fill (a :class:`RecordError` naming the first one broken)."""
        if liquidated_side not in ("long", "short"):
            raise RecordError(f"liquidated_side must be 'long' or 'short', got {liquidated_side!r}")
        _positive(price, "price")
        _positive(qty_base, "qty_base")

    @staticmethod
    def side_from_order(order_side: str) -> Side:
        """The liquidated position's side from the forced order's side: a forced SELL closes a long."""
        side = order_side.strip().lower()
        if side in ("sell", "s", "ask", "a"):
            return "long"
        if side in ("buy", "b", "bid"):
            return "short"
        raise RecordError(f"unknown order side {order_side!r}")

    @property
    def notional_usd(self) -> float:
        return self.price * self.qty_base


@dataclass(frozen=True)
class MarkIndex(_Record):
    dataset_name: ClassVar[str] = "mark_index"
    ts: datetime
    mark: float | None
    index: float | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        self.check(self.mark, self.index)

    @staticmethod
    def check(mark: float | None, index: float | None) -> None:
        """The rules of a mark/index pair (a :class:`RecordError` naming the first one broken)."""
        if mark is not None:
            _positive(mark, "mark")
        if index is not None:
            _positive(index, "index")

    @property
    def basis(self) -> float | None:
        """Perp premium over the index, as a fraction of the index."""
        return None if self.mark is None or self.index is None else (self.mark - self.index) / self.index


@dataclass(frozen=True)
class PredictedFunding(_Record):
    """The rate a venue quotes at ``ts`` for its settlement at ``settles_at`` (not a settlement itself);
    ``interval_hours`` where the message says it."""

    dataset_name: ClassVar[str] = "predicted_funding"
    ts: datetime
    rate: float
    settles_at: datetime | None = None
    interval_hours: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))
        if self.settles_at is not None:
            object.__setattr__(self, "settles_at", _utc(self.settles_at, "settles_at"))
        self.check(self.rate, self.interval_hours)

    @staticmethod
    def check(rate: float, interval_hours: float | None) -> None:
        """The rules of a quoted rate (a :class:`RecordError` naming the first one broken)."""
        _any_finite(rate, "rate")
        if interval_hours is not None:
            _positive(interval_hours, "interval_hours")


@dataclass(frozen=True)
class Instrument(_Record):
    """Static facts about a market (stored in the ``instruments`` table)."""

    dataset_name: ClassVar[str] = "instruments"
    quote: str
    contract_size: float | None = None  # coin per contract
    contract_unit: str | None = None
    funding_interval_hours: float | None = None
    tiers_json: str | None = None  # maintenance-margin tiers as published by the venue


def records_frame(
    records: Sequence[_Record] | Iterable[_Record], *, source: str, quality: int = QUALITY_VENUE
) -> pl.DataFrame:
    """A canonical frame for one dataset from records of one type."""
    items = list(records)
    if not items:
        raise RecordError("no records")
    kinds = {type(r) for r in items}
    if len(kinds) != 1:
        raise RecordError(f"records of several types: {', '.join(sorted(k.__name__ for k in kinds))}")
    names = [f.name for f in fields(items[0])]
    rows = map(attrgetter(*names), items)  # one tuple per record (every record has several fields)
    data = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
    return _canonical(items[0].dataset_name, pl.DataFrame(data, strict=False), source, quality)


def _canonical(name: str, frame: pl.DataFrame, source: str, quality: int) -> pl.DataFrame:
    """Records' fields as the dataset's canonical frame: market names resolved, derived columns added (notional,
    USD method) and every column cast to its canonical type (times given as epoch microseconds included)."""
    ds = dataset(name)
    pairs = frame.select("venue", "symbol").unique().rows()
    markets = [canonical_market(venue, symbol) for venue, symbol in pairs]
    lookup = pl.DataFrame(
        {
            "venue": [v for v, _ in pairs],
            "symbol": [s for _, s in pairs],
            "_venue": [m.venue for m in markets],
            "_symbol": [m.symbol for m in markets],
            "asset": [m.asset for m in markets],
        },
        schema={c: pl.String for c in ("venue", "symbol", "_venue", "_symbol", "asset")},
    )
    frame = (
        frame.join(lookup, on=["venue", "symbol"], how="left", maintain_order="left")
        .drop("venue", "symbol")
        .rename({"_venue": "venue", "_symbol": "symbol"})
        .with_columns(source=pl.lit(source), quality=pl.lit(quality))
    )
    if ds.name == "liquidations":
        frame = frame.with_columns(notional_usd=pl.col("price") * pl.col("qty_base"))
    if ds.name == "open_interest":
        usd_method = pl.when(pl.col("raw_unit") == "usd").then(pl.lit("venue"))
        frame = frame.with_columns(
            usd_method=usd_method.when(pl.col("oi_usd").is_not_null()).then(pl.lit("coin_x_price_at_ts"))
        )
    columns = [
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in ds.columns.items()
    ]
    return frame.select(columns)


# -- many records as rows ------------------------------------------------------------------------------------------


def _layout(kind: type[_Record]) -> tuple[tuple[str, ...], dict[str, Any], tuple[int, ...]]:
    """A record type's field names, their frame types (times as epoch microseconds) and where its times sit."""
    names = tuple(f.name for f in fields(kind))
    types = {"str": pl.String, "float": pl.Float64, "bool": pl.Boolean, "int": pl.Int32, "Side": pl.String}
    schema = {}
    times = []
    for i, f in enumerate(fields(kind)):
        kind_name = str(f.type).removesuffix(" | None")
        schema[f.name] = pl.Int64 if kind_name == "datetime" else types[kind_name]
        if kind_name == "datetime":
            times.append(i)
    return names, schema, tuple(times)


class Rows:
    """Records of several types in arrival order, each a plain tuple ``(dataset name, *fields)`` with its times in
    UTC microseconds since the epoch, checked on the way in by its type's own rules (``Type.check``). Nothing in a
    row is a container, so the garbage collector stops tracking it.

    What the stream parsers append to: a batch of many messages becomes one canonical frame per dataset
    (:meth:`frames`) without a Python object per record; :meth:`records` gives the records themselves."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def liquidation(
        self, venue: str, symbol: str, ts: int, side: str, price: float, qty_base: float, *, sampled: bool
    ) -> None:
        Liquidation.check(side, price, qty_base)
        self.rows.append((Liquidation.dataset_name, venue, symbol, ts, side, price, qty_base, sampled, 0))

    def mark_index(self, venue: str, symbol: str, ts: int, mark: float | None, index: float | None) -> None:
        MarkIndex.check(mark, index)
        self.rows.append((MarkIndex.dataset_name, venue, symbol, ts, mark, index))

    def open_interest(
        self,
        venue: str,
        symbol: str,
        ts: int,
        raw_value: float,
        raw_unit: str,
        oi_base: float,
        oi_usd: float | None,
    ) -> None:
        OpenInterest.check(raw_value, raw_unit, oi_base)
        self.rows.append((OpenInterest.dataset_name, venue, symbol, ts, raw_value, raw_unit, oi_base, oi_usd))

    def predicted_funding(
        self,
        venue: str,
        symbol: str,
        ts: int,
        rate: float,
        settles_at: int | None = None,
        interval_hours: float | None = None,
    ) -> None:
        PredictedFunding.check(rate, interval_hours)
        self.rows.append((PredictedFunding.dataset_name, venue, symbol, ts, rate, settles_at, interval_hours))

    def add(self, record: _Record) -> None:
        """Append a record object (its times as microseconds)."""
        values = (getattr(record, n) for n in _LAYOUTS[record.dataset_name][1])
        self.rows.append(
            (record.dataset_name, *(utc_us(v) if isinstance(v, datetime) else v for v in values))
        )

    def rollback(self, length: int) -> None:
        """Forget every row after the first ``length``."""
        del self.rows[length:]

    def number_fills(self, start: int) -> None:
        """Identical fills among the rows from ``start`` (one venue message) are separate fills: seq 0, 1, …; the
        same fill delivered again in another message after a reconnect keeps seq 0, so the store holds it once."""
        rows, fills = self.rows, Liquidation.dataset_name
        if sum(row[0] == fills for row in rows[start:]) < 2:
            return
        seen: dict[tuple[Any, ...], int] = {}
        for i in range(start, len(rows)):
            row = rows[i]
            if row[0] == fills:
                key = row[1:7]  # venue, symbol, ts, side, price, size
                seen[key] = seq = seen.get(key, -1) + 1
                if seq:
                    rows[i] = (*row[:-1], seq)

    def records(self, start: int = 0) -> list[_Record]:
        """The rows from ``start`` as record objects."""
        out: list[_Record] = []
        for name, *values in self.rows[start:]:
            kind, _, _, times = _LAYOUTS[name]
            for i in times:
                if values[i] is not None:
                    values[i] = from_us(values[i])
            out.append(kind(*values))
        return out

    def frames(self, *, source: str, quality: int = QUALITY_VENUE) -> dict[str, pl.DataFrame]:
        """One canonical frame per dataset the rows hold."""
        by_dataset: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.rows:
            by_dataset[row[0]].append(row)
        out = {}
        for dataset_name, rows in by_dataset.items():
            _, names, schema, _ = _LAYOUTS[dataset_name]
            data = {
                name: pl.Series(name, list(map(itemgetter(i), rows)), dtype=schema[name])
                for i, name in enumerate(names, 1)
            }
            out[dataset_name] = _canonical(dataset_name, pl.DataFrame(data), source, quality)
        return out


_LAYOUTS: dict[str, tuple[type[_Record], tuple[str, ...], dict[str, Any], tuple[int, ...]]] = {
    kind.dataset_name: (kind, *_layout(kind))
    for kind in (Liquidation, MarkIndex, OpenInterest, PredictedFunding)
}


__all__ = [
    "Candle",
    "FundingSettlement",
    "Instrument",
    "Liquidation",
    "MarkIndex",
    "OpenInterest",
    "PredictedFunding",
    "RecordError",
    "Rows",
    "from_us",
    "oi_from_raw",
    "records_frame",
    "utc_us",
]
