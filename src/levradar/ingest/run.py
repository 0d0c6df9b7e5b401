"""Run an import end to end: parse → normalise → validate → one transaction → report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from levradar.domain.symbols import canonical_market
from levradar.domain.venues import CONTRACT_SIZES
from levradar.ingest.normalize import Batch, finalize
from levradar.ingest.report import ImportReport
from levradar.ingest.sources import SOURCES, Filters
from levradar.store import Store


class UnknownSourceError(ValueError):
    """The source name is not one levradar can import."""


def write_batch(
    store: Store, batch: Batch, kind: str, *, now: datetime | None = None, live: bool = False
) -> ImportReport:
    """Validate and write a batch atomically; fills the report's insert/update counts.

    ``live`` (sync, record): rows breaking a rule are set aside in the report instead of stopping the write.
    """
    started = datetime.now(UTC)
    frames = finalize(batch, store, now=now, live=live)
    instruments = _instruments(frames, batch)
    counts = store.write(
        frames,
        instruments=instruments,
        log={
            "kind": kind,
            "source": batch.report.source,
            "path": batch.report.path,
            "started_at": started,
            "report": batch.report.to_dict(),
        },
    )
    for name, c in counts.items():
        rep = batch.report.dataset(name)
        rep.inserted, rep.updated, rep.unchanged = c.inserted, c.updated, c.unchanged
        rep.superseded, rep.corrected = c.superseded, c.corrected
        batch.report.corrections.extend(c.corrections)
    return batch.report


def _instruments(frames: dict[str, pl.DataFrame], batch: Batch) -> pl.DataFrame | None:
    """Every market an import touched, with its quote and latest funding interval, plus explicit metadata."""
    seen = [f.select("venue", "symbol", "asset").unique() for f in frames.values() if not f.is_empty()]
    rows: list[dict[str, object]] = []
    if seen:
        markets = pl.concat(seen).unique()
        intervals = (
            frames["funding"].sort("ts").group_by("venue", "symbol").agg(pl.col("interval_hours").last())
            if "funding" in frames
            else pl.DataFrame(schema={"venue": pl.String, "symbol": pl.String, "interval_hours": pl.Float64})
        )
        for venue, symbol, asset in markets.iter_rows():
            quote = canonical_market(venue, symbol).quote
            size = CONTRACT_SIZES.get((venue, asset))
            rows.append(
                {
                    "venue": venue,
                    "symbol": symbol,
                    "asset": asset,
                    "quote": quote,
                    "contract_size": size,
                    "contract_unit": "coin" if size else None,
                }
            )
        frame = pl.DataFrame(rows).join(intervals, on=["venue", "symbol"], how="left")
        rows = frame.rename({"interval_hours": "funding_interval_hours"}).to_dicts()
    rows.extend(batch.instruments)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else None


def import_source(store: Store, name: str, path: Path, filters: Filters | None = None) -> ImportReport:
    try:
        loader = SOURCES[name]
    except KeyError:
        raise UnknownSourceError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None
    filters = filters or Filters()
    batch = loader(path, filters)
    if "candles" in batch.parts:  # --to T: a bar is known once it has closed, whatever the loader cut by stamp
        batch.parts["candles"] = [filters.window(frame) for frame in batch.parts["candles"]]
    return write_batch(store, batch, "import-source")
