"""Helpers shared by the source importers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from levradar.domain.datasets import QUALITY_VENUE
from levradar.ingest.normalize import FILE, ROW, InputError, to_utc


@dataclass(frozen=True)
class Filters:
    """Optional narrowing of what a source importer reads."""

    assets: frozenset[str] | None = None
    venues: frozenset[str] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def wants(self, venue: str | None = None, asset: str | None = None) -> bool:
        if venue is not None and self.venues and venue.lower() not in self.venues:
            return False
        return not (asset is not None and self.assets and asset.upper() not in self.assets)

    def window(self, frame: pl.DataFrame, col: str = "ts") -> pl.DataFrame:
        if self.start is not None:
            frame = frame.filter(pl.col(col) >= self.start)
        if self.end is not None:
            frame = frame.filter(pl.col(col) <= self.end)
        return frame


def read_parquet(path: Path) -> pl.DataFrame:
    """Read a Parquet file, keeping its row numbers and name for error messages."""
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for corrupt files
        raise InputError(str(path), None, None, f"not a readable Parquet file ({exc})") from exc
    return frame.with_row_index(ROW, offset=1).with_columns(pl.lit(str(path)).alias(FILE))


def need_columns(frame: pl.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            str(path), None, missing[0], f"expected column is missing (have: {', '.join(frame.columns)})"
        )


def utc_ts(frame: pl.DataFrame, col: str, path: Path) -> pl.DataFrame:
    """Parse column ``col`` into ``ts`` (UTC), raising on values that are not timestamps."""
    dtype = frame.schema[col]
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(to_utc(pl.col(col), dtype).alias("ts"))
    parsed = frame.with_columns(
        pl.col(col).cast(pl.String).str.to_datetime(strict=False, time_unit="us").alias("ts")
    )
    bad = parsed.filter(pl.col("ts").is_null())
    if not bad.is_empty():
        raise InputError(str(path), int(bad[ROW][0]), col, f"not a timestamp: {bad[col][0]!r}")
    return parsed.with_columns(to_utc(pl.col("ts"), parsed.schema["ts"]).alias("ts"))


def no_nan(frame: pl.DataFrame, cols: list[str]) -> pl.Expr:
    """Rows where every column in ``cols`` holds a finite number."""
    expr = pl.lit(True)
    for c in cols:
        expr = expr & pl.col(c).is_not_null() & pl.col(c).is_finite()
    return expr


def canonical_rows(frame: pl.DataFrame, source: str, quality: int, **columns: pl.Expr | str) -> pl.DataFrame:
    """Market, row-number and provenance columns plus ``columns`` (canonical name → column or expression)."""
    exprs = [(pl.col(v) if isinstance(v, str) else v).alias(k) for k, v in columns.items()]
    return frame.select(
        "venue",
        "symbol",
        "asset",
        ROW,
        FILE,
        *exprs,
        pl.lit(source).alias("source"),
        pl.lit(quality).alias("quality"),
    )


def settlement_rows(frame: pl.DataFrame, rate: str, source: str) -> pl.DataFrame:
    """Real funding settlements (venue quality) whose interval is detected from their timestamps."""
    return canonical_rows(
        frame, source, QUALITY_VENUE, ts="ts", ts_venue="ts", rate=rate, interval_source=pl.lit("detected")
    )
