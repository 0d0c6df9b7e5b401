"""Run an import end to end: parse → normalise → validate → one transaction → report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from levradar.ingest.normalize import Batch, finalize
from levradar.ingest.report import ImportReport
from levradar.ingest.sources import SOURCES, Filters
from levradar.store import Store


class UnknownSourceError(ValueError):
    """The source name is not one levradar can import."""


def write_batch(store: Store, batch: Batch, kind: str) -> ImportReport:
    """Validate and write a batch atomically; fills the report's insert/update counts."""
    started = datetime.now(UTC)
    frames = finalize(batch, store)
    import polars as pl

    instruments = pl.DataFrame(batch.instruments) if batch.instruments else None
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
    return batch.report


def import_source(store: Store, name: str, path: Path, filters: Filters | None = None) -> ImportReport:
    try:
        loader = SOURCES[name]
    except KeyError:
        raise UnknownSourceError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None
    batch = loader(path, filters or Filters())
    return write_batch(store, batch, "import-source")
