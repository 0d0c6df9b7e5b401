"""Store and import benchmarks; prints JSON (medians over repeats, seconds).

Usage: python bench/bench_store.py [--repeats N] [--shared ../shared/data]
Measures: importing the bundled sample into a fresh store, re-importing it (idempotent no-op), point-in-time
reads of 90 days of hourly candles for one market, a scan of every asset (with the liquidation overlay), and
(when the shared data is present) importing the full perp-panels set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from levradar.analytics.scan import scan
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, median_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    out: dict[str, object] = {
        "machine": machine(),
        "repeats": args.repeats,
    }

    def fresh_sample_import() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
            import_source(store, "sample", Path("."))

    out["import_sample_fresh_s"] = median_s(fresh_sample_import, args.repeats)
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "sample", Path("."))
        out["reimport_sample_noop_s"] = median_s(
            lambda: import_source(store, "sample", Path(".")), args.repeats
        )
        as_of = datetime(2025, 10, 11, tzinfo=UTC)
        out["read_candles_90d_one_market_s"] = median_s(
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
        out["scan_all_assets_s"] = median_s(lambda: scan(store, as_of), args.repeats * 4)
    panels = args.shared / "perp-panels"
    if panels.exists():

        def full_panels() -> None:
            with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
                import_source(store, "perp-panels", panels, Filters())

        out["import_perp_panels_full_s"] = median_s(full_panels, max(1, args.repeats // 2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
