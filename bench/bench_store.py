"""Store and import benchmarks; prints JSON (medians over repeats, seconds).

Usage: python bench/bench_store.py [--repeats N] [--shared ../shared/data]
Measures: importing the bundled sample into a fresh store, re-importing it (idempotent no-op), point-in-time
reads of 90 days of hourly candles for one market, the demo snapshot, and (when the shared data is present)
importing the full perp-panels set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from levradar.analytics.snapshot import snapshot

from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store


def _median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    out: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "repeats": args.repeats,
    }

    def fresh_sample_import() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
            import_source(store, "sample", Path("."))

    out["import_sample_fresh_s"] = _median(fresh_sample_import, args.repeats)
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "sample", Path("."))
        out["reimport_sample_noop_s"] = _median(
            lambda: import_source(store, "sample", Path(".")), args.repeats
        )
        as_of = datetime(2025, 10, 11, tzinfo=UTC)
        out["read_candles_90d_one_market_s"] = _median(
            lambda: store.read(
                "candles",
                venues=["binance"],
                symbols=["BTCUSDT"],
                interval="1h",
                start=as_of - timedelta(days=90),
                as_of=as_of,
            ),
            args.repeats * 4,
        )
        out["snapshot_all_assets_s"] = _median(lambda: snapshot(store, as_of), args.repeats * 4)
    panels = args.shared / "perp-panels"
    if panels.exists():

        def full_panels() -> None:
            with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
                import_source(store, "perp-panels", panels, Filters())

        out["import_perp_panels_full_s"] = _median(full_panels, max(1, args.repeats // 2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
