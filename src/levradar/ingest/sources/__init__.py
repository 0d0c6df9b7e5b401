"""Importers for the real data sets levradar ships with or reads from disk (``levradar import-source``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from levradar.ingest.normalize import Batch
from levradar.ingest.sources import (
    canonical,
    funding7,
    hyperliquid_positions,
    hyperliquid_rest,
    multivenue,
    perp_panels,
)
from levradar.ingest.sources.common import Filters
from levradar.names import SOURCE_NAMES, check_names

Importer = Callable[[Path, Filters], Batch]

SOURCES: dict[str, Importer] = {
    "perp-panels": perp_panels.load,
    "multivenue-2025": multivenue.load,
    "funding-7venues": funding7.load,
    "hyperliquid-rest": hyperliquid_rest.load,
    "hyperliquid-positions": hyperliquid_positions.load,
    "canonical": canonical.load,
    "sample": canonical.load_sample,
}

check_names("SOURCE_NAMES", SOURCE_NAMES, tuple(SOURCES))

__all__ = ["SOURCES", "Filters", "Importer"]
