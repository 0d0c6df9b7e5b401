"""The live recorder (``levradar record``): venue WebSocket streams → domain records → batched store writes.

One connection per venue, each with its own reconnect loop (backoff, the library's ping/pong heartbeats); a
writer flushes what arrived every ``flush_s`` seconds in one transaction. ``--duration``, Ctrl-C and SIGTERM all
stop the connections and flush: nothing received is lost. Re-delivered messages after a reconnect map to the same
keys, so the store keeps one copy. Every parse is total: whatever a message does (malformed JSON, deep nesting,
numbers too large for a float, ``true`` or Unicode digits where a number belongs, a time before 2019 or after its
receipt, a liquidation worth more than any on record) it is counted, kept verbatim in ``rejected/<venue>.jsonl`` in
the data directory with the reason, and the stream goes on; the valid items of a partly readable message are
stored. A batch the store refuses is written record by record, so one bad row never stops the writer. OKX contract
values come from the synced instrument list (``levradar sync``), else the built-in table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets

from levradar.domain.datasets import LIQUIDATION_USD_MAX
from levradar.domain.records import Liquidation, Rows, from_us, utc_us
from levradar.domain.symbols import canonical_market
from levradar.ingest.normalize import Batch
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.jsonio import dumps
from levradar.net.endpoints import endpoint
from levradar.store import Store
from levradar.venues import ParseError, parse_into
from levradar.venues.okx import DEFAULT_CONTRACT_VALUES


@dataclass
class StreamStats:
    venue: str
    messages: int = 0
    records: int = 0
    stored: int = 0  # records the store took (new or already there)
    malformed: int = 0
    reconnects: int = 0
    connections: int = 0  # successful connections (0 at the end: the venue was never reached)
    connected: bool = False  # connected right now
    set_aside: int = 0  # readable records breaking a rule (kept in rejected/ with the reason)
    gaps_s: list[float] = field(default_factory=list)  # time spent disconnected, per reconnect
    last_error: str | None = None


MAX_MESSAGE_BYTES = (
    4 * 1024 * 1024
)  # far above any venue message; a larger frame closes the connection (reconnect)
# no followed venue listed a linear perpetual before 2019 (Binance USDⓈ-M opened 2019-09); recorded frames replayed
# later keep their own times, so the past bound is that date, not the receipt
STREAM_EARLIEST = datetime(2019, 1, 1, tzinfo=UTC)
STREAM_FUTURE = timedelta(minutes=10)  # clocks differ, but not by more than this


STREAM_EARLIEST_US = utc_us(STREAM_EARLIEST)
STREAM_FUTURE_US = STREAM_FUTURE // timedelta(microseconds=1)


def implausible(row: tuple[Any, ...], received_us: int) -> str | None:
    """Why a parsed stream row (:class:`Rows`) cannot be true (None when it can): a time before 2019 or more than
    10 minutes after its receipt, or a liquidation whose USD value is not finite or beyond any on record."""
    ts = row[3]  # every streamed record type: (dataset name, venue, symbol, ts, ...)
    if not STREAM_EARLIEST_US <= ts <= received_us + STREAM_FUTURE_US:
        return (
            f"time {from_us(ts):%Y-%m-%d %H:%M:%S} is before 2019 or after its receipt "
            f"({from_us(received_us):%Y-%m-%d %H:%M:%S})"
        )
    if row[0] == Liquidation.dataset_name:
        price, qty = row[5], row[6]
        notional = price * qty
        if not math.isfinite(notional) or notional > LIQUIDATION_USD_MAX:
            return f"liquidation of {notional:.3g} USD (price {price:.6g} × size {qty:.6g})"
    return None


def subscriptions(venue: str, assets: Sequence[str]) -> tuple[str, list[dict[str, Any]]]:
    """The URL path and the subscribe messages for liquidations and mark/OI tickers of ``assets``."""
    if venue == "binance":
        streams = "/".join(
            f"{canonical_market(venue, a).symbol.lower()}@{kind}"
            for a in assets
            for kind in ("forceOrder", "markPrice@1s")
        )
        return f"/stream?streams={streams}", []
    if venue == "bybit":
        args = [
            f"{kind}.{canonical_market(venue, a).symbol}"
            for a in assets
            for kind in ("allLiquidation", "tickers")
        ]
        return "", [{"op": "subscribe", "args": args}]
    if venue == "okx":
        channels: list[dict[str, str]] = [{"channel": "liquidation-orders", "instType": "SWAP"}]
        for a in assets:
            inst = canonical_market(venue, a).symbol
            channels += [
                {"channel": "mark-price", "instId": inst},
                {"channel": "open-interest", "instId": inst},
                {"channel": "funding-rate", "instId": inst},
            ]
        return "", [{"op": "subscribe", "args": channels}]
    if venue == "hyperliquid":
        return "", [
            {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": a}} for a in assets
        ]
    raise ValueError(f"no stream subscriptions known for venue {venue!r}")


def okx_contract_values(store: Store) -> dict[str, float]:
    """Coin per OKX contract by asset: the synced instrument list over the built-in table."""
    values = dict(DEFAULT_CONTRACT_VALUES)
    synced = store.instruments()
    for row in synced.filter(
        (synced["venue"] == "okx") & (synced["contract_unit"] == synced["asset"])
    ).iter_rows(named=True):
        if row["contract_size"]:
            values[row["asset"]] = float(row["contract_size"])
    return values


class Recorder:
    def __init__(
        self,
        store: Store,
        venues: Sequence[str],
        assets: Sequence[str],
        *,
        data_dir: Path | None = None,
        flush_s: float = 1.0,
        max_backoff_s: float = 30.0,
        lock: AbstractContextManager[Any] | None = None,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """``lock`` guards the store when other threads share it (``serve --record``); ``on_write`` runs after
        each write that stored something."""
        self.lock, self.on_write = lock or contextlib.nullcontext(), on_write
        self.store, self.venues, self.assets = store, list(venues), list(assets)
        self.data_dir, self.flush_s, self.max_backoff_s = data_dir, flush_s, max_backoff_s
        self.stats = {v: StreamStats(v) for v in self.venues}
        self.pending = Rows()  # parsed, not yet written
        self.written: dict[str, int] = defaultdict(int)
        self.write_errors = 0  # batches that failed and were written record by record
        self.stop = asyncio.Event()
        self.rejected_dir = store.data_dir / "rejected"
        with self.lock:
            self.contract_values = okx_contract_values(store)

    async def run(self, duration_s: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # off the main thread (an embedding application) signals stay with the caller
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        tasks = [asyncio.create_task(self._stream(v)) for v in self.venues]
        writer = asyncio.create_task(self._writer())
        try:
            if duration_s is not None:
                await asyncio.wait_for(self.stop.wait(), timeout=duration_s)
            else:
                await self.stop.wait()
        except TimeoutError:
            pass
        finally:
            self.stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await writer
            self.flush()  # whatever arrived after the writer's last pass

    async def _stream(self, venue: str) -> None:
        stats = self.stats[venue]
        path, subscribe = subscriptions(venue, self.assets)
        url = endpoint(venue, "ws", self.data_dir) + path
        backoff, down_since = 0.5, None
        while not self.stop.is_set():
            try:
                async with websockets.connect(
                    url, ping_interval=20, ping_timeout=20, open_timeout=10, max_size=MAX_MESSAGE_BYTES
                ) as ws:
                    stats.connections += 1
                    stats.connected = True
                    if down_since is not None:
                        stats.gaps_s.append(time.monotonic() - down_since)
                        stats.reconnects += 1
                    backoff, down_since = 0.5, None
                    for message in subscribe:
                        await ws.send(json.dumps(message))
                    async for raw in ws:
                        self._receive(venue, raw)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                stats.last_error = f"{type(exc).__name__}: {exc}"
            stats.connected = False
            if down_since is None:
                down_since = time.monotonic()
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=backoff)
            except TimeoutError:
                backoff = min(self.max_backoff_s, backoff * 2)

    def _receive(self, venue: str, raw: str | bytes, received_us: int | None = None) -> None:
        """Parse one message into the pending rows (``received_us``: its receipt in UTC microseconds, now by
        default); whatever goes wrong (a parser error, deep nesting, a number too large for a float, an
        implausible value) rejects that message with its reason and the stream goes on."""
        stats = self.stats[venue]
        stats.messages += 1
        if received_us is None:
            received_us = time.time_ns() // 1000
        pending = self.pending
        start = len(pending.rows)
        try:
            message = json.loads(raw)
            if isinstance(message, dict):
                parse_into(pending, venue, message, received_us, self.contract_values)
            problem = None
        except Exception as exc:  # every parse is total: any failure is a rejected message
            problem = str(exc) if isinstance(exc, ParseError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        rows = pending.rows
        for i in range(start, len(rows)):
            why = implausible(rows[i], received_us)
            if why is not None:  # drop the implausible rows of this message, keep the others
                problem = problem or f"{rows[i][0]}: {why}"
                rows[start:] = [r for r in rows[start:] if implausible(r, received_us) is None]
                break
        if problem is not None:
            stats.malformed += 1
            stats.last_error = f"malformed message: {problem}"
            self._reject(venue, raw, from_us(received_us), problem)
        stats.records += len(rows) - start

    def _reject(self, venue: str, raw: str | bytes, received_at: datetime, reason: str) -> None:
        """Keep a message that could not be read, verbatim, with why (one JSON line per message)."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = {"received_at": received_at.isoformat(), "venue": venue, "reason": reason, "raw": text}
        with (self.rejected_dir / f"{venue}.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    async def _writer(self) -> None:
        while not self.stop.is_set():
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=self.flush_s)
            except TimeoutError:
                self.flush()

    def flush(self) -> None:
        """Write everything received so far in one transaction (the pending rows are taken first). When the batch
        cannot be written, each record is written on its own and only those that fail are rejected with the
        reason: the writer never stops on a row."""
        taken, self.pending = self.pending, Rows()
        if not len(taken):
            return
        try:
            self._write(taken)
        except Exception as exc:  # isolate the row that broke the batch, keep the others
            self.write_errors += 1
            for record in taken.records():
                one = Rows()
                one.add(record)
                try:
                    self._write(one)
                except Exception as single:  # this row is rejected, with why
                    reason = f"not written: {type(single).__name__}: {str(single)[:200]} (batch: {exc!s:.80})"
                    self._reject(record.venue, dumps(record.__dict__), datetime.now(UTC), reason)
                    if record.venue in self.stats:
                        self.stats[record.venue].set_aside += 1

    def _write(self, taken: Rows) -> None:
        batch = Batch(ImportReport("record", "websocket"))
        for name, frame in taken.frames(source="record").items():
            batch.add(name, frame)
        with self.lock:
            report = write_batch(self.store, batch, "record", live=True)
        for name, rep in report.datasets.items():
            self.written[name] += rep.inserted or 0
        stored = Counter(row[1] for row in taken.rows)
        for aside in report.set_aside:  # kept with the reason, like an unreadable message
            venue = str(aside["venue"])
            stored[venue] -= 1
            if venue in self.stats:
                self.stats[venue].set_aside += 1
            self._reject(
                venue, dumps(aside["row"]), datetime.now(UTC), f"{aside['dataset']}: {aside['reason']}"
            )
        for venue, n in stored.items():
            if venue in self.stats:
                self.stats[venue].stored += n
        if self.on_write is not None:
            self.on_write()


def record(
    store: Store,
    venues: Sequence[str],
    assets: Sequence[str],
    duration_s: float | None,
    *,
    data_dir: Path | None = None,
    flush_s: float = 1.0,
) -> Recorder:
    recorder = Recorder(store, venues, assets, data_dir=data_dir, flush_s=flush_s)
    asyncio.run(recorder.run(duration_s))
    return recorder
