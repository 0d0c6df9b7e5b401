"""funding-7venues: BTC/ETH funding CSVs from seven venues, 2020–2023.

Binance, Bybit, HTX, MEXC and KuCoin files are stamped in UTC+3 and are shifted by −3 h; gate and dydx are UTC.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl

from levradar.ingest.normalize import FILE, ROW, Batch, InputError, with_market
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import Filters, need_columns, settlement_rows, utc_ts

NAME = "funding-7venues"
UTC_PLUS_3 = frozenset({"binance", "bybit", "htx", "mexc", "kucoin"})
_FILE = re.compile(r"^(?P<symbol>[A-Za-z0-9]+-[A-Za-z0-9]+)_(?P<venue>[a-z]+)_.*_funding_history\.csv$")


def load(path: Path, filters: Filters) -> Batch:
    files = [path] if path.is_file() else sorted(path.glob("*_funding_history.csv"))
    batch = Batch(ImportReport(NAME, str(path)))
    for file in files:
        m = _FILE.match(file.name)
        if not m:
            batch.report.skipped.append(
                f"{file.name}: name is not <BASE-QUOTE>_<venue>_..._funding_history.csv"
            )
            continue
        if filters.wants(m["venue"], m["symbol"].split("-")[0]):
            _load_file(batch, file, m["venue"], m["symbol"], filters)
    if batch.report.files == 0:
        raise InputError(str(path), None, None, "no *_funding_history.csv files found")
    return batch


def _load_file(batch: Batch, file: Path, venue: str, symbol: str, filters: Filters) -> None:
    batch.report.files += 1
    try:
        raw = pl.read_csv(
            file, schema_overrides={"Date": pl.String, "Funding Rate": pl.String, "Symbol": pl.String}
        )
    except Exception as exc:
        raise InputError(str(file), None, None, f"not a readable CSV file ({exc})") from exc
    raw = raw.with_row_index(ROW, offset=1).with_columns(pl.lit(str(file)).alias(FILE))
    need_columns(raw, ["Symbol", "Date", "Funding Rate"], file)
    rate = raw.with_columns(rate=pl.col("Funding Rate").str.strip_chars().cast(pl.Float64, strict=False))
    bad = rate.filter(pl.col("rate").is_null() | ~pl.col("rate").is_finite())
    if not bad.is_empty():
        raise InputError(
            str(file), int(bad[ROW][0]), "Funding Rate", f"not a number: {bad['Funding Rate'][0]!r}"
        )
    frame = utc_ts(rate, "Date", file)
    if venue in UTC_PLUS_3:
        frame = frame.with_columns(pl.col("ts") - timedelta(hours=3))
        batch.report.assume(
            f"{venue} timestamps in funding-7venues are UTC+3 and were shifted by -3 h to UTC"
        )
    frame = with_market(filters.window(frame), venue, symbol)
    batch.add("funding", settlement_rows(frame, "rate", f"{NAME}:{file.name}"))
