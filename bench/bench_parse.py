"""Stream parse + store throughput; prints JSON.

Usage: python bench/bench_parse.py [--messages 100000]
A stream is built from the real recorded frames (tests/fixtures/ws-samples): Binance forceOrder and markPrice,
Bybit allLiquidation and linear tickers, OKX swap mark-price/index/open-interest, Hyperliquid activeAssetCtx —
cycled with shifted timestamps and prices so no two records collide. Measured on one core: parsing into domain
records, then records → canonical frames → one store transaction.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from pathlib import Path as _Path

sys.path.insert(0, str(_Path(__file__).parent))

from levradar.domain.records import _Record, records_frame
from levradar.ingest.normalize import Batch
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.store import Store
from levradar.venues import parse

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ws-samples"


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    messages = stream(args.messages)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    records: dict[type, list[_Record]] = defaultdict(list)
    for venue, msg in messages:
        for r in parse(venue, msg, now):
            records[type(r)].append(r)
    parse_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    batch = Batch(ImportReport("bench-stream", "memory"))
    for rs in records.values():
        batch.add(rs[0].dataset_name, records_frame(rs, source="bench"))
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        write_batch(store, batch, "record")  # validation, de-duplication, one transaction
    store_s = time.perf_counter() - t1
    n_records = sum(len(v) for v in records.values())
    print(
        json.dumps(
            {
                "machine": machine(),
                "messages": len(messages),
                "records": n_records,
                "parse_messages_per_s": round(len(messages) / parse_s),
                "parse_and_store_messages_per_s": round(len(messages) / (parse_s + store_s)),
                "store_s": round(store_s, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
