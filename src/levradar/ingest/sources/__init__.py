"""Importers for the real data sets levradar ships with or reads from disk (``levradar import-source``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from levradar.ingest.normalize import Batch
from levradar.ingest.sources import canonical, funding7, hyperliquid_rest, multivenue, perp_panels
from levradar.ingest.sources.common import Filters

Importer = Callable[[Path, Filters], Batch]

SOURCES: dict[str, Importer] = {
    "perp-panels": perp_panels.load,
    "multivenue-2025": multivenue.load,
    "funding-7venues": funding7.load,
    "hyperliquid-rest": hyperliquid_rest.load,
    "canonical": canonical.load,
    "sample": canonical.load_sample,
}

__all__ = ["SOURCES", "Filters", "Importer"]
