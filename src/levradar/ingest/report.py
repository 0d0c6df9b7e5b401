"""Data-quality report printed by every import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_SET_ASIDE_LINES = 20


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
    corrected: int | None = None  # stored rows replaced by an equal-quality row with other values
    conflicts: int = 0  # keys read more than once with different values (ImportReport.conflicts)
    set_aside: int = 0  # rows a live path did not store because they break a rule (ImportReport.set_aside)

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
    conflicts: list[str] = field(default_factory=list)  # duplicates with different values: both, and the rule
    corrections: list[str] = field(default_factory=list)  # stored rows replaced: old and new values
    set_aside: list[dict[str, Any]] = field(default_factory=list)  # live paths: rows not stored, and why
    nan_as_missing: int = 0  # NaN cells read as empty, where a source documents NaN as missing

    def dataset(self, name: str) -> DatasetReport:
        return self.datasets.setdefault(name, DatasetReport(name))

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def set_aside_lines(self) -> list[str]:
        """One line per row set aside (the first few): where, and why."""
        lines = [
            f"{a['dataset']} {a['venue']} {a['symbol']}: {a['reason']}"
            for a in self.set_aside[:MAX_SET_ASIDE_LINES]
        ]
        if len(self.set_aside) > MAX_SET_ASIDE_LINES:
            lines.append(f"... and {len(self.set_aside) - MAX_SET_ASIDE_LINES} more rows set aside")
        return lines

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
            "conflicts": self.conflicts,
            "corrections": self.corrections,
            "set_aside": self.set_aside_lines(),
            "nan_as_missing": self.nan_as_missing,
        }
