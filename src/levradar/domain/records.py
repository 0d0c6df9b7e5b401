"""Typed domain records: what venue parsers produce and the rest of the code consumes.

Each record validates itself on construction; :func:`records_frame` builds a canonical dataset frame from many
records of one type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, ClassVar, Literal

import polars as pl

from levradar.domain.datasets import CANDLE_INTERVALS, QUALITY_VENUE, dataset
from levradar.domain.symbols import canonical_market
from levradar.domain.units import OI_UNITS, oi_base_from_raw, oi_usd_from_base
from levradar.domain.units import rate_8h as per_8h

Side = Literal["long", "short"]


class RecordError(ValueError):
    """A record's fields break a rule of its type."""


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
        if self.raw_unit not in OI_UNITS:
            raise RecordError(f"raw_unit must be one of {', '.join(OI_UNITS)}, got {self.raw_unit!r}")
        _finite(self.raw_value, "raw_value", non_negative=True)
        _finite(self.oi_base, "oi_base", non_negative=True)

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
        base = oi_base_from_raw(value, unit, price=price, contract_size=contract_size)
        usd = value if unit == "usd" else (oi_usd_from_base(base, price) if price else None)
        return cls(venue, symbol, ts, value, unit, base, usd)


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
        if self.liquidated_side not in ("long", "short"):
            raise RecordError(f"liquidated_side must be 'long' or 'short', got {self.liquidated_side!r}")
        _finite(self.price, "price", positive=True)
        _finite(self.qty_base, "qty_base", positive=True)

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
        for name in ("mark", "index"):
            value = getattr(self, name)
            if value is not None:
                _finite(value, name, positive=True)

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
        _finite(self.rate, "rate")
        if self.interval_hours is not None:
            _finite(self.interval_hours, "interval_hours", positive=True)


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
    ds = dataset(items[0].dataset_name)
    # column-wise from the records' fields; derived columns (notional, USD method) computed vectorised
    names = [f.name for f in fields(items[0])]
    rows = map(attrgetter(*names), items)  # one tuple per record (every record has several fields)
    data: dict[str, list[Any]] = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
    markets = {key: canonical_market(*key) for key in set(zip(data["venue"], data["symbol"], strict=True))}
    pairs = list(zip(data["venue"], data["symbol"], strict=True))
    data["venue"] = [markets[k].venue for k in pairs]
    data["symbol"] = [markets[k].symbol for k in pairs]
    data["asset"] = [markets[k].asset for k in pairs]
    frame = pl.DataFrame(data, strict=False).with_columns(source=pl.lit(source), quality=pl.lit(quality))
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


__all__ = [
    "Candle",
    "FundingSettlement",
    "Instrument",
    "Liquidation",
    "MarkIndex",
    "OpenInterest",
    "PredictedFunding",
    "RecordError",
    "records_frame",
]
