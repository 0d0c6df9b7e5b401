"""Versioned schema. Each migration is applied once, in order, inside a transaction."""

from __future__ import annotations

import polars as pl

from levradar.domain.datasets import DATASETS, Dataset

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


def create_table_sql(ds: Dataset) -> str:
    cols = [f"{q(c)} {sql_type(t)}" for c, t in ds.columns.items()]
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


MIGRATIONS: list[tuple[int, list[str]]] = [(1, _v1()), (2, _v2()), (3, _v3())]
SCHEMA_VERSION = MIGRATIONS[-1][0]
