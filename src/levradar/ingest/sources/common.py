"""Helpers shared by the source importers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from levradar.domain.datasets import CANDLE_INTERVALS, QUALITY_VENUE
from levradar.ingest.normalize import FILE, ROW, InputError, to_utc


@dataclass(frozen=True)
class Filters:
    """Optional narrowing of what a source importer reads.

    ``start``/``end`` (``--from``/``--to``) select what was *known* in that span, as ``Store.read(as_of=end)``
    sees it: a candle once its bar has closed (``ts + interval <= end``), any other row once its time has
    passed (``ts <= end``), to the minute: funding settlements are stored on the minute, so one the venue
    stamped a few milliseconds after ``end`` is ``end``'s. ``keep_addresses``: measured positions keep account
    addresses as they are (default: their hash, see :mod:`levradar.domain.accounts`).
    """

    assets: frozenset[str] | None = None
    venues: frozenset[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    keep_addresses: bool = False

    def wants(self, venue: str | None = None, asset: str | None = None) -> bool:
        if venue is not None and self.venues and venue.lower() not in self.venues:
            return False
        return not (asset is not None and self.assets and asset.upper() not in self.assets)

    def window(
        self,
        frame: pl.DataFrame,
        col: str = "ts",
        *,
        bar: timedelta | str | None = None,
        on_minute: bool = True,
    ) -> pl.DataFrame:
        """The rows of ``frame`` known within ``[start, end]``.

        ``bar`` marks candles: their length, or the name of a column holding candle intervals (``"1h"``); a
        frame with a string ``interval`` column holds candles. A candle is kept once its bar has closed.
        ``on_minute=False``: rows stored at their exact time (position snapshots) are compared exactly.
        """
        if bar is None and frame.schema.get("interval") == pl.String:
            bar = "interval"
        stamp = pl.col(col) if bar is not None or not on_minute else pl.col(col).dt.round("1m")
        if self.start is not None:
            frame = frame.filter(stamp >= self.start)
        if self.end is not None:
            frame = frame.filter(stamp + self._bar_length(bar) <= self.end)
        return frame

    @staticmethod
    def _bar_length(bar: timedelta | str | None) -> pl.Expr:
        """The time from a row's stamp until it is known: its bar's length (an unknown interval: none)."""
        if isinstance(bar, str):
            lengths = dict(CANDLE_INTERVALS)
            return pl.col(bar).replace_strict(lengths, default=timedelta(0), return_dtype=pl.Duration("us"))
        return pl.lit(bar or timedelta(0), dtype=pl.Duration("us"))


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
