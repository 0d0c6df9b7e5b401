"""What every venue's REST backfill shares: epoch times, rows → canonical frames added to a batch (settlements,
1h klines, mark/index klines, long/short ratios), and the request budget type. The venues' own paging lives with
each venue (``levradar.venues.<venue>.rest``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from levradar.domain.datasets import QUALITY_VENUE
from levradar.ingest.normalize import FILE, ROW, Batch, with_market
from levradar.ingest.sources.common import canonical_rows, settlement_rows


@dataclass(frozen=True)
class Budget:
    """A venue's documented public REST limit as a token bucket of request weight per second (one bucket per venue,
    kept below the documented figure), and the weight of each endpoint (longest matching path prefix; else 1)."""

    rate: float
    burst: float
    weights: dict[str, float] = field(default_factory=dict)

    def weight(self, path: str) -> float:
        matches = [p for p in self.weights if path.startswith(p)]
        return self.weights[max(matches, key=len)] if matches else 1.0


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def rows_frame(records: list[dict[str, Any]], source: str) -> pl.DataFrame:
    return pl.DataFrame(records).with_row_index(ROW, offset=1).with_columns(pl.lit(source).alias(FILE))


def epoch_ms(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col).cast(pl.Int64), time_unit="ms").dt.replace_time_zone("UTC")


def add_settlements(
    batch: Batch,
    venue: str,
    symbol: str,
    rows: list[dict[str, Any]],
    time_key: str,
    rate_key: str,
    source: str,
) -> None:
    """Funding settlements from a venue's list of {time, rate} objects (interval detected from the times)."""
    if rows:
        f = rows_frame(rows, source).with_columns(
            ts=epoch_ms(time_key), rate=pl.col(rate_key).cast(pl.Float64)
        )
        batch.add("funding", settlement_rows(with_market(f, venue, symbol), "rate", f"sync:{venue}"))


def add_mark_index(
    batch: Batch, venue: str, symbol: str, mark: list[list[Any]], index: list[list[Any]]
) -> None:
    """Mark and index price as of each hour: the close of the venue's 1h mark / index price kline ending then."""
    frames = []
    for column, rows in (("mark", mark), ("index", index)):
        if rows:
            f = rows_frame([{"t": r[0], "c": r[4]} for r in rows], f"{venue}:{column}-klines")
            ts = (epoch_ms("t") + timedelta(hours=1)).alias("ts")
            frames.append(f.select(ROW, FILE, ts, pl.col("c").cast(pl.Float64).alias(column)))
    if not frames:
        return
    joined = frames[0]
    if len(frames) == 2:
        joined = joined.join(frames[1].drop(ROW, FILE), on="ts", how="full", coalesce=True)
        joined = joined.with_columns(
            pl.col(ROW).fill_null(0), pl.col(FILE).fill_null(f"{venue}:index-klines")
        )
    batch.add(
        "mark_index",
        canonical_rows(
            with_market(joined, venue, symbol),
            f"sync:{venue}",
            QUALITY_VENUE,
            ts="ts",
            mark=pl.col("mark") if "mark" in joined.columns else pl.lit(None, pl.Float64),
            index=pl.col("index") if "index" in joined.columns else pl.lit(None, pl.Float64),
        ),
    )


def add_klines(
    batch: Batch, venue: str, symbol: str, rows: list[list[Any]], names: list[str], source: str
) -> None:
    """1h candles from a venue's arrays; ``names`` labels the positions (t, o, h, l, c, base volume, quote volume)."""
    if rows:
        k = rows_frame([dict(zip(names, r, strict=False)) for r in rows], source).with_columns(
            ts=epoch_ms("t")
        )
        num = {c: pl.col(c).cast(pl.Float64) for c in ("o", "h", "l", "c", "base", "quote")}
        batch.add(
            "candles",
            canonical_rows(
                with_market(k, venue, symbol),
                f"sync:{venue}",
                QUALITY_VENUE,
                ts="ts",
                interval=pl.lit("1h"),
                open=num["o"],
                high=num["h"],
                low=num["l"],
                close=num["c"],
                volume_base=num["base"],
                volume_quote=num["quote"],
            ),
        )


def add_long_short(
    batch: Batch, venue: str, symbol: str, rows: list[dict[str, Any]], kind: str, source: str
) -> None:
    """Long/short ratios from rows of {t, ratio[, long, short]}: shares derived from the ratio where absent."""
    if rows:
        f = rows_frame(rows, source).with_columns(ts=epoch_ms("t"), ratio=pl.col("ratio").cast(pl.Float64))
        derived_long = pl.col("ratio") / (1.0 + pl.col("ratio"))
        long_share = pl.col("long").cast(pl.Float64) if "long" in f.columns else derived_long
        short_share = pl.col("short").cast(pl.Float64) if "short" in f.columns else 1.0 - derived_long
        batch.add(
            "long_short_ratio",
            canonical_rows(
                with_market(f, venue, symbol),
                f"sync:{venue}",
                QUALITY_VENUE,
                ts="ts",
                kind=pl.lit(kind),
                ratio="ratio",
                long_share=long_share,
                short_share=short_share,
            ),
        )
