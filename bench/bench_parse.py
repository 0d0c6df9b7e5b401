"""Stream parse + validate + store throughput, one core; prints JSON.

Usage: python bench/bench_parse.py [--messages 100000]
A stream is built from the real recorded frames (tests/fixtures/ws-samples): Binance forceOrder and markPrice,
Bybit allLiquidation and linear tickers, OKX swap mark-price/index/open-interest, Hyperliquid activeAssetCtx —
cycled with shifted timestamps and prices so no two records collide. Timed, on one thread (polars and DuckDB
limited to one, so the rates are per core):
- ``parse``: decoded messages (dicts, as ``json.loads`` gives them) → checked rows (``levradar.venues.parse_into``);
- ``parse_and_store``: that, then rows → one canonical frame per dataset → ``write_batch`` (the dataset rules,
  de-duplication, one DuckDB transaction, its commit) into a store opened beforehand;
- ``recorder_from_text``: the messages as JSON text through ``Recorder._receive`` (decode, parse, the plausibility
  checks, the counters) and one ``flush`` — what ``levradar record`` does with them, less the sockets;
- ``json_decode``: ``json.loads`` of those texts alone (the decoder's share of the recorder's time).
Each figure is the median of ``--repeats`` runs, each into a fresh store, after one untimed warm-up run (imports,
first-touch allocations). The prepared messages are frozen out of the garbage collector (``gc.freeze``): the
recorder holds one message at a time, not 100 000.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # before polars is imported: one core

import argparse
import copy
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from levradar.domain.records import Rows, utc_us
from levradar.ingest.normalize import Batch
from levradar.ingest.record import Recorder
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.store import Store
from levradar.venues import parse_into

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ws-samples"
VENUES = ["binance", "bybit", "okx", "hyperliquid"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def templates() -> list[tuple[str, dict[str, object]]]:
    def pick(name: str, needle: str) -> dict[str, object]:
        return next(f for f in json.loads((SAMPLES / name).read_text()) if needle in json.dumps(f))

    return [
        ("binance", pick("binance-futures.json", "forceOrder")),
        ("binance", pick("binance-futures.json", '"i": "11851')),
        ("bybit", pick("bybit-allLiquidation.json", "allLiquidation")),
        ("bybit", pick("bybit-v5.json", '"topic": "tickers.BTCUSDT"')),
        ("okx", pick("okex-swap-v5.json", "mark-price")),
        ("okx", pick("okex-swap-v5.json", "open-interest")),
        ("hyperliquid", pick("hyperliquid.json", "activeAssetCtx")),
    ]


def stream(n: int) -> list[tuple[str, dict[str, object]]]:
    """n messages: the templates with their times moved by i ms and prices nudged, as JSON text round-trips."""
    base = templates()
    out = []
    for i in range(n):
        venue, msg = base[i % len(base)]
        m = copy.deepcopy(msg)
        _shift(m, i)
        out.append((venue, m))
    return out


def _shift(obj: object, i: int) -> None:
    """Move every timestamp by i ms and every price by i ticks (in place)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("T", "E", "ts", "updatedTime") and isinstance(v, int | str) and str(v).isdigit():
                obj[k] = type(v)(int(v) + i)
            elif k in ("p", "ap", "markPx", "markPrice", "idxPx") and isinstance(v, str):
                obj[k] = f"{float(v) * (1 + (i % 1000) * 1e-6):.8f}"
            else:
                _shift(v, i)
    elif isinstance(obj, list):
        for v in obj:
            _shift(v, i)


def one_core_store(tmp: str) -> Store:
    store = Store(tmp)
    store.con.execute("SET threads = 1")
    return store


def parse_all(messages: list[tuple[str, dict[str, object]]]) -> Rows:
    """The messages' rows, each received 1 ms after the one before (Hyperliquid's rows carry their receipt)."""
    rows, start = Rows(), utc_us(NOW)
    for i, (venue, msg) in enumerate(messages):
        parse_into(rows, venue, msg, start + i * 1000)
    return rows


def store_rows(store: Store, rows: Rows) -> None:
    batch = Batch(ImportReport("bench-stream", "memory"))
    for name, frame in rows.frames(source="bench").items():
        batch.add(name, frame)
    write_batch(store, batch, "record", live=True)  # the dataset rules, de-duplication, one transaction


def timed(run: Callable[[Store], object], repeats: int) -> dict[str, list[float]]:
    """Wall and process CPU seconds of ``run`` into a fresh one-core store, ``repeats`` times after one untimed
    warm-up."""
    out: dict[str, list[float]] = {"wall": [], "cpu": []}
    for i in range(repeats + 1):
        with tempfile.TemporaryDirectory() as tmp, one_core_store(tmp) as store:
            wall, cpu = time.perf_counter(), time.process_time()
            run(store)
            if i:
                out["wall"].append(time.perf_counter() - wall)
                out["cpu"].append(time.process_time() - cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    messages = stream(args.messages)
    texts = [(venue, json.dumps(msg)) for venue, msg in messages]
    gc.freeze()  # the prepared messages are not what the garbage collector walks in a recorder

    parse_s = timed(lambda store: parse_all(messages), args.repeats)
    store_s = timed(lambda store: store_rows(store, parse_all(messages)), args.repeats)

    def record(store: Store) -> Recorder:
        recorder = Recorder(store, VENUES, ["BTC"])
        for venue, text in texts:
            recorder._receive(venue, text)
        recorder.flush()
        return recorder

    record_s = timed(record, args.repeats)

    def decode(store: Store) -> None:
        for _, text in texts:
            json.loads(text)  # one message at a time, as the recorder decodes them

    decode_s = timed(decode, args.repeats)
    with tempfile.TemporaryDirectory() as tmp, one_core_store(tmp) as store:
        recorder = record(store)
        stats = recorder.stats.values()
        stored = {name: n for name, n in store.counts().items() if n}
    n = len(messages)
    runs = {
        "parse": parse_s,
        "parse_and_store": store_s,
        "recorder_from_text": record_s,
        "json_decode": decode_s,
    }
    print(
        json.dumps(
            {
                "machine": machine(),
                "threads": 1,
                "messages": n,
                "records_stored": stored,
                "rejected": sum(s.malformed + s.set_aside for s in stats),
                # messages per second of process CPU time (one thread: per core), and per wall-clock second
                **{
                    f"{k}_messages_per_cpu_s": round(n / statistics.median(v["cpu"])) for k, v in runs.items()
                },
                **{f"{k}_messages_per_s": round(n / statistics.median(v["wall"])) for k, v in runs.items()},
                "runs_s": {k: {m: [round(t, 3) for t in ts] for m, ts in v.items()} for k, v in runs.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
