"""Calibrate the liquidation model (v2) on real liquidations and report it out of sample; prints JSON.

Usage: python scripts/calibrate_heatmap.py [SHARED_DATA_DIR] [--store DIR] [--out FILE]

1. Builds a store from the shared data (perp-panels from 2024-06-01 and multivenue-2025, BTC ETH SOL XRP), unless
   ``--store`` points at one.
2. Realised liquidations: Binance's 4-hourly long/short totals (``liquidations-binance-4h``; calibration and
   evaluation only — it never enters the repository).
3. Fits on **BTC and ETH, 2024-11-13 .. 2025-06-30** (train): a small grid of the two parameters that matter —
   the churn share of traded USD and the decay of the near bands — scored by how much the same-period swept USD beats
   the move to the low/high in Spearman correlation with realised longs/shorts (mean of the four differences).
4. Reports the chosen configuration on **2025-07-01 .. 2025-11-14** (test, BTC and ETH) and on **SOL and XRP** (never
   fitted on): swept vs the move, the ex-ante forecast vs the previous period's realised total.
5. Compares the model's Hyperliquid book with the **measured** Hyperliquid positions (``hyperliquid-positions``): at
   each snapshot, the share of each side's USD whose liquidation price lies within 1/2/5/10/20 % of the price.
6. The cascade's impact multipliers: ``typical`` so the median amplification of every −2 % shock (the next bar's low
   2 % below the close) matches the median real extension over the next 24 h (BTC and ETH, train period); ``stress``
   so a −2 % shock at the onset of the 2024-08-05 unwind amplifies as it really did; reported on SOL and XRP and on
   the 2025-10-10 cascade (never fitted on).
The figures are quoted in docs/heatmap.md §4; the chosen values and their provenance are in config/heatmap.toml.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from levradar.analytics.liqmodel import HeatmapConfig, load_heatmap_config, price_edges, simulate_market
from levradar.analytics.series import load_markets
from levradar.evaluation.liquidations import Span, period_rows
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.jsonio import dumps
from levradar.store import Store

COINS = ("BTC", "ETH", "SOL", "XRP")
TRAIN_COINS, HELD_OUT = ("BTC", "ETH"), ("SOL", "XRP")
SPLIT = datetime(2025, 7, 1, tzinfo=UTC)
CHURN = (0.0, 0.05, 0.2, 0.5)
DECAYS = {
    "slow": [24, 48, 96, 168, 336, 720, 1440, 2160],
    "mid": [6, 12, 24, 48, 96, 240, 720, 2160],
    "fast": [3, 6, 12, 24, 48, 120, 480, 2160],
}
WITHIN = (0.01, 0.02, 0.05, 0.10, 0.20)


def build_store(shared: Path, directory: Path) -> Store:
    """The store at ``directory``, read-only when it exists already; else built from the shared data."""
    if (directory / "levradar.duckdb").exists():
        return Store(directory, read_only=True)
    store = Store(directory)
    if store.counts()["candles"] == 0:
        coins = frozenset(COINS)
        import_source(
            store,
            "perp-panels",
            shared / "perp-panels",
            Filters(assets=coins, start=datetime(2024, 6, 1, tzinfo=UTC)),
        )
        import_source(store, "multivenue-2025", shared / "multivenue-2025", Filters(assets=coins))
    return store


def realised(shared: Path) -> pl.DataFrame:
    frame = pl.read_parquet(shared / "liquidations-binance-4h" / "liquidations_4h.parquet")
    return frame.rename({"period_start": "ts", "coin": "asset"}).select(
        "ts", "asset", "long_usd", "short_usd"
    )


def _rho(a: pl.Series, b: pl.Series) -> float:
    x, y = a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def scores(rows: pl.DataFrame) -> dict[str, float]:
    """Spearman of the model and of its naive rivals with the realised USD (one coin's periods)."""
    total = rows["realised_long_usd"] + rows["realised_short_usd"]
    return {
        "swept_long": _rho(rows["swept_long_usd"], rows["realised_long_usd"]),
        "move_to_low": _rho(rows["move_to_low"], rows["realised_long_usd"]),
        "swept_short": _rho(rows["swept_short_usd"], rows["realised_short_usd"]),
        "move_to_high": _rho(rows["move_to_high"], rows["realised_short_usd"]),
        "forecast_total": _rho(rows["forecast_long_usd"] + rows["forecast_short_usd"], total),
        "prev_total": _rho(rows["prev_total_usd"], total),
        "n": float(rows.height),
    }


def evaluate(
    store: Store, liq: pl.DataFrame, heat: HeatmapConfig, coins: tuple[str, ...]
) -> dict[str, pl.DataFrame]:
    out = {}
    for coin in coins:
        rows, _ = period_rows(store, liq, Span(timedelta(hours=4), None, None), [coin], heat, reads=False)
        out[coin] = rows
    return out


def grid(store: Store, liq: pl.DataFrame, base: HeatmapConfig) -> list[dict[str, Any]]:
    results = []
    for churn in CHURN:
        for name, decay in DECAYS.items():
            cfg = replace(base, churn=churn, decay_hours=np.asarray(decay, dtype=np.float64))
            per = evaluate(store, liq, cfg, TRAIN_COINS)
            train = {c: scores(r.filter(pl.col("ts") < SPLIT)) for c, r in per.items()}
            gain = float(
                np.mean(
                    [s["swept_long"] - s["move_to_low"] for s in train.values()]
                    + [s["swept_short"] - s["move_to_high"] for s in train.values()]
                )
            )
            results.append({"churn": churn, "decay": name, "train_gain_vs_move": gain, "train": train})
            print(f"churn {churn:<5} decay {name:<5} train gain {gain:+.4f}", file=sys.stderr)
    return results


def measured_vs_model(store: Store, shared: Path, heat: HeatmapConfig) -> dict[str, Any]:
    """Per coin and side: the USD share within 1..20 % of the price, measured (Hyperliquid positions, mean over
    snapshots) and modelled (the Hyperliquid book at each snapshot's hour)."""
    pos = pl.read_parquet(shared / "hyperliquid-positions" / "positions.parquet").filter(
        pl.col("coin").is_in(["BTC", "ETH", "SOL"])
        & pl.col("liquidation_px").is_not_null()
        & (pl.col("size").abs() > 0)
    )
    pos = pos.with_columns(
        mark=pl.col("position_value_usd") / pl.col("size").abs(),
        hour=pl.col("snapshot_ts").dt.truncate("1h"),
    ).with_columns(d=(pl.col("liquidation_px") / pl.col("mark") - 1.0).abs())
    out: dict[str, Any] = {}
    for coin in ("BTC", "ETH", "SOL"):
        mine = pos.filter(pl.col("coin") == coin)
        hours = sorted(set(mine["hour"].to_list()))
        markets = load_markets(store, hours[0] - timedelta(days=90), hours[-1], [coin]).filter(
            (pl.col("venue") == "hyperliquid") & (pl.col("bar_hours") == 1)
        )
        if markets.is_empty() or markets["oi_base"].drop_nulls().is_empty():
            continue
        first = float(markets.sort("t")["close"][0])
        edges = price_edges(first / 3, first * 3, replace(heat, buckets=3000))
        hm = simulate_market(markets, edges, heat, at=hours)
        centers = np.sqrt(edges[:-1] * edges[1:])
        modelled: dict[str, list[list[float]]] = {"long": [], "short": []}
        for i in range(len(hm.times)):
            price = float(hm.closes[i]) if hm.closes is not None else hm.price
            for side, usd in (("long", hm.long_usd[i]), ("short", hm.short_usd[i])):
                total = (
                    float(usd.sum()) + float(hm.reserve[i, 0 if side == "long" else 1])
                    if hm.reserve is not None
                    else 0.0
                )
                dist = np.abs(centers / price - 1.0)
                modelled[side].append(
                    [float(usd[dist <= w].sum()) / total if total > 0 else math.nan for w in WITHIN]
                )
        measured: dict[str, list[float]] = {}
        for side in ("long", "short"):
            s = mine.filter(pl.col("side") == side)
            per_hour = s.group_by("hour").agg(pl.col("position_value_usd").sum().alias("all"))
            shares = []
            for w in WITHIN:
                near = (
                    s.filter(pl.col("d") <= w)
                    .group_by("hour")
                    .agg(pl.col("position_value_usd").sum().alias("near"))
                )
                j = per_hour.join(near, on="hour", how="left").with_columns(pl.col("near").fill_null(0.0))
                shares.append(float(np.mean((j["near"] / j["all"]).to_numpy())))
            measured[side] = shares
        out[coin] = {
            "within": [f"{w:.0%}" for w in WITHIN],
            "measured_share": measured,
            "model_share": {
                s: np.nanmean(np.asarray(v), axis=0).round(4).tolist() for s, v in modelled.items()
            },
            "snapshots": len(hours),
        }
    return out


KAPPAS = (10.0, 30.0, 50.0, 100.0, 300.0)
CASCADES = {
    "2024-08-05 unwind": ("2024-08-04T12:00", "2024-08-05T12:00"),
    "2025-10-10 cascade": ("2025-10-10T12:00", "2025-10-11T06:00"),
}


def _onsets(
    store: Store, coin: str, start: datetime, end: datetime, gap_h: int = 24
) -> list[tuple[datetime, float]]:
    """Hours (before the shock) whose next bar's low is 2 % or more below their close, at least ``gap_h`` apart, with
    the realised amplification: the lowest low of the next 24 h relative to that close, over −2 %."""
    bars = (
        load_markets(store, start - timedelta(days=1), end + timedelta(days=1), [coin])
        .filter((pl.col("venue") == "binance") & (pl.col("bar_hours") == 1))
        .sort("t")
    )
    c, low, ts = bars["close"].to_numpy(), bars["low"].to_numpy(), bars["t"].to_list()
    out, last = [], -(10**9)
    for i in range(1, len(ts) - 24):
        if start <= ts[i] <= end and i - last >= gap_h and low[i] / c[i - 1] - 1 <= -0.02:
            out.append((ts[i - 1], float((low[i : i + 24].min() / c[i - 1] - 1) / -0.02)))
            last = i
    return out


def _amplifications(store: Store, coin: str, at: datetime, heat: HeatmapConfig) -> list[float]:
    from levradar.analytics.heatmap import asset_heatmap, book
    from levradar.analytics.scenario import scenario

    ah = asset_heatmap(
        store, coin, at, days=90, venue=None, cfg=replace(heat, impact_typical=1.0, impact_stress=1.0)
    )
    b = book(ah.map, heat)
    lam = ah.impact_per_usd or 0.0
    return [float(scenario(b, -0.02, lam * k)["cascade"]["amplification"]) for k in KAPPAS]


def impact_calibration(store: Store, heat: HeatmapConfig) -> dict[str, Any]:
    """The impact multipliers: ``typical`` matches the median extension of every −2 % shock (train coins and
    period), ``stress`` the 2024-08-05 unwind; reported on the held-out coins and on the 2025-10-10 cascade."""
    shocks: dict[str, dict[str, Any]] = {}
    for coin in COINS:
        start = datetime(2024, 11, 13, tzinfo=UTC)
        end = SPLIT if coin in TRAIN_COINS else datetime(2025, 11, 14, tzinfo=UTC)
        rows = [
            (real, *_amplifications(store, coin, t, heat)) for t, real in _onsets(store, coin, start, end)
        ]
        a = np.asarray(rows)
        shocks[coin] = {
            "shocks": len(rows),
            "realised_median": float(np.median(a[:, 0])),
            "model_median": {f"{k:g}": float(np.median(a[:, j + 1])) for j, k in enumerate(KAPPAS)},
            "spearman": {
                f"{k:g}": float(stats.spearmanr(a[:, 0], a[:, j + 1]).statistic) for j, k in enumerate(KAPPAS)
            },
        }
    typical = min(
        KAPPAS,
        key=lambda k: sum(
            abs(math.log(shocks[c]["model_median"][f"{k:g}"] / shocks[c]["realised_median"]))
            for c in TRAIN_COINS
        ),
    )
    events: dict[str, dict[str, Any]] = {}
    for name, (first, last) in CASCADES.items():
        t0, t1 = (datetime.fromisoformat(x).replace(tzinfo=UTC) for x in (first, last))
        for coin in COINS:
            onset = _onsets(store, coin, t0, t1, gap_h=10**6)
            if onset:
                at, real = onset[0]
                events.setdefault(name, {})[coin] = {
                    "onset": at,
                    "realised": real,
                    "model": dict(
                        zip((f"{k:g}" for k in KAPPAS), _amplifications(store, coin, at, heat), strict=True)
                    ),
                }
    train = events.get("2024-08-05 unwind", {})
    stress = min(
        KAPPAS,
        key=lambda k: sum(math.log(v["model"][f"{k:g}"] / v["realised"]) ** 2 for v in train.values()),
    )
    return {"typical": typical, "stress": stress, "shocks": shocks, "cascades": events}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "shared", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    store = build_store(args.shared, args.store or Path(tmp.name))
    liq = realised(args.shared)
    base = load_heatmap_config()
    results = grid(store, liq, base)
    best = max(results, key=lambda r: r["train_gain_vs_move"])
    chosen = replace(
        base, churn=best["churn"], decay_hours=np.asarray(DECAYS[best["decay"]], dtype=np.float64)
    )
    per = evaluate(store, liq, chosen, COINS)
    report = {
        "train": {
            "coins": TRAIN_COINS,
            "to": SPLIT,
            "grid": [{k: v for k, v in r.items() if k != "train"} for r in results],
        },
        "chosen": {"churn": best["churn"], "decay_hours": DECAYS[best["decay"]]},
        "test_period": {c: scores(per[c].filter(pl.col("ts") >= SPLIT)) for c in TRAIN_COINS},
        "held_out_coins": {c: scores(per[c]) for c in HELD_OUT},
        "measured_vs_model_hyperliquid": measured_vs_model(store, args.shared, chosen),
        "impact": impact_calibration(store, chosen),
    }
    text = dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    store.close()


if __name__ == "__main__":
    main()
