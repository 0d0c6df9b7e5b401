"""Data-quality report printed by every import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class DatasetReport:
    dataset: str
    rows: int = 0
    first: datetime | None = None
    last: datetime | None = None
    markets: int = 0
    gaps: int = 0
    duplicates_dropped: int = 0
    missing_dropped: int = 0
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    superseded: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass
class ImportReport:
    """What an import read, what it assumed and what looked wrong."""

    source: str
    path: str
    files: int = 0
    datasets: dict[str, DatasetReport] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    interval_changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def dataset(self, name: str) -> DatasetReport:
        return self.datasets.setdefault(name, DatasetReport(name))

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "files": self.files,
            "datasets": {k: v.to_dict() for k, v in self.datasets.items()},
            "assumptions": self.assumptions,
            "anomalies": self.anomalies,
            "interval_changes": self.interval_changes,
            "skipped": self.skipped,
        }
