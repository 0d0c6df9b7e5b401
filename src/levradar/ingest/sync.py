"""Backfill from the venues' public REST APIs (``levradar sync``): one venue failing never stops the others.

Implemented: Hyperliquid (``info`` fundingHistory and candleSnapshot, paged by the last timestamp). The other
venues report "not implemented yet" in the summary rather than pretending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from levradar.ingest.normalize import Batch, InputError
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.ingest.sources.common import Filters
from levradar.ingest.sources.hyperliquid_rest import candle_rows, funding_rows
from levradar.net.endpoints import endpoint
from levradar.net.http import HttpClient, HttpError, RateLimiter, RetryPolicy
from levradar.store import Store

HL_PAGE = 500  # fundingHistory returns at most 500 settlements per call
HL_CANDLE_PAGE = 5000


class SyncUnavailable(RuntimeError):
    """This venue has no backfill yet."""


@dataclass
class VenueSummary:
    venue: str
    ok: bool
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    error: str | None = None


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _hyperliquid(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    batch = Batch(ImportReport("sync:hyperliquid", client.base_url))
    filters = Filters(start=since, end=until)
    for asset in assets:
        start = _ms(since)
        while start <= _ms(until):
            body = client.post_json(
                "/info",
                {"type": "fundingHistory", "coin": asset, "startTime": start, "endTime": _ms(until)},
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
        start = _ms(since)
        while start <= _ms(until):
            req = {"coin": asset, "interval": "1h", "startTime": start, "endTime": _ms(until)}
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


SYNCERS: dict[str, Callable[[HttpClient, Sequence[str], datetime, datetime], Batch]] = {
    "hyperliquid": _hyperliquid,
}


def sync(
    store: Store,
    venues: Sequence[str],
    assets: Sequence[str],
    since: datetime,
    until: datetime | None = None,
    *,
    data_dir: Path | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[VenueSummary]:
    """Backfill each venue in turn; a venue that fails is reported and the next one runs."""
    end = until or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    out = []
    for venue in venues:
        summary = VenueSummary(venue, ok=False)
        client: HttpClient | None = None
        try:
            syncer = SYNCERS.get(venue)
            if syncer is None:
                raise SyncUnavailable("backfill not implemented yet for this venue")
            client = HttpClient(
                venue,
                endpoint(venue, "rest", data_dir),
                policy or RetryPolicy(),
                RateLimiter(rate=10.0, burst=10.0, sleep=sleep),
                sleep=sleep,
            )
            report = write_batch(store, syncer(client, assets, since, end), "sync")
            summary.rows = {name: rep.inserted or 0 for name, rep in report.datasets.items()}
            summary.ok = True
        except (HttpError, InputError, SyncUnavailable, ValueError, KeyError) as exc:
            summary.error = str(exc)
        summary.requests = client.attempts_made if client else 0
        out.append(summary)
    return out


def summary_dict(s: VenueSummary) -> dict[str, Any]:
    return {"venue": s.venue, "ok": s.ok, "inserted": s.rows, "requests": s.requests, "error": s.error}
