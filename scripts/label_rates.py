"""How often does each contradiction and each alert rule fire? Rates over a store's history; prints JSON.

Usage: python scripts/label_rates.py --data-dir STORE [--assets BTC,ETH,SOL,XRP,DOGE] [--from ISO] [--to ISO]

Per contradiction: the share of asset-hours it is flagged. Per alert rule (config/alerts.toml, replayed hour by hour
as `levradar alerts replay` does): alerts per asset per day, and whether it fired inside each named stress window.
docs/signals.md §6 and docs/alerts.md quote it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from levradar.alerts import evaluate, load_alert_config
from levradar.analytics.scan import history
from levradar.store import Store

STRESS = {  # the named stress windows of the shared data (its README)
    "2021-05-19 crash": ("2021-05-18", "2021-05-21"),
    "2022-05 LUNA": ("2022-05-08", "2022-05-13"),
    "2022-06 3AC": ("2022-06-12", "2022-06-19"),
    "2022-11 FTX": ("2022-11-07", "2022-11-12"),
    "2024-08-05 unwind": ("2024-08-04", "2024-08-06"),
    "2025-10-10 cascade": ("2025-10-10", "2025-10-12"),
}


def _forward_moves(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Per asset and hour: |log(price 24 h later / price)| over the asset's mean of the same (1 = typical)."""
    out = {}
    for asset, f in frames.items():
        g = f.sort("t").select("t", "price")
        later = g.select((pl.col("t") - timedelta(hours=24)).alias("t"), pl.col("price").alias("p24"))
        g = g.join(later, on="t", how="left").with_columns(m=(pl.col("p24") / pl.col("price")).log().abs())
        out[asset] = g.with_columns(rel=pl.col("m") / pl.col("m").mean()).select("t", "rel")
    return out


def _effect(alerts: list[dict[str, object]], forward: dict[str, pl.DataFrame]) -> dict[str, float | None]:
    """Mean relative forward move after the rule's alerts, with a 95 % bootstrap interval over alerts."""
    import numpy as np

    rel = []
    for a in alerts:
        f = forward[str(a["asset"])]
        hit = f.filter(pl.col("t") == a["time"])["rel"]
        if hit.len() and hit[0] is not None:
            rel.append(float(hit[0]))
    if len(rel) < 5:
        return {"n": len(rel), "mean": None, "ci95": None}  # type: ignore[dict-item]
    x = np.asarray(rel)
    rng = np.random.default_rng(7)
    boots = x[rng.integers(0, x.size, (2000, x.size))].mean(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"n": len(rel), "mean": round(float(x.mean()), 3), "ci95": [round(float(lo), 3), round(float(hi), 3)]}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--assets", default="BTC,ETH,SOL,XRP,DOGE")
    parser.add_argument("--from", dest="start", default=None)
    parser.add_argument("--to", dest="end", default=None)
    args = parser.parse_args()
    frames: dict[str, pl.DataFrame] = {}
    with Store(args.data_dir, read_only=True) as store:
        for asset in args.assets.split(","):
            b = store.query(
                "SELECT min(ts) AS a, max(ts) AS b FROM candles WHERE asset = ? AND \"interval\" = '1h'", [asset]
            )
            if b["a"][0] is None:
                continue
            start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else b["a"][0]
            end = datetime.fromisoformat(args.end).replace(tzinfo=UTC) if args.end else b["b"][0]
            frames[asset] = history(store, asset, start, end, models=False)
    hours = sum(f.height for f in frames.values())
    out: dict[str, object] = {"asset_hours": hours}
    flags = [c for c in next(iter(frames.values())).columns if c.startswith("x_")] if frames else []
    pooled = pl.concat(frames.values(), how="diagonal_relaxed") if frames else pl.DataFrame()
    out["contradictions"] = {f[2:]: round(float(pooled[f].fill_null(False).mean()), 4) for f in flags}  # type: ignore[arg-type]
    config = load_alert_config(None)
    fired = evaluate(config, frames)
    forward = _forward_moves(frames)
    days = hours / 24.0
    per_rule: dict[str, object] = {}
    for rule in config.rules:
        mine = [a for a in fired if a["rule"] == rule.id]
        windows = {}
        for name, (a, b) in STRESS.items():
            lo = datetime.fromisoformat(a).replace(tzinfo=UTC)
            hi = datetime.fromisoformat(b).replace(tzinfo=UTC) + timedelta(days=1)
            windows[name] = sorted({x["asset"] for x in mine if lo <= x["time"] < hi})
        per_rule[rule.id] = {
            "alerts": len(mine),
            "per_asset_day": round(len(mine) / days, 4) if days else None,
            "forward_24h_abs_move_vs_all_hours": _effect(mine, forward),
            "stress_windows": windows,
        }
    out["alerts"] = per_rule
    out["alerts_per_asset_day"] = round(len(fired) / days, 4) if days else None
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
