"""Canonical datasets: their columns, types, keys and the rules a valid row obeys.

One row per venue × symbol × time, long format. ``ts`` is the venue's event time in UTC (bar open for
candles, settlement for funding); ``ts_ingest`` (added by the store) is when levradar wrote the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")
LIQUIDATED_SIDES = ("long", "short")
CANDLE_INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "8h": timedelta(hours=8),
    "1d": timedelta(days=1),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: dict[str, pl.DataType]  # canonical columns, in order
    key: tuple[str, ...]
    required: tuple[str, ...]  # may not be null
    positive: tuple[str, ...] = ()  # must be > 0 where present
    non_negative: tuple[str, ...] = ()
    derived: tuple[str, ...] = field(default=())  # computed on read, ignored on import

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.key)


_MARKET = {"venue": pl.String(), "symbol": pl.String(), "asset": pl.String()}

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "candles",
            {
                **_MARKET,
                "interval": pl.String(),
                "ts": UTC_TS,
                "open": pl.Float64(),
                "high": pl.Float64(),
                "low": pl.Float64(),
                "close": pl.Float64(),
                "volume_base": pl.Float64(),
                "volume_quote": pl.Float64(),
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "interval", "ts"),
            required=("venue", "symbol", "asset", "interval", "ts", "open", "high", "low", "close"),
            positive=("open", "high", "low", "close"),
            non_negative=("volume_base", "volume_quote"),
        ),
        Dataset(
            "funding",
            {
                **_MARKET,
                "ts": UTC_TS,
                "rate": pl.Float64(),
                "interval_hours": pl.Float64(),
                "interval_source": pl.String(),
                "ts_venue": UTC_TS,
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "ts"),
            required=("venue", "symbol", "asset", "ts", "rate", "interval_hours"),
            positive=("interval_hours",),
            derived=("rate_1h", "rate_8h", "apr"),
        ),
        Dataset(
            "open_interest",
            {
                **_MARKET,
                "ts": UTC_TS,
                "oi_base": pl.Float64(),
                "oi_usd": pl.Float64(),
                "raw_value": pl.Float64(),
                "raw_unit": pl.String(),
                "raw_sides": pl.Int8(),  # 1: the venue counts one side (long = short); 2: both sides
                "usd_method": pl.String(),
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "ts"),
            required=("venue", "symbol", "asset", "ts", "raw_value", "raw_unit"),
            non_negative=("oi_base", "oi_usd", "raw_value"),
        ),
        Dataset(
            "liquidations",
            {
                **_MARKET,
                "ts": UTC_TS,
                "liquidated_side": pl.String(),
                "price": pl.Float64(),
                "qty_base": pl.Float64(),
                "notional_usd": pl.Float64(),
                "sampled": pl.Boolean(),
                "seq": pl.Int32(),
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "ts", "liquidated_side", "price", "qty_base", "seq"),
            required=(
                "venue",
                "symbol",
                "asset",
                "ts",
                "liquidated_side",
                "price",
                "qty_base",
                "notional_usd",
            ),
            positive=("price", "qty_base", "notional_usd"),
        ),
        Dataset(
            "mark_index",
            {
                **_MARKET,
                "ts": UTC_TS,
                "mark": pl.Float64(),
                "index": pl.Float64(),
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "ts"),
            required=("venue", "symbol", "asset", "ts"),
            positive=("mark", "index"),
            derived=("basis",),
        ),
        Dataset(
            "long_short_ratio",
            {
                **_MARKET,
                "kind": pl.String(),
                "ts": UTC_TS,
                "long_share": pl.Float64(),
                "short_share": pl.Float64(),
                "ratio": pl.Float64(),
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "kind", "ts"),
            required=("venue", "symbol", "asset", "kind", "ts"),
            positive=("ratio",),
            non_negative=("long_share", "short_share"),
        ),
    )
}

# What a long/short ratio counts (venues publish several): share of *accounts* holding a net long vs short
# position, or top traders' accounts / positions. ``ratio`` = long_share / short_share, hourly, as of ``ts``.
LONG_SHORT_KINDS = ("accounts", "top_accounts", "top_positions")

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


class UnknownDatasetError(ValueError):
    """The dataset name is not one of the canonical datasets."""


def dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}"
        ) from None


# Quality ranks: a higher rank is never overwritten by a lower one, whatever the import order.
QUALITY_RECOVERED = 1  # reconstructed (e.g. settlements recovered from a forward-filled panel column)
QUALITY_AGGREGATE = 2  # a venue aggregate re-sampled by a third party (hourly panels)
QUALITY_VENUE = 3  # the venue's own record (settlement history, klines, liquidation fills, user imports)
