"""Canonical datasets: their columns, types, keys and the rules a valid row obeys.

One row per venue × symbol × time, long format. ``ts`` is the venue's event time in UTC (bar open for
candles, settlement for funding); ``ts_ingest`` (added by the store) is when levradar wrote the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from levradar import names
from levradar.domain.units import OI_UNITS, STANDARD_FUNDING_INTERVALS_H
from levradar.names import check_names

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


# What a long/short ratio counts (venues publish several): share of *accounts* holding a net long vs short
# position, or top traders' accounts / positions. ``ratio`` = long_share / short_share, hourly, as of ``ts``.
LONG_SHORT_KINDS = ("accounts", "top_accounts", "top_positions")
POSITION_SIDES = ("long", "short")  # the position's own side
MARGIN_MODES = ("cross", "isolated")

# -- plausible ranges (docs/data.md, "Validation and plausible ranges": each bound with its reason) -----------------
EARLIEST_TS = datetime(2009, 1, 3, tzinfo=UTC)  # Bitcoin's genesis block: no crypto market data is older
FUTURE_TOLERANCE = timedelta(minutes=15)  # clock skew between a venue and this machine
PRICE_MIN, PRICE_MAX = 1e-12, 1e9  # USD per coin
QTY_MAX = 1e18  # coins (or contracts) in one figure
USD_MAX = 1e12  # USD in one open-interest figure or one bar's turnover
LIQUIDATION_USD_MAX = 1e10  # USD in one liquidation fill
FUNDING_PER_HOUR_MAX = 0.05  # |rate| / interval_hours
FUNDING_INTERVAL_H = (float(min(STANDARD_FUNDING_INTERVALS_H)), float(max(STANDARD_FUNDING_INTERVALS_H)))
NOTIONAL_TOLERANCE = 0.01  # |notional_usd - price * qty_base| as a fraction of price * qty_base
RATIO_MAX = 1e4  # long/short ratio
LEVERAGE_MAX = 200.0  # a position's leverage setting: no perpetual venue offers more than 200x


@dataclass(frozen=True)
class Bound:
    """A plausible range for one float column (inclusive; ``low_open``: the low end itself is excluded)."""

    low: float | None
    high: float | None
    low_open: bool = False

    def bad(self, col: str) -> pl.Expr:
        """True where the column is outside the range (null where it is empty: nothing to check)."""
        c = pl.col(col)
        out = pl.lit(False)
        if self.low is not None:
            out = out | ((c <= self.low) if self.low_open else (c < self.low))
        if self.high is not None:
            out = out | (c > self.high)
        return out

    @property
    def rule(self) -> str:
        low = None if self.low is None else (f"> {self.low:g}" if self.low_open else f">= {self.low:g}")
        high = None if self.high is None else f"<= {self.high:g}"
        return "must be " + " and ".join(t for t in (low, high) if t)


@dataclass(frozen=True)
class Check:
    """A rule across columns of one row: ``bad`` is true where the row breaks it (null: not applicable)."""

    column: str  # the column an error names
    shows: tuple[str, ...]  # the values an error quotes
    bad: pl.Expr
    rule: str


PRICE = Bound(PRICE_MIN, PRICE_MAX)
QTY = Bound(0.0, QTY_MAX)
USD = Bound(0.0, USD_MAX)


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: dict[str, pl.DataType]  # canonical columns, in order
    key: tuple[str, ...]
    required: tuple[str, ...]  # may not be null
    bounds: Mapping[str, Bound] = field(default_factory=dict)  # plausible range of a float column
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the values a text column may take
    checks: tuple[Check, ...] = ()  # rules across columns
    derived: tuple[str, ...] = field(default=())  # computed on read, ignored on import
    ahead: tuple[str, ...] = field(default=())  # time columns that name a coming event: they may lie in the future

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
            bounds={
                **dict.fromkeys(("open", "high", "low", "close"), PRICE),
                "volume_base": QTY,
                "volume_quote": USD,
            },
            choices={"interval": tuple(CANDLE_INTERVALS)},
            checks=(Check("high", ("high", "low"), pl.col("high") < pl.col("low"), "must not be below low"),),
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
            bounds={"interval_hours": Bound(*FUNDING_INTERVAL_H)},
            checks=(
                Check(
                    "rate",
                    ("rate", "interval_hours"),
                    (pl.col("rate") / pl.col("interval_hours")).abs() > FUNDING_PER_HOUR_MAX,
                    f"|rate| / interval_hours must be <= {FUNDING_PER_HOUR_MAX:g} per hour",
                ),
            ),
            derived=("rate_1h", "rate_8h", "apr"),
        ),
        Dataset(
            # the rate a venue quotes for its coming settlement (Binance markPrice ``r``, Bybit tickers, OKX
            # funding-rate, Hyperliquid's hourly ``funding``), as seen at ``ts``; not a settlement
            "predicted_funding",
            {
                **_MARKET,
                "ts": UTC_TS,
                "rate": pl.Float64(),
                "interval_hours": pl.Float64(),  # null where the stream does not say (the venue's cadence does)
                "settles_at": UTC_TS,
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "ts"),
            required=("venue", "symbol", "asset", "ts", "rate"),
            bounds={"interval_hours": Bound(*FUNDING_INTERVAL_H)},
            checks=(
                Check(
                    "rate",
                    ("rate", "interval_hours"),
                    (pl.col("rate") / pl.col("interval_hours").fill_null(FUNDING_INTERVAL_H[1])).abs()
                    > FUNDING_PER_HOUR_MAX,
                    f"|rate| / interval_hours must be <= {FUNDING_PER_HOUR_MAX:g} per hour",
                ),
                Check(
                    "settles_at",
                    ("settles_at", "ts"),
                    (pl.col("settles_at") < pl.col("ts") - timedelta(hours=1))
                    | (pl.col("settles_at") > pl.col("ts") + timedelta(days=1)),
                    "must be the coming settlement: from an hour before ts to a day after it",
                ),
            ),
            derived=("rate_1h", "rate_8h", "apr"),
            ahead=("settles_at",),
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
            bounds={"oi_base": QTY, "oi_usd": USD, "raw_value": QTY},
            choices={"raw_unit": OI_UNITS},
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
            bounds={
                "price": PRICE,
                "qty_base": Bound(0.0, QTY_MAX, low_open=True),
                "notional_usd": Bound(0.0, LIQUIDATION_USD_MAX, low_open=True),
            },
            choices={"liquidated_side": LIQUIDATED_SIDES},
            checks=(
                Check(
                    "notional_usd",
                    ("notional_usd", "price", "qty_base"),
                    (pl.col("notional_usd") - pl.col("price") * pl.col("qty_base")).abs()
                    > NOTIONAL_TOLERANCE * pl.col("price") * pl.col("qty_base"),
                    f"notional_usd must equal price * qty_base within {NOTIONAL_TOLERANCE:.0%}",
                ),
            ),
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
            bounds={"mark": PRICE, "index": PRICE},
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
            bounds={
                "long_share": Bound(0.0, 1.0),
                "short_share": Bound(0.0, 1.0),
                "ratio": Bound(0.0, RATIO_MAX, low_open=True),
            },
            choices={"kind": LONG_SHORT_KINDS},
        ),
        Dataset(
            # measured positions (Hyperliquid's public clearinghouseState): one row per account, market and snapshot
            "positions",
            {
                **_MARKET,
                "account": pl.String(),  # the address, or its hash (levradar.domain.accounts)
                "ts": UTC_TS,  # the snapshot's time
                "side": pl.String(),
                "qty_base": pl.Float64(),
                "entry_price": pl.Float64(),
                "leverage": pl.Float64(),
                "margin_mode": pl.String(),  # null where the source does not say
                "position_usd": pl.Float64(),
                "liquidation_price": pl.Float64(),  # the venue's own; null: no price liquidates it (collateral)
                "account_value_usd": pl.Float64(),
                "unrealized_pnl_usd": pl.Float64(),
                "selection": pl.String(),  # why the account was sampled (a leaderboard list, the biggest positions)
                "source": pl.String(),
                "quality": pl.Int8(),
            },
            key=("venue", "symbol", "account", "ts"),
            required=("venue", "symbol", "asset", "account", "ts", "side", "qty_base"),
            bounds={
                "qty_base": Bound(0.0, QTY_MAX, low_open=True),
                "entry_price": PRICE,
                "leverage": Bound(0.0, LEVERAGE_MAX, low_open=True),
                "position_usd": USD,
                # the venue's figure, not a traded price: a well-collateralised short's can lie far above any
                # price (measured: 1.5e11 for BTC), so it has no upper bound
                "liquidation_price": Bound(0.0, None, low_open=True),
                "account_value_usd": USD,
                "unrealized_pnl_usd": Bound(-USD_MAX, USD_MAX),
            },
            choices={"side": POSITION_SIDES, "margin_mode": MARGIN_MODES},
        ),
    )
}

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
check_names("DATASET_NAMES", names.DATASET_NAMES, DATASET_NAMES)


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
