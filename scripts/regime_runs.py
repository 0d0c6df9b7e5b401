"""How stable are the radar's labels? Run lengths of every label family over a store's whole history; prints JSON.

Usage: python scripts/regime_runs.py --data-dir STORE [--assets BTC,ETH] [--from ISO] [--to ISO]

A run is a stretch of consecutive hours with the same label (an hour without a label ends a run). Reported per
family (funding, OI, volatility regimes, quadrant, deleveraging, setup, tag), pooled over assets: the number of runs,
the share of runs that last one hour, the median and 90th-percentile run length, and the share of hours covered by
runs of one hour. docs/signals.md §3 quotes it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from levradar.analytics.scan import history
from levradar.store import Store

FAMILIES = ("funding_regime", "oi_regime", "vol_regime", "quadrant", "deleveraging", "setup", "tag")


def runs(frame: pl.DataFrame, column: str) -> pl.Series:
    """Lengths (hours) of the runs of equal, non-null labels, hour gaps ending a run."""
    f = frame.sort("t").select("t", pl.col(column).alias("v"))
    new = (pl.col("v") != pl.col("v").shift(1)) | pl.col("v").shift(1).is_null() | (
        pl.col("t").diff().dt.total_hours() != 1
    )
    return (
        f.with_columns(run=new.fill_null(True).cum_sum())
        .filter(pl.col("v").is_not_null())
        .group_by("run")
        .len()["len"]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--assets", default="BTC,ETH,SOL,XRP,DOGE")
    parser.add_argument("--from", dest="start", default=None)
    parser.add_argument("--to", dest="end", default=None)
    args = parser.parse_args()
    lengths: dict[str, list[pl.Series]] = {f: [] for f in FAMILIES}
    hours = 0
    with Store(args.data_dir, read_only=True) as store:
        for asset in args.assets.split(","):
            bounds = store.query(
                "SELECT min(ts) AS a, max(ts) AS b FROM candles WHERE asset = ? AND \"interval\" = '1h'", [asset]
            )
            first, last = bounds["a"][0], bounds["b"][0]
            if first is None:
                continue
            start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else first
            end = datetime.fromisoformat(args.end).replace(tzinfo=UTC) if args.end else last
            frame = history(store, asset, start, end, models=False)
            hours += frame.height
            for family in FAMILIES:
                lengths[family].append(runs(frame, family))
    out: dict[str, object] = {"hours": hours}
    for family, parts in lengths.items():
        all_runs = pl.concat(parts) if parts else pl.Series([], dtype=pl.UInt32)
        n = all_runs.len()
        ones = int((all_runs == 1).sum())
        out[family] = {
            "runs": n,
            "one_hour_share": round(ones / n, 4) if n else None,
            "median_h": float(all_runs.median() or 0),  # type: ignore[arg-type]
            "p90_h": float(all_runs.quantile(0.9) or 0),  # type: ignore[arg-type]
            "hours_in_one_hour_runs": round(ones / max(1, int(all_runs.sum())), 4),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
