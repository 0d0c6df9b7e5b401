"""hyperliquid-rest: recorded Hyperliquid ``info`` responses (VCR cassettes): funding history, candles, meta."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from levradar.domain.datasets import QUALITY_VENUE
from levradar.domain.symbols import canonical_market
from levradar.ingest.normalize import FILE, ROW, Batch, InputError, with_market
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import Filters, canonical_rows, settlement_rows

NAME = "hyperliquid-rest"


def load(path: Path, filters: Filters) -> Batch:
    files = [path] if path.is_file() else sorted(path.glob("*.yaml"))
    batch = Batch(ImportReport(NAME, str(path)))
    for file in files:
        batch.report.files += 1
        for request, body in _interactions(file):
            kind = request.get("type")
            if kind == "fundingHistory":
                funding_rows(batch, file, body, filters)
            elif kind == "candleSnapshot":
                candle_rows(batch, file, request.get("req", {}), body, filters)
            elif kind == "meta":
                for asset in body.get("universe", []):
                    m = canonical_market("hyperliquid", asset["name"])
                    batch.add_instrument(
                        venue=m.venue,
                        symbol=m.symbol,
                        asset=m.asset,
                        quote=m.quote,
                        contract_size=1.0,
                        contract_unit="coin",
                    )
    if batch.report.files == 0:
        raise InputError(str(path), None, None, "no recorded Hyperliquid responses (*.yaml) found")
    return batch


def _interactions(file: Path) -> list[tuple[dict[str, Any], Any]]:
    try:
        doc = yaml.safe_load(file.read_text())
        out = []
        for item in doc["interactions"]:
            request = json.loads(item["request"]["body"])
            body = json.loads(item["response"]["body"]["string"])
            out.append((request, body))
        return out
    except (yaml.YAMLError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InputError(str(file), None, None, f"not a recorded Hyperliquid response ({exc!r})") from exc


def _frame(records: list[dict[str, Any]], file: Path) -> pl.DataFrame:
    return pl.DataFrame(records).with_row_index(ROW, offset=1).with_columns(pl.lit(str(file)).alias(FILE))


def funding_rows(batch: Batch, file: Path, body: list[dict[str, Any]], filters: Filters) -> None:
    if not body:
        return
    frame = _frame(body, file).with_columns(
        ts=pl.from_epoch(pl.col("time").cast(pl.Int64), time_unit="ms").dt.replace_time_zone("UTC"),
        rate=pl.col("fundingRate").cast(pl.Float64, strict=False),
    )
    for (coin,), part in frame.group_by("coin"):
        if filters.wants("hyperliquid", str(coin)):
            market = with_market(filters.window(part), "hyperliquid", str(coin))
            batch.add("funding", settlement_rows(market, "rate", f"{NAME}:{file.name}"))


def candle_rows(
    batch: Batch, file: Path, req: dict[str, Any], body: list[dict[str, Any]], filters: Filters
) -> None:
    if not body or not filters.wants("hyperliquid", str(req.get("coin", ""))):
        return
    frame = _frame(body, file).with_columns(
        ts=pl.from_epoch(pl.col("t").cast(pl.Int64), time_unit="ms").dt.replace_time_zone("UTC")
    )
    market = with_market(filters.window(frame), "hyperliquid", str(req["coin"]))
    prices = {k: pl.col(k).cast(pl.Float64) for k in ("o", "h", "l", "c", "v")}
    batch.add(
        "candles",
        canonical_rows(
            market,
            f"{NAME}:{file.name}",
            QUALITY_VENUE,
            ts="ts",
            interval="i",
            open=prices["o"],
            high=prices["h"],
            low=prices["l"],
            close=prices["c"],
            volume_base=prices["v"],
        ),
    )
