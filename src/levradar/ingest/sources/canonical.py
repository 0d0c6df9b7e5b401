"""A folder of canonical files, ``<dataset>.parquet`` / ``.csv`` / ``.json`` (what ``levradar export`` writes).

The bundled sample is such a folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from levradar.domain.datasets import DATASET_NAMES
from levradar.ingest.files import load_file
from levradar.ingest.normalize import Batch, InputError
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import Filters

NAME = "canonical"


def sample_dir() -> Path:
    """Where the bundled real sample lives inside the installed package."""
    return Path(str(files("levradar") / "sample"))


def load(path: Path, filters: Filters) -> Batch:
    batch = Batch(ImportReport(NAME, str(path)))
    for name in DATASET_NAMES:
        for suffix in (".parquet", ".csv", ".json"):
            file = path / f"{name}{suffix}"
            if not file.exists():
                continue
            part = load_file(name, file)
            batch.report.files += 1
            batch.report.skipped.extend(part.report.skipped)
            for frame in part.parts[name]:
                keep = frame
                if filters.assets:
                    keep = keep.filter(keep["asset"].is_in(list(filters.assets)))
                if filters.venues:
                    keep = keep.filter(keep["venue"].is_in(list(filters.venues)))
                batch.add(name, filters.window(keep))
    if batch.report.files == 0:
        raise InputError(
            str(path), None, None, f"no canonical files (<dataset>.parquet for {', '.join(DATASET_NAMES)})"
        )
    return batch


def load_sample(path: Path, filters: Filters) -> Batch:
    """The bundled sample (``path`` is ignored)."""
    batch = load(sample_dir(), filters)
    batch.report.source = "sample"
    return batch
