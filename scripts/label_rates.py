"""How often does each contradiction and each alert rule fire? Rates over a store's history; prints JSON.

Usage: python scripts/label_rates.py --data-dir STORE [--assets BTC,ETH,SOL,XRP,DOGE] [--from ISO] [--to ISO]
       [--cache DIR]

Per contradiction: the share of asset-hours it is flagged. Per alert rule (config/alerts.toml, replayed hour by hour
as `levradar alerts replay` does), ranked by forward effect: alerts per asset per day, the assets it fired for inside
each named stress window, and the forward effect — the absolute price move of the next 24 h after an alert over the
mean of the same in hours of the same realised-volatility decile (1 = no information beyond the volatility level),
with a 95 % interval that resamples whole days.
docs/signals.md §6 and docs/alerts.md quote it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from histories import add_arguments, histories  # scripts/histories.py

from levradar.alerts import evaluate, load_alert_config

STRESS = {  # the named stress windows of the shared data (its README)
    "2021-05-19 crash": ("2021-05-18", "2021-05-21"),
    "2022-05 LUNA": ("2022-05-08", "2022-05-13"),
    "2022-06 3AC": ("2022-06-12", "2022-06-19"),
    "2022-11 FTX": ("2022-11-07", "2022-11-12"),
    "2024-08-05 unwind": ("2024-08-04", "2024-08-06"),
    "2025-10-10 cascade": ("2025-10-10", "2025-10-12"),
}


def _forward_moves(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Per asset and hour: |log(price 24 h later / price)| over the mean of the same across the asset's hours in
    the same decile of realised volatility (rv_24h) — 1 is what the volatility level alone predicts, so a rule
    that merely fires in volatile hours scores 1."""
    out = {}
    for asset, f in frames.items():
        g = f.sort("t").select("t", "price", "rv_24h")
        later = g.select((pl.col("t") - timedelta(hours=24)).alias("t"), pl.col("price").alias("p24"))
        g = g.join(later, on="t", how="left").with_columns(
            m=(pl.col("p24") / pl.col("price")).log().abs(),
            decile=(pl.col("rv_24h").rank() * 10 / (pl.col("rv_24h").count() + 1)).floor(),
        )
        out[asset] = g.with_columns(rel=pl.col("m") / pl.col("m").mean().over("decile")).select("t", "rel")
    return out


def _effect(alerts: list[dict[str, object]], forward: dict[str, pl.DataFrame]) -> dict[str, object]:
    """Mean relative forward move after the rule's alerts, with a 95 % bootstrap interval that resamples whole UTC
    days (alerts of one day, across assets, move together)."""
    by_day: dict[object, list[float]] = {}
    for a in alerts:
        hit = forward[str(a["asset"])].filter(pl.col("t") == a["time"])["rel"]
        if hit.len() and hit[0] is not None:
            by_day.setdefault(a["time"].date(), []).append(float(hit[0]))  # type: ignore[attr-defined]
    n = sum(len(v) for v in by_day.values())
    if len(by_day) < 5:
        return {"n": n, "days": len(by_day), "mean": None, "ci95": None}
    sums = np.asarray([sum(v) for v in by_day.values()])
    counts = np.asarray([len(v) for v in by_day.values()])
    rng = np.random.default_rng(7)
    pick = rng.integers(0, sums.size, (4000, sums.size))
    boots = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {
        "n": n,
        "days": len(by_day),
        "mean": round(float(sums.sum() / counts.sum()), 3),
        "ci95": [round(float(lo), 3), round(float(hi), 3)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--rules", type=Path, default=None, help="an alert rules file (default: the packaged one)")
    args = parser.parse_args()
    frames = histories(args)
    hours = sum(f.height for f in frames.values())
    out: dict[str, object] = {"asset_hours": hours}
    flags = [c for c in next(iter(frames.values())).columns if c.startswith("x_")] if frames else []
    pooled = pl.concat(frames.values(), how="diagonal_relaxed") if frames else pl.DataFrame()
    out["contradictions"] = {f[2:]: round(float(pooled[f].fill_null(False).mean()), 4) for f in flags}  # type: ignore[arg-type]
    config = load_alert_config(args.rules)
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
            "forward_24h_abs_move_vs_same_vol_decile": _effect(mine, forward),
            "stress_windows": windows,
        }
    def effect(rule_id: str) -> float:
        e = per_rule[rule_id]["forward_24h_abs_move_vs_same_vol_decile"]  # type: ignore[index]
        return -1.0 if e["mean"] is None else float(e["mean"])

    out["alerts"] = {k: per_rule[k] for k in sorted(per_rule, key=effect, reverse=True)}  # ranked by effect
    out["alerts_per_asset_day"] = round(len(fired) / days, 4) if days else None
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
