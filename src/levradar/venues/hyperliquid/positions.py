"""Measured positions from Hyperliquid's public API (``levradar sync --venues hyperliquid --positions``): the accounts
of the public leaderboard (``stats-data`` host, ``/Mainnet/leaderboard``), then ``info`` ``clearinghouseState`` per
account — positions with the exchange's own liquidation prices.

Request weights are Hyperliquid's documented ones: 1,200 per minute per IP, ``clearinghouseState`` weighs 2 (most
other ``info`` requests 20). A snapshot is resumable: the account list and the accounts already fetched are kept in
``positions-sync/hyperliquid.json`` in the data directory until the snapshot is complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from levradar.domain.accounts import account_id, is_address
from levradar.domain.datasets import QUALITY_VENUE
from levradar.domain.symbols import canonical_market
from levradar.ingest.normalize import Batch
from levradar.ingest.report import ImportReport
from levradar.ingest.rest import Budget
from levradar.net.http import HttpClient, HttpError

VENUE = "hyperliquid"
STATE_BUDGET = Budget(rate=20.0, burst=40.0, weights={"info": 2.0})  # 1,200 weight/min; clearinghouseState: 2
LEADERBOARD_BUDGET = Budget(rate=1.0, burst=2.0)  # one large download per snapshot; no documented limit
LEADERBOARD_PATH = "/Mainnet/leaderboard"
RESUME_WITHIN = timedelta(
    hours=1
)  # an unfinished snapshot older than this starts over: it is no longer "now"
CHUNK = 25  # accounts per store commit (and progress save)
SOURCE = "sync:hyperliquid-positions"


class PositionsError(ValueError):
    """A response that is not what Hyperliquid documents."""


def leaderboard_accounts(client: HttpClient, top: int) -> list[str]:
    """The ``top`` leaderboard accounts by account value (the largest hold most of the open interest)."""
    body = client.get_json(LEADERBOARD_PATH, bucket="leaderboard")
    rows = body.get("leaderboardRows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise PositionsError("leaderboard: expected {leaderboardRows: [...]}")
    ranked: list[tuple[float, str]] = []
    for row in rows:
        address, value = (
            (row.get("ethAddress"), row.get("accountValue")) if isinstance(row, dict) else (None, None)
        )
        try:
            usd = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if isinstance(address, str) and is_address(address):
            ranked.append((usd, address.lower()))
    ranked.sort(key=lambda r: -r[0])
    return [a for _, a in ranked[:top]]


def state_rows(
    body: Any, account: str, when: datetime, selection: str
) -> tuple[list[dict[str, Any]], set[str]]:
    """One row per open position of a ``clearinghouseState`` answer (canonical ``positions`` columns), and the
    coins of positions in markets levradar cannot name (left out, and said)."""
    if not isinstance(body, dict) or not isinstance(body.get("assetPositions"), list):
        raise PositionsError(f"clearinghouseState for {account}: expected {{assetPositions: [...]}}")
    summary = body.get("marginSummary") or {}
    account_value = _number(summary.get("accountValue"))
    rows, unnamed = [], set()
    for item in body["assetPositions"]:
        p = item.get("position") if isinstance(item, dict) else None
        if not isinstance(p, dict) or "coin" not in p or "szi" not in p:
            raise PositionsError(f"clearinghouseState for {account}: a position without coin or size")
        size = _number(p["szi"])
        if size is None or size == 0:
            continue
        try:
            market = canonical_market(VENUE, str(p["coin"]))
        except ValueError:
            unnamed.add(str(p["coin"]))
            continue
        raw_leverage = p.get("leverage")
        leverage: dict[str, Any] = raw_leverage if isinstance(raw_leverage, dict) else {}
        rows.append(
            {
                "venue": market.venue,
                "symbol": market.symbol,
                "asset": market.asset,
                "account": account,
                "ts": when,
                "side": "long" if size > 0 else "short",
                "qty_base": abs(size),
                "entry_price": _number(p.get("entryPx")),
                "leverage": _number(leverage.get("value")),
                "margin_mode": leverage.get("type")
                if leverage.get("type") in ("cross", "isolated")
                else None,
                "position_usd": _number(p.get("positionValue")),
                "liquidation_price": _number(p.get("liquidationPx")),
                "account_value_usd": account_value,
                "unrealized_pnl_usd": _number(p.get("unrealizedPnl")),
                "selection": selection,
                "source": SOURCE,
                "quality": QUALITY_VENUE,
            }
        )
    return rows, unnamed


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise PositionsError(f"not a number: {value!r}") from exc


@dataclass
class Progress:
    """A snapshot in the making: its time, its accounts (addresses) and those already fetched."""

    snapshot: datetime
    selection: str
    accounts: list[str]
    done: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, file: Path, now: datetime) -> Progress | None:
        """The unfinished snapshot in ``file`` if it began less than :data:`RESUME_WITHIN` before ``now``."""
        if not file.exists():
            return None
        raw = json.loads(file.read_text())
        progress = cls(
            datetime.fromisoformat(raw["snapshot"]), raw["selection"], raw["accounts"], raw["done"]
        )
        return progress if now - progress.snapshot < RESUME_WITHIN else None

    def save(self, file: Path) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        data = {**self.__dict__, "snapshot": self.snapshot.isoformat()}
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(file)

    @property
    def todo(self) -> list[str]:
        done = set(self.done)
        return [a for a in self.accounts if a not in done]


@dataclass
class PositionsSummary:
    snapshot: datetime
    resumed: bool
    accounts: int
    fetched: int = 0
    positions: int = 0
    failed: list[str] = field(
        default_factory=list
    )  # "account: reason" (the account as stored: hashed by default)
    unnamed: set[str] = field(
        default_factory=set
    )  # markets levradar cannot name (HIP-3 dexes, spot): not stored
    stopped: str | None = None  # why the run stopped early (the venue refused or did not answer)


def sync_positions(
    state: HttpClient,
    accounts: Sequence[str],
    selection: str,
    progress_file: Path,
    write: Callable[[Batch], object],
    *,
    keep_addresses: bool = False,
    now: datetime | None = None,
) -> PositionsSummary:
    """Fetch ``accounts``' positions as one snapshot (or finish the unfinished one in ``progress_file``), writing
    every :data:`CHUNK` accounts. One account's failure is its line in the summary; a refused or unanswered venue
    stops the run (the progress stays, the next run resumes it)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    progress = Progress.load(progress_file, now)
    resumed = progress is not None
    if progress is None:
        progress = Progress(now, selection, [a.lower() for a in accounts])
    summary = PositionsSummary(progress.snapshot, resumed, len(progress.accounts))
    pending: list[dict[str, Any]] = []
    fetched: list[str] = []

    def flush() -> None:
        batch = Batch(ImportReport(SOURCE, state.base_url))
        if pending:
            batch.add("positions", pl.DataFrame(pending, infer_schema_length=None))
        write(batch)
        progress.done.extend(fetched)
        progress.save(progress_file)
        summary.positions += len(pending)
        pending.clear()
        fetched.clear()

    for address in progress.todo:
        account = account_id(address, keep=keep_addresses)
        try:
            body = state.post_json("/info", {"type": "clearinghouseState", "user": address}, "info")
            rows, unnamed = state_rows(body, account, progress.snapshot, progress.selection)
            pending.extend(rows)
            summary.unnamed.update(unnamed)
            summary.fetched += 1
        except HttpError as exc:
            if not exc.answered:  # refused or unanswered after every retry: the others would fare the same;
                summary.stopped = str(exc)  # this account stays to do, and the next run resumes here
                break
            summary.failed.append(f"{account}: {exc}")
        except PositionsError as exc:  # this account's answer is unreadable: its line, the next one runs
            summary.failed.append(f"{account}: {exc}")
        fetched.append(address)  # tried: a failed account is not asked again within this snapshot
        if len(fetched) >= CHUNK:
            flush()
    flush()
    if not progress.todo:
        progress_file.unlink(missing_ok=True)
    return summary
