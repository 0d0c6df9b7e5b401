"""Hyperliquid REST backfill (``levradar sync``): ``info`` fundingHistory and candleSnapshot paged by the last
timestamp, the listing (``meta``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from levradar.ingest.normalize import Batch, InputError
from levradar.ingest.report import ImportReport
from levradar.ingest.rest import (
    Budget,
    ms,
)
from levradar.ingest.sources.common import Filters
from levradar.ingest.sources.hyperliquid_rest import candle_rows, funding_rows
from levradar.net.http import HttpClient

# 1,200 weight/min per IP; an info request weighs 20 (candleSnapshot, fundingHistory; more for long answers)
BUDGET = Budget(rate=20.0, burst=40.0, weights={"info": 20.0})


HL_PAGE = 500  # fundingHistory returns at most 500 settlements per call
HL_CANDLE_PAGE = 5000


def backfill(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    batch = Batch(ImportReport("sync:hyperliquid", client.base_url))
    filters = Filters(start=since, end=until)
    for asset in assets:
        start = ms(since)
        while start <= ms(until):
            body = client.post_json(
                "/info",
                {"type": "fundingHistory", "coin": asset, "startTime": start, "endTime": ms(until)},
                "info",
            )
            if not isinstance(body, list):
                raise InputError(client.base_url, None, None, f"fundingHistory for {asset}: expected a list")
            if not body:
                break
            funding_rows(batch, Path(f"{client.base_url}/info#fundingHistory/{asset}"), body, filters)
            batch.report.files += 1
            last = max(int(item["time"]) for item in body)
            if len(body) < HL_PAGE or last < start:
                break
            start = last + 1
        start = ms(since)
        while start <= ms(until):
            req = {"coin": asset, "interval": "1h", "startTime": start, "endTime": ms(until)}
            body = client.post_json("/info", {"type": "candleSnapshot", "req": req}, "info")
            if not isinstance(body, list):
                raise InputError(client.base_url, None, None, f"candleSnapshot for {asset}: expected a list")
            if not body:
                break
            candle_rows(batch, Path(f"{client.base_url}/info#candleSnapshot/{asset}"), req, body, filters)
            last = max(int(item["t"]) for item in body)
            if len(body) < HL_CANDLE_PAGE or last < start:
                break
            start = last + 1
    return batch


def list_perpetuals(client: HttpClient) -> list[str]:
    body = client.post_json("/info", {"type": "meta"}, "info")
    universe = body.get("universe") if isinstance(body, dict) else None
    if not isinstance(universe, list):
        raise InputError(f"{client.base_url}/info", None, None, "meta: expected {universe: [...]}")
    return [str(u["name"]) for u in universe if not u.get("isDelisted")]
