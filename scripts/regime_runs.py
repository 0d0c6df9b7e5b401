"""How stable are the radar's labels? Run lengths of every label family over a store's whole history; prints JSON.

Usage: python scripts/regime_runs.py --data-dir STORE [--assets BTC,ETH] [--from ISO] [--to ISO] [--cache DIR]

A run is a stretch of consecutive hours with the same label (an hour without a label ends a run). Reported per
family (funding, OI, volatility regimes, quadrant, deleveraging, setup, tag), pooled over assets: the number of runs,
the share of runs that last one hour, the median and 90th-percentile run length, and the share of hours covered by
runs of one hour. docs/signals.md §3 quotes it.
"""

from __future__ import annotations

import argparse
import json

import polars as pl
from histories import add_arguments, histories  # scripts/histories.py

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
    add_arguments(parser)
    args = parser.parse_args()
    frames = list(histories(args).values())
    hours = sum(f.height for f in frames)
    lengths = {family: [runs(f, family) for f in frames] for family in FAMILIES}
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
    out["setups"] = setup_shares(pl.concat(frames) if frames else pl.DataFrame())
    print(json.dumps(out, indent=2))


def setup_shares(f: pl.DataFrame) -> dict[str, object]:
    """Share of hours per setup, how often the strongest signatures carry their tag, and the invariants (a setup
    never contradicts its funding sign)."""
    if f.is_empty():
        return {}
    fast = pl.col("oi_regime") == "Rising Fast"
    signatures = {
        "extreme_positive_and_oi_rising_fast": (pl.col("funding_regime") == "Extreme Positive") & fast,
        "deep_negative_and_oi_rising_fast": (pl.col("funding_regime") == "Deep Negative") & fast,
    }
    tags = {"extreme_positive_and_oi_rising_fast": "A", "deep_negative_and_oi_rising_fast": "B"}
    out: dict[str, object] = {
        "share_of_hours": {str(k): round(v / f.height, 4) for k, v in f["setup"].value_counts().iter_rows()},
        "setup_B_with_funding_at_or_above_zero": f.filter(pl.col("setup") == "B")
        .select((pl.col("rate_8h") >= 0).mean())
        .item(),
        "setup_D_with_funding_at_or_below_zero": f.filter(pl.col("setup") == "D")
        .select((pl.col("rate_8h") <= 0).mean())
        .item(),
    }
    for name, cond in signatures.items():
        hit = f.filter(cond)
        out[name] = {
            "hours": hit.height,
            "tagged_share": round(float((hit["setup"] == tags[name]).fill_null(False).mean() or 0.0), 4)
            if hit.height
            else None,
            "setup_counts": {str(k): v for k, v in hit["setup"].value_counts().iter_rows()},
        }
    return out


if __name__ == "__main__":
    main()
