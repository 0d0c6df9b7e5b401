"""Heatmap model benchmark; prints JSON.

Usage: python bench/bench_heatmap.py [--markets 500] [--repeats 5]
- one market (Bybit BTCUSDT from the bundled sample), 90 days hourly, the configured buckets (600): the full
  price × time grid, and the current map only;
- a point-in-time map of one market as `heatmap BTC --venue bybit --as-of T` computes it: read that market's 90 days
  as known at T from the DuckDB store, run the model, summarise (pockets, cumulative USD) — without the grid, and
  with it (`--grid`); its parts: the store read alone (the model's hourly rows) and the model alone (on those rows);
  and the whole report `heatmap --json` prints (the map, its summary, the outlook and the real prints), unrendered;
- the 500-market universe of bench_scan.py (real sample markets time-shifted and scaled), current maps.
Timings exclude one-off costs (a warm-up run of each measured call comes first: the first store query, allocations).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from levradar.analytics.heatmap import (
    asset_heatmap,
    load_heatmap_config,
    price_edges,
    simulate_market,
    summarize,
)
from levradar.analytics.series import load_markets
from levradar.ingest.run import import_source
from levradar.radar import heatmap_report
from levradar.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from bench_scan import universe
from timing import machine, median_s

AS_OF = datetime(2025, 10, 10, 18, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = load_heatmap_config()
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "sample", Path("."))
        one = load_markets(store, AS_OF - timedelta(days=90), AS_OF, ["BTC"]).filter(
            pl.col("venue") == "bybit"
        )

        def point_in_time(grid: bool) -> None:
            ah = asset_heatmap(store, "BTC", AS_OF, days=90, venue="bybit", cfg=cfg, grid=grid)
            summarize(ah.map, cfg)

        def read() -> pl.DataFrame:
            return load_markets(store, AS_OF - timedelta(days=90), AS_OF, ["BTC"], ["bybit"], hourly=True)

        rows = read()
        rows_edges = price_edges(float(rows["low"].min()), float(rows["high"].max()), cfg)  # type: ignore[arg-type]
        point_in_time(False)
        pit_s = median_s(lambda: point_in_time(False), args.repeats * 4)
        pit_grid_s = median_s(lambda: point_in_time(True), args.repeats * 4)
        read_s = median_s(read, args.repeats * 4)
        model_s = median_s(lambda: simulate_market(rows, rows_edges, cfg, record=False), args.repeats * 4)
        report_s = median_s(
            lambda: heatmap_report(store, "BTC", AS_OF, days=90, venue="bybit", cfg=cfg, grid=False),
            args.repeats * 4,
        )
    edges = price_edges(float(one["low"].min()), float(one["high"].max()), cfg)  # type: ignore[arg-type]
    simulate_market(one, edges, cfg)  # compile
    grid_s = median_s(lambda: simulate_market(one, edges, cfg, record=True), args.repeats * 4)
    map_s = median_s(lambda: simulate_market(one, edges, cfg, record=False), args.repeats * 4)

    markets, _start, end, _ = universe(args.markets)
    frames = [f for _, f in markets.filter(pl.col("t") >= end - timedelta(days=90)).group_by("key")]
    bounds = [(float(f["low"].min()), float(f["high"].max())) for f in frames]  # type: ignore[arg-type]

    def all_markets() -> None:
        for f, (lo, hi) in zip(frames, bounds, strict=True):
            simulate_market(f, price_edges(lo, hi, cfg), cfg, record=False)

    many_s = median_s(all_markets, args.repeats)
    print(
        json.dumps(
            {
                "machine": machine(),
                "buckets": cfg.buckets,
                "one_market_hours": one.height,
                "one_market_grid_median_s": round(grid_s, 4),
                "one_market_current_map_median_s": round(map_s, 4),
                "point_in_time_map_from_store_median_s": round(pit_s, 4),
                "point_in_time_map_with_grid_from_store_median_s": round(pit_grid_s, 4),
                "point_in_time_read_from_store_median_s": round(read_s, 4),
                "point_in_time_model_median_s": round(model_s, 4),
                "point_in_time_report_from_store_median_s": round(report_s, 4),
                "markets": len(frames),
                "all_markets_current_maps_median_s": round(many_s, 3),
                "repeats": args.repeats,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
