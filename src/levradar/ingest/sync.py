"""Backfill from the venues' public REST APIs (``levradar sync``): the orchestration — venues concurrently, each
asset committed when fetched, one line per venue whatever fails. Each venue's endpoints, paging and request budget
live with the venue (``levradar.venues.<venue>.rest``); another venue reports "not implemented yet".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from levradar.domain.datasets import CANDLE_INTERVALS
from levradar.ingest.normalize import Batch, InputError
from levradar.ingest.report import MAX_SET_ASIDE_LINES
from levradar.ingest.rest import Budget
from levradar.ingest.run import write_batch
from levradar.net.endpoints import endpoint
from levradar.net.http import HttpClient, HttpError, RateLimiter, RetryPolicy
from levradar.store import Store
from levradar.venues.binance import rest as binance_rest
from levradar.venues.bybit import rest as bybit_rest
from levradar.venues.hyperliquid import rest as hyperliquid_rest
from levradar.venues.okx import rest as okx_rest


class SyncUnavailable(RuntimeError):
    """This venue cannot be synced as asked (no backfill for it, or no start time)."""


@dataclass
class VenueSummary:
    venue: str
    ok: bool
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    assets: int = 0
    needs_since: bool = False  # nothing stored yet for an asset: a first backfill needs a start time
    error: str | None = None
    set_aside: list[str] = field(default_factory=list)  # rows not stored because they break a rule, and why


def resume_since(store: Store, venue: str, assets: Sequence[str]) -> datetime | None:
    """Where an incremental sync of ``assets`` on ``venue`` starts: the oldest of their newest stored 1h candles
    (re-reading that hour is harmless: upserts are idempotent). None when an asset has nothing stored yet."""
    status = store.status().filter(
        (pl.col("dataset") == "candles") & (pl.col("venue") == venue) & (pl.col("interval") == "1h")
    )
    newest = dict(zip(status["asset"].to_list(), status["last"].to_list(), strict=True))
    if not assets or any(a not in newest for a in assets):
        return None
    oldest: datetime = min(newest[a] for a in assets)
    return oldest


VENUE_REST = {"binance": binance_rest, "bybit": bybit_rest, "okx": okx_rest, "hyperliquid": hyperliquid_rest}
SYNCERS: dict[str, Callable[[HttpClient, Sequence[str], datetime, datetime], Batch]] = {
    name: module.backfill for name, module in VENUE_REST.items()
}
LISTERS: dict[str, Callable[[HttpClient], list[str]]] = {
    name: module.list_perpetuals for name, module in VENUE_REST.items()
}
BUDGETS: dict[str, Budget] = {name: module.BUDGET for name, module in VENUE_REST.items()}


def sync(
    store: Store,
    venues: Sequence[str],
    assets: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None = None,
    *,
    data_dir: Path | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    lock: AbstractContextManager[Any] | None = None,
    on_venue_done: Callable[[VenueSummary], None] | None = None,
) -> list[VenueSummary]:
    """Backfill the venues concurrently (one thread each); whatever fails is that venue's (or that asset's) line
    in its summary, never a traceback, and the others run on.

    ``assets=None``: every USDT perpetual the venue lists. ``since=None``: each asset continues from what the store
    holds (:func:`resume_since`); an asset with nothing stored asks for a start time. Each asset is committed as
    soon as it is fetched. ``lock`` guards the store (held only to read a resume point and to write, never during
    network calls); without one, a lock of this call's own keeps the venues' threads off the store together.
    ``on_venue_done`` is called with each venue's summary as it finishes (a progress bar)."""
    guard = lock or threading.Lock()
    end = until or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with ThreadPoolExecutor(max_workers=max(1, len(venues)), thread_name_prefix="sync") as pool:
        jobs = [
            pool.submit(_sync_venue, store, venue, assets, since, end, data_dir, policy, sleep, guard)
            for venue in venues
        ]
        for job in as_completed(jobs):
            if on_venue_done is not None:
                on_venue_done(job.result())
        return [job.result() for job in jobs]


def _sync_venue(
    store: Store,
    venue: str,
    assets: Sequence[str] | None,
    since: datetime | None,
    end: datetime,
    data_dir: Path | None,
    policy: RetryPolicy | None,
    sleep: Callable[[float], None],
    guard: AbstractContextManager[Any],
) -> VenueSummary:
    summary = VenueSummary(venue, ok=False)
    client: HttpClient | None = None
    errors: list[str] = []
    try:
        syncer = SYNCERS.get(venue)
        if syncer is None:
            raise SyncUnavailable("backfill not implemented yet for this venue")
        budget = BUDGETS.get(venue, Budget(rate=10.0, burst=10.0))
        client = HttpClient(
            venue,
            endpoint(venue, "rest", data_dir),
            policy or RetryPolicy(),
            RateLimiter(rate=budget.rate, burst=budget.burst, sleep=sleep),
            sleep=sleep,
            weights=budget.weight,
        )
        wanted = list(assets) if assets is not None else LISTERS[venue](client)
        for asset in wanted:
            try:
                _sync_asset(store, syncer, client, asset, since, end, guard, summary)
            except Exception as exc:  # this asset's failure is its line; the next asset runs
                errors.append(f"{asset}: {_describe(exc)}")
                if isinstance(exc, HttpError) and exc.status is None:
                    break  # refused, unanswered or dropped after every retry: the other assets would fare the same
        summary.ok = not errors and summary.assets == len(wanted)
    except Exception as exc:  # a venue's failure (listing, configuration) is its line, the others run on
        errors.append(_describe(exc))
    finally:
        if client is not None:
            summary.requests = client.attempts_made
            client.close()
    if errors:
        summary.error = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
    return summary


def _sync_asset(
    store: Store,
    syncer: Callable[[HttpClient, Sequence[str], datetime, datetime], Batch],
    client: HttpClient,
    asset: str,
    since: datetime | None,
    end: datetime,
    guard: AbstractContextManager[Any],
    summary: VenueSummary,
) -> None:
    """Fetch one asset and commit it (bad rows set aside, the rest stored)."""
    with guard:
        start = since or resume_since(store, client.venue, [asset])
    if start is None:
        summary.needs_since = True
        raise SyncUnavailable(
            "nothing stored yet for this asset on this venue: give --since for the first backfill"
        )
    batch = syncer(client, [asset], start, end)
    _closed_bars_only(batch, min(datetime.now(UTC), end))
    with guard:
        report = write_batch(store, batch, "sync", live=True)
    summary.assets += 1
    for name, rep in report.datasets.items():
        summary.rows[name] = summary.rows.get(name, 0) + (rep.inserted or 0)
    summary.set_aside += [f"{a['dataset']} {a['symbol']}: {a['reason']}" for a in report.set_aside]


def _closed_bars_only(batch: Batch, cutoff: datetime) -> None:
    """Keep the candles whose bar has closed by ``cutoff`` (the sync's end, or now): a running bar's figures are not
    the bar's yet, and a reading as of an hour must not see them."""
    interval = pl.col("interval").replace_strict(CANDLE_INTERVALS, return_dtype=pl.Duration("us"))
    kept = [f.filter(pl.col("ts") + interval <= cutoff) for f in batch.parts.pop("candles", [])]
    for frame in kept:
        batch.add("candles", frame)  # an emptied frame is not added


def _describe(exc: Exception) -> str:
    """One line for a failure: our own errors say what happened; anything else (a reply of an unexpected shape
    that broke a parser) is named as such with its type."""
    if isinstance(exc, HttpError | InputError | SyncUnavailable):
        return str(exc)
    return f"unexpected reply ({type(exc).__name__}: {str(exc)[:160]})"


def summary_dict(s: VenueSummary) -> dict[str, Any]:
    return {
        "venue": s.venue,
        "ok": s.ok,
        "assets": s.assets,
        "inserted": s.rows,
        "requests": s.requests,
        "error": s.error,
        "set_aside": len(s.set_aside),
        "set_aside_reasons": s.set_aside[:MAX_SET_ASIDE_LINES],
    }


def sync_positions(
    store: Store,
    *,
    data_dir: Path,
    top: int = 100,
    addresses: Sequence[str] | None = None,
    keep_addresses: bool = False,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> Any:
    """One snapshot of measured Hyperliquid positions (``venues/hyperliquid/positions.py``): ``addresses`` (else
    the leaderboard's ``top`` accounts), each account's ``clearinghouseState`` within the documented weights,
    resumable; rows that break a rule are set aside, the rest stored."""
    from levradar.venues.hyperliquid import positions

    def client(kind: str, budget: Budget) -> HttpClient:
        return HttpClient(
            "hyperliquid",
            endpoint("hyperliquid", kind, data_dir),  # type: ignore[arg-type]
            policy or RetryPolicy(),
            RateLimiter(rate=budget.rate, burst=budget.burst, sleep=sleep),
            sleep=sleep,
            weights=budget.weight,
        )

    state = client("rest", positions.STATE_BUDGET)
    try:
        if addresses is None:
            board = client("stats", positions.LEADERBOARD_BUDGET)
            try:
                accounts, selection = positions.leaderboard_accounts(board, top), f"leaderboard-top{top}"
            finally:
                board.close()
        else:
            accounts, selection = list(addresses), "addresses"
        return positions.sync_positions(
            state,
            accounts,
            selection,
            data_dir / "positions-sync" / "hyperliquid.json",
            lambda batch: write_batch(store, batch, "sync", live=True),
            keep_addresses=keep_addresses,
            now=now,
        )
    finally:
        state.close()
