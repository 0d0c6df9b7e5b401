"""Signal-engine benchmark: a 500-market universe × 90 days hourly, built from the real bundled sample.

Usage: python bench/bench_scan.py [--markets 500] [--repeats 5]
Each synthetic asset takes every venue market of one real sample asset (price, funding, OI), shifted in time by
a random offset and scaled by random factors with small multiplicative noise, so the universe keeps real
dynamics and real multi-venue structure (the 2025-10-10 cascade included) without being copies of one path.
Prints JSON: median seconds for a full scan (every market and asset labelled over the 7-day label window) without
the liquidation overlay and with it (the model's proximity at every label hour: what `scan` runs).
One new hour: LiveRadar.advance (the new hour labelled from the state its labels carry, the liquidation books
advanced by that hour), median and max over 24 successive hours, the last of which crosses 00:00 UTC and recomputes
the day's baselines.
Memory: each phase (scan without the overlay, with it, building the LiveRadar) runs once more in a fresh process
that first loads the universe (from a temporary parquet file): its peak resident memory, and the growth over what
the process held with the universe loaded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from levradar.analytics.config import load_config
from levradar.analytics.live import LiveRadar
from levradar.analytics.scan import evaluate_frames
from levradar.analytics.series import load_markets
from levradar.ingest.run import import_source
from levradar.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, median_s

AS_OF = datetime(2025, 11, 15, tzinfo=UTC)


def universe(n_markets: int, seed: int = 7) -> tuple[pl.DataFrame, datetime, datetime, int]:
    cfg = load_config()
    label_hours = int(cfg.value("baseline", "label_window_days")) * 24
    window = int(cfg.value("baseline", "window_days"))
    start = AS_OF - timedelta(days=window, hours=label_hours + 24)
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "sample", Path("."))
        real = load_markets(store, AS_OF - timedelta(days=150), AS_OF, None)
    rng = np.random.default_rng(seed)
    real_assets = sorted(real["asset"].unique().to_list())
    parts: list[pl.DataFrame] = []
    n_done, i = 0, 0
    while n_done < n_markets:
        # synthetic asset i: every venue market of a real asset, shifted and scaled together
        source = real.filter(pl.col("asset") == real_assets[i % len(real_assets)])
        offset = timedelta(hours=int(rng.integers(0, 40 * 24)))
        price_k, oi_k = float(rng.uniform(0.01, 100.0)), float(rng.uniform(0.1, 10.0))
        part = source.with_columns(pl.col("t") + offset).filter(pl.col("t").is_between(start, AS_OF))
        venues = part["symbol"].unique().sort().to_list()[: n_markets - n_done]
        part = part.filter(pl.col("symbol").is_in(venues))
        eps = pl.Series(rng.lognormal(0.0, 0.002, part.height))
        part = part.with_columns(
            asset=pl.lit(f"SYN{i:03d}"),
            symbol=pl.concat_str(pl.lit(f"SYN{i:03d}-"), pl.col("venue")),
            close=pl.col("close") * price_k * eps,
            high=pl.col("high") * price_k * eps,
            low=pl.col("low") * price_k * eps,
            oi_base=pl.col("oi_base") * oi_k,
            oi_usd=pl.col("oi_usd") * oi_k * price_k,
            oi_base_lag4=pl.col("oi_base_lag4") * oi_k,
            oi_base_lag24=pl.col("oi_base_lag24") * oi_k,
            close_lag4=pl.col("close_lag4") * price_k,
            close_lag24=pl.col("close_lag24") * price_k,
        ).with_columns(key=pl.concat_str("venue", pl.lit(":"), "symbol"))
        parts.append(part)
        n_done += part.select("venue", "symbol").n_unique()
        i += 1
    # one chunk per column, as a store read gives it (load_markets): the 125 concatenated pieces would make every
    # column 125 chunks, which the scan's polars steps pay for (~0.1 s more, measured) and no real read produces
    return pl.concat(parts, rechunk=True), start, AS_OF, label_hours


PHASES = ("scan_without_liquidation_overlay", "scan_with_liquidation_overlay", "live_radar_build")


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux: VmHWM; ru_maxrss would carry the parent's peak over a fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_memory(path: str, start: datetime, end: datetime, label_hours: int, phase: str) -> dict[str, float]:
    """Run ``phase`` on the universe saved at ``path`` (in a fresh process): peak RSS and its growth, MB."""
    cfg = load_config()
    markets = pl.read_parquet(path)
    before = peak_rss_mb()
    if phase == "live_radar_build":
        LiveRadar(markets, start, end, label_hours, cfg)
    else:
        evaluate_frames(markets, start, end, label_hours, cfg, liquidation=phase == PHASES[1])
    after = peak_rss_mb()
    return {"peak_rss_mb": round(after, 1), "growth_mb": round(after - before, 1)}


def memory(markets: pl.DataFrame, start: datetime, end: datetime, label_hours: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "universe.parquet")
        markets.write_parquet(path, row_group_size=markets.height)  # read back as one chunk per column
        out: dict[str, object] = {}
        for phase in PHASES:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                out[phase] = pool.submit(phase_memory, path, start, end, label_hours, phase).result()
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config()
    markets, start, end, label_hours = universe(args.markets)
    bare = median_s(
        lambda: evaluate_frames(markets, start, end, label_hours, cfg, liquidation=False), args.repeats
    )
    full = median_s(lambda: evaluate_frames(markets, start, end, label_hours, cfg), args.repeats)
    # the live path: build at AS_OF - 24h, then fold in the 24 hours up to AS_OF (the last one crosses midnight)
    steps = 24
    first_end = end - timedelta(hours=steps)
    radar = LiveRadar(
        markets.filter(pl.col("t") <= first_end), start - timedelta(hours=steps), first_end, label_hours, cfg
    )
    advance_s = []
    for k in range(1, steps + 1):
        rows = markets.filter(pl.col("t") == first_end + timedelta(hours=k))
        t0 = time.perf_counter()
        radar.advance(rows)
        advance_s.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "machine": machine(),
                "markets": markets.select("key").n_unique(),
                "assets": markets["asset"].n_unique(),
                "hourly_rows": markets.height,
                "days": round((end - start) / timedelta(days=1), 1),
                "repeats": args.repeats,
                "scan_without_liquidation_overlay_median_s": round(bare, 4),
                "scan_with_liquidation_overlay_median_s": round(full, 4),
                "one_new_hour_live_advance_median_s": round(statistics.median(advance_s), 4),
                "one_new_hour_live_advance_max_s": round(max(advance_s), 4),
                "memory_mb_per_phase_fresh_process": memory(markets, start, end, label_hours),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
