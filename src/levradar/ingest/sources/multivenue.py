"""multivenue-2025: long-format funding, candles, OI and liquidation fills across seven venues."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from levradar.domain.datasets import QUALITY_VENUE
from levradar.domain.venues import CONTRACT_SIZES, VENUES
from levradar.ingest.normalize import Batch, InputError, with_markets
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import (
    Filters,
    canonical_rows,
    need_columns,
    no_nan,
    read_parquet,
    settlement_rows,
    utc_ts,
)

NAME = "multivenue-2025"
# Liquidation fill ``side`` in this set is the forced order's side (checked against price: "sell" prints
# cluster in falling hours), so a sell means a long was liquidated. Other codes have no documented meaning.
ORDER_SIDE_TO_LIQUIDATED = {"sell": "long", "buy": "short"}


def load(path: Path, filters: Filters) -> Batch:
    if not path.is_dir():
        raise InputError(str(path), None, None, "multivenue-2025 expects the data set's folder")
    batch = Batch(ImportReport(NAME, str(path)))
    loaders = {
        "funding_rates.parquet": _funding,
        "candles.parquet": _candles,
        "open_interest.parquet": _open_interest,
        "liquidations_fadd49d.parquet": _liquidations,
    }
    for name, loader in loaders.items():
        file = path / name
        if file.exists():
            batch.report.files += 1
            loader(batch, file, filters)
    for name in ("liquidation_volume.parquet", "orderbook_depth.parquet"):
        if (path / name).exists():
            batch.report.skipped.append(f"{name}: aggregates with no canonical table (not imported)")
    if batch.report.files == 0:
        raise InputError(str(path), None, None, "no multivenue-2025 files found (funding_rates.parquet, ...)")
    return batch


def _read(file: Path, cols: list[str], filters: Filters) -> pl.DataFrame:
    raw = read_parquet(file)
    need_columns(raw, ["timestamp", "venue", "coin", *cols], file)
    frame = filters.window(utc_ts(raw, "timestamp", file))
    keep = pl.col("venue").str.to_lowercase().is_in(list(filters.venues or VENUES))
    if filters.assets:
        keep = keep & pl.col("coin").str.to_uppercase().is_in(list(filters.assets))
    return with_markets(frame.filter(keep), "venue", "coin", str(file))


def _funding(batch: Batch, file: Path, filters: Filters) -> None:
    ok = _valid(batch, "funding", _read(file, ["funding_rate"], filters), ["funding_rate"])
    batch.add("funding", settlement_rows(ok, "funding_rate", f"{NAME}:{file.name}"))
    batch.report.assume(
        "multivenue-2025 funding rates are per settlement; the interval of each settlement is detected from the "
        "time since the previous one (hourly on hyperliquid, lighter, kraken, dydx; 8h or 4h elsewhere)"
    )


def _candles(batch: Batch, file: Path, filters: Filters) -> None:
    ok = _valid(batch, "candles", _read(file, ["o", "h", "l", "c", "v"], filters), ["o", "h", "l", "c"])
    batch.add(
        "candles",
        canonical_rows(
            ok,
            f"{NAME}:{file.name}",
            QUALITY_VENUE,
            ts="ts",
            interval=pl.lit("1h"),
            open="o",
            high="h",
            low="l",
            close="c",
            volume_base="v",
        ),
    )
    batch.report.assume("multivenue-2025 candle volume `v` is taken to be in base coin")


def _open_interest(batch: Batch, file: Path, filters: Filters) -> None:
    ok = _valid(batch, "open_interest", _read(file, ["oi_usd"], filters), ["oi_usd"])
    batch.add(
        "open_interest",
        canonical_rows(
            ok,
            f"{NAME}:{file.name}",
            QUALITY_VENUE,
            ts=_hour_known(pl.col("ts")),
            raw_value="oi_usd",
            raw_unit=pl.lit("usd"),
            oi_usd="oi_usd",
        ),
    )
    batch.report.assume(
        "multivenue-2025 open interest snapshots taken between hours are stamped at the next full hour (when they "
        "were known), never earlier"
    )


def _hour_known(ts: pl.Expr) -> pl.Expr:
    """The first hour boundary at or after ``ts``: a snapshot is never placed before it was taken."""
    floor = ts.dt.truncate("1h")
    return pl.when(ts == floor).then(ts).otherwise(floor + timedelta(hours=1))


def _valid(batch: Batch, dataset: str, frame: pl.DataFrame, values: list[str]) -> pl.DataFrame:
    """Rows whose value columns hold finite numbers; the others are counted as missing."""
    ok = frame.filter(no_nan(frame, values))
    batch.report.dataset(dataset).missing_dropped += frame.height - ok.height
    return ok


def _liquidations(batch: Batch, file: Path, filters: Filters) -> None:
    frame = _read(file, ["side", "size_usd", "price"], filters)
    side = pl.col("side").str.to_lowercase().replace_strict(ORDER_SIDE_TO_LIQUIDATED, default=None)
    known = frame.with_columns(liquidated_side=side)
    unknown = known.filter(pl.col("liquidated_side").is_null())
    if not unknown.is_empty():
        codes = ", ".join(sorted(unknown["side"].unique().cast(pl.String).to_list()))
        venues = ", ".join(sorted(unknown["venue"].unique().to_list()))
        batch.report.skipped.append(
            f"{file.name}: {unknown.height} liquidation fills on {venues} with side code(s) {codes} whose meaning "
            "(liquidated long or short) is not documented: not imported rather than guessed"
        )
    ok = known.filter(pl.col("liquidated_side").is_not_null())
    # OKX fills in this set carry size_usd = contracts × price (OKX `sz` is in contracts): the coin amount needs
    # the contract value. Evidence: without it the median DOGE fill would be $0.46 and the median BTC fill 1.1 BTC.
    sizes = pl.DataFrame(
        [(v, a, size) for (v, a), size in CONTRACT_SIZES.items()],
        schema=["venue", "asset", "_ct"],
        orient="row",
    )
    ok = ok.join(sizes, on=["venue", "asset"], how="left", maintain_order="left").with_columns(
        _ct=pl.when(pl.col("venue") == "okx").then(pl.col("_ct").fill_null(-1.0)).otherwise(1.0)
    )
    no_size = ok.filter(pl.col("_ct") < 0)
    if not no_size.is_empty():
        assets = ", ".join(sorted(no_size["asset"].unique().to_list()))
        batch.report.skipped.append(
            f"{file.name}: {no_size.height} OKX liquidation fills for {assets}: contract value unknown, sizes in "
            "contracts cannot be converted to coin: not imported"
        )
    ok = ok.filter(pl.col("_ct") > 0)
    qty = pl.col("size_usd") / pl.col("price") * pl.col("_ct")
    sampled = pl.col("venue").replace_strict(
        {v: i.liquidation_feed_sampled for v, i in VENUES.items()}, default=False
    )
    batch.add(
        "liquidations",
        canonical_rows(
            ok,
            f"{NAME}:{file.name}",
            QUALITY_VENUE,
            ts="ts",
            liquidated_side="liquidated_side",
            price="price",
            qty_base=qty,
            notional_usd=qty * pl.col("price"),
            sampled=sampled,
        ),
    )
    batch.report.assume(
        "liquidation `side` buy/sell is the forced order's side: sell = long liquidated, buy = short liquidated; "
        "qty_base = size_usd / price, times the contract value on OKX (its size_usd is contracts × price); OKX and "
        "Binance feeds are sampled (at most one print per symbol per second)"
    )
