"""Versioned schema. Each migration is applied once, in order, inside a transaction."""

from __future__ import annotations

import polars as pl

from levradar.domain.datasets import DATASETS, Dataset
from levradar.domain.venues import VENUES

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Float64: "DOUBLE",
    pl.Int8: "TINYINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.Boolean: "BOOLEAN",
    pl.Datetime: "TIMESTAMP",  # naive, always UTC
}


def sql_type(dtype: pl.DataType) -> str:
    return _SQL_TYPES[type(dtype)]


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


# Columns a later migration adds: the table is created without them and the migration adds them, so a new store
# and a migrated one have the same layout.
ADDED_LATER: dict[str, tuple[str, ...]] = {"open_interest": ("raw_sides",)}


def create_table_sql(ds: Dataset) -> str:
    later = ADDED_LATER.get(ds.name, ())
    cols = [f"{q(c)} {sql_type(t)}" for c, t in ds.columns.items() if c not in later]
    cols.append('"ts_ingest" TIMESTAMP NOT NULL')
    not_null = {c for c in ds.required}
    cols = [c + (" NOT NULL" if c.split(" ")[0].strip('"') in not_null else "") for c in cols]
    return f"CREATE TABLE {q(ds.name)} ({', '.join(cols)}, PRIMARY KEY ({', '.join(q(k) for k in ds.key)}))"


def _v1() -> list[str]:
    stmts = [create_table_sql(DATASETS[name]) for name in _V1_DATASETS]
    stmts.append(
        """CREATE TABLE instruments (
            venue VARCHAR NOT NULL, symbol VARCHAR NOT NULL, asset VARCHAR NOT NULL, quote VARCHAR NOT NULL,
            contract_size DOUBLE, contract_unit VARCHAR, funding_interval_hours DOUBLE, tiers_json VARCHAR,
            ts_ingest TIMESTAMP NOT NULL, PRIMARY KEY (venue, symbol))"""
    )
    stmts.append(
        """CREATE TABLE imports (
            id BIGINT PRIMARY KEY, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP NOT NULL,
            kind VARCHAR NOT NULL, source VARCHAR NOT NULL, path VARCHAR NOT NULL, report_json VARCHAR NOT NULL)"""
    )
    return stmts


_V1_DATASETS = ("candles", "funding", "open_interest", "liquidations", "mark_index")


def _v2() -> list[str]:
    """Long/short ratios (accounts, top traders) from the venues that publish them."""
    return [create_table_sql(DATASETS["long_short_ratio"])]


def _v3() -> list[str]:
    """The decision journal: every memo and alert with its inputs, config hash and findings."""
    return [
        """CREATE TABLE journal (
            id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, asset VARCHAR NOT NULL, rule VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL, data_time TIMESTAMP, created_at TIMESTAMP NOT NULL, config VARCHAR NOT NULL,
            side VARCHAR, price DOUBLE, tag VARCHAR, pocket_below DOUBLE, pocket_above DOUBLE, invalidation DOUBLE,
            text VARCHAR NOT NULL, findings_json VARCHAR NOT NULL, UNIQUE (kind, asset, rule, as_of, config))"""
    ]


def _v4() -> list[str]:
    """One-sided open interest: ``raw_sides`` per row; values of venues that count both sides are halved."""
    cases = " ".join(f"WHEN '{name}' THEN {info.oi_sides}" for name, info in VENUES.items())
    return [
        "ALTER TABLE open_interest ADD COLUMN raw_sides TINYINT",
        f"UPDATE open_interest SET raw_sides = CASE venue {cases} ELSE 1 END",
        "UPDATE open_interest SET oi_base = oi_base / raw_sides, oi_usd = oi_usd / raw_sides WHERE raw_sides <> 1",
    ]


def _v5() -> list[str]:
    """Predicted funding: the rate each venue quotes for its coming settlement, as the streams deliver it."""
    return [create_table_sql(DATASETS["predicted_funding"])]


def _v6() -> list[str]:
    """An alert's delivery in the journal: ``sent``, ``failed`` (with the redacted reason) or ``none`` (no target
    configured); NULL for memos and for alerts journaled before this version."""
    return [
        "ALTER TABLE journal ADD COLUMN delivery VARCHAR",
        "ALTER TABLE journal ADD COLUMN delivery_error VARCHAR",
    ]


def _v7() -> list[str]:
    """Measured positions: accounts' positions with the venue's own liquidation prices, per snapshot."""
    return [create_table_sql(DATASETS["positions"])]


MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, _v1()),
    (2, _v2()),
    (3, _v3()),
    (4, _v4()),
    (5, _v5()),
    (6, _v6()),
    (7, _v7()),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
