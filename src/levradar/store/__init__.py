"""The embedded store: a DuckDB database file in the data directory."""

from levradar.store.db import Store, StoreError, UpsertCounts, resolve_data_dir

__all__ = ["Store", "StoreError", "UpsertCounts", "resolve_data_dir"]
