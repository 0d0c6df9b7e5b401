"""Top-vs-bottom decile ratios of the LSI and fragility: does a high reading come before more movement and more
forced selling than a low one?

Per asset, the score's 10th and 90th percentiles come from the **train** period; on the **test** period the hours
at or above the 90th percentile (top decile) and at or below the 10th (bottom decile) are compared on three
forward outcomes: the absolute 24h return; the same over its mean in hours of the same realised-volatility decile
(the score's information beyond the volatility level); and, where realised liquidations cover the hour, the USD
liquidated over the next 24h as a share of the asset's OI (USD) at the hour. The ratio is (mean over top hours) /
(mean over bottom hours), pooled over assets; its 95 % interval is a percentile interval of the stationary
bootstrap of the hourly grid (an hour's assets together, mean block length from the data: ``evaluation.stats``).
A ratio above 1 whose interval excludes 1 means the score ranks that outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.evaluation.signals import Split
from levradar.evaluation.stats import optimal_block_length, stationary_indices
from levradar.store import Store

SCORES = ("lsi", "fragility")
OUTCOMES = {
    "abs_ret_24h": "forward 24h |return|",
    "abs_ret_24h_vs_vol": "forward 24h |return| / its mean in the same realised-volatility decile",
    "liq_flow_24h": "USD liquidated over the next 24h / OI (USD)",
}
RESAMPLES = 999
CHUNK = 100  # resamples drawn at a time (memory: CHUNK × hours indices)


def realised_flow(realised: pl.DataFrame) -> pl.DataFrame:
    """Forward 24h liquidated USD (both sides) per asset at every period start whose next 24h is fully covered by
    periods of the realised file (``ts`` period start, ``asset``, ``long_usd``, ``short_usd``; the period is the
    smallest spacing of each asset's rows): columns ``asset``, ``t``, ``liq_usd_24h``."""
    parts = []
    for (asset,), frame in realised.sort("asset", "ts").group_by(["asset"], maintain_order=True):
        ts = frame["ts"].dt.epoch("s").to_numpy() // 60
        if ts.size < 2:
            continue
        period = int(np.diff(ts).min())
        if period <= 0 or (24 * 60) % period:
            continue
        total = (frame["long_usd"] + frame["short_usd"]).to_numpy().astype(float)
        cum = np.concatenate([[0.0], np.cumsum(total)])
        end = np.searchsorted(ts, ts + 24 * 60)
        # rows at least a period apart, as many as the window holds periods: every period of the window is present
        covered = (end - np.arange(ts.size)) == (24 * 60) // period
        forward = np.where(covered, cum[end] - cum[:-1], np.nan)  # periods starting in [t, t + 24h)
        parts.append(
            pl.DataFrame({"asset": str(asset), "t": frame["ts"], "liq_usd_24h": forward}).filter(
                pl.col("liq_usd_24h").is_not_nan()
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={"asset": pl.String, "t": pl.Datetime("us", "UTC"), "liq_usd_24h": pl.Float64}
        )
    return pl.concat(parts).with_columns(pl.col("t").dt.cast_time_unit("us"))


def store_realised(store_dir: Path, assets: list[str]) -> pl.DataFrame:
    """The store's recorded liquidations as hourly totals per asset (``ts``, ``asset``, ``long_usd``, ``short_usd``;
    ``long`` = longs liquidated), every hour from an asset's first to its last print (an hour without prints: 0)."""
    with Store(store_dir, read_only=True) as store:
        prints = store.read("liquidations", assets=assets)
    if prints.is_empty():
        return pl.DataFrame(
            schema={
                "ts": pl.Datetime("us", "UTC"),
                "asset": pl.String,
                "long_usd": pl.Float64,
                "short_usd": pl.Float64,
            }
        )
    hourly = (
        prints.filter(pl.col("notional_usd") > 0)
        .sort("ts", "venue", "symbol", "seq")  # a fixed summation order: the same sums on every run
        .with_columns(ts=pl.col("ts").dt.truncate("1h"))
        .group_by("asset", "ts", maintain_order=True)
        .agg(
            long_usd=pl.col("notional_usd").filter(pl.col("liquidated_side") == "long").sum(),
            short_usd=pl.col("notional_usd").filter(pl.col("liquidated_side") == "short").sum(),
        )
    )
    parts = []
    for (asset,), frame in hourly.group_by(["asset"]):
        first, last = frame["ts"].min(), frame["ts"].max()
        assert isinstance(first, datetime) and isinstance(last, datetime)
        grid = pl.DataFrame({"ts": pl.datetime_range(first, last, "1h", eager=True)})
        filled = grid.join(frame.drop("asset"), on="ts", how="left", maintain_order="left").fill_null(0.0)
        parts.append(filled.with_columns(asset=pl.lit(str(asset))))
    return pl.concat(parts).select("ts", "asset", "long_usd", "short_usd").sort("asset", "ts")


def with_flow(frame: pl.DataFrame, flow: pl.DataFrame | None) -> pl.DataFrame:
    """``frame`` (one asset's evaluation frame) with ``liq_flow_24h`` = forward liquidated USD / OI USD (null where
    no realised liquidations cover the next 24h)."""
    if flow is None or flow.is_empty() or frame.is_empty():
        return frame.with_columns(liq_flow_24h=pl.lit(None, pl.Float64))
    mine = flow.filter(pl.col("asset") == frame["asset"][0]).drop("asset")
    joined = frame.with_columns(pl.col("t").dt.cast_time_unit("us")).join(
        mine, on="t", how="left", maintain_order="left"
    )
    oi = pl.col("oi_usd")
    return joined.with_columns(liq_flow_24h=pl.when(oi > 0).then(pl.col("liq_usd_24h") / oi)).drop(
        "liq_usd_24h"
    )


def with_vol_relative(frame: pl.DataFrame, split: Split) -> pl.DataFrame:
    """``frame`` with ``abs_ret_24h_vs_vol``: the forward 24h |return| over its mean in the hours of the same
    realised-volatility (``rv_24h``) decile — edges from the train period, means over the test period — so 1 is
    what the volatility level alone says (a score that is high in volatile hours gets no credit for that)."""
    train = split.train(frame)["rv_24h"].cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
    if train.size < 100:
        return frame.with_columns(abs_ret_24h_vs_vol=pl.lit(None, pl.Float64))
    edges = np.quantile(train, [i / 10 for i in range(1, 10)])
    rv = frame["rv_24h"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    decile = np.where(np.isfinite(rv), np.searchsorted(edges, rv, side="right"), -1)
    move = frame["abs_ret_24h"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    in_test = (frame["t"] >= split.test(frame)["t"].min()).to_numpy() if not split.test(frame).is_empty() else None
    use = np.isfinite(move) & (decile >= 0) & (in_test if in_test is not None else False)
    # per-decile means in numpy (a fixed summation order: the same numbers on every run and every worker)
    sums = np.bincount(decile[use], weights=move[use], minlength=10)
    counts = np.bincount(decile[use], minlength=10)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    ratio = np.where(decile >= 0, move / means[np.clip(decile, 0, 9)], np.nan)
    return frame.with_columns(pl.Series("abs_ret_24h_vs_vol", ratio).fill_nan(None))


def decile_ratios(frames: dict[str, pl.DataFrame], split: Split, *, seed: int = 11) -> dict[str, Any]:
    """Per score and outcome: the pooled top/bottom-decile ratio with its interval, the hours behind it and the
    per-asset ratios (point estimates). Edges from ``split.train``, outcomes on ``split.test``."""
    tests = {a: split.test(f) for a, f in frames.items()}
    starts = [t for f in tests.values() if isinstance(t := f["t"].min(), datetime)]
    out: dict[str, Any] = {"definition": OUTCOMES, "scores": {}}
    for score in SCORES:
        out["scores"][score] = {}
        for outcome in OUTCOMES:
            grids = []
            per_asset = {}
            for asset, frame in sorted(frames.items()):
                train = split.train(frame)[score].cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
                test = (
                    tests[asset].filter(pl.col(outcome).is_not_null()) if outcome in frame.columns else None
                )
                if train.size < 100 or test is None or test.is_empty():
                    continue
                low, high = np.quantile(train, [0.1, 0.9])
                s = test[score].cast(pl.Float64).fill_null(float("nan")).to_numpy()
                y = test[outcome].cast(pl.Float64).fill_null(float("nan")).to_numpy()
                ok = np.isfinite(y) & np.isfinite(s)
                top, bottom = ok & (s >= high), ok & (s <= low)  # ties at an edge count with it
                hour = ((test["t"] - min(starts)).dt.total_hours()).to_numpy().astype(np.int64)
                grids.append((hour, np.where(top, y, 0.0), top, np.where(bottom, y, 0.0), bottom))
                per_asset[asset] = _ratio(y[top].sum(), top.sum(), y[bottom].sum(), bottom.sum())
            out["scores"][score][outcome] = {**_pooled(grids, seed), "assets": per_asset}
    return out


def _ratio(z_top: float, c_top: float, z_bottom: float, c_bottom: float) -> float | None:
    if c_top == 0 or c_bottom == 0 or z_bottom == 0:
        return None
    value = float((z_top / c_top) / (z_bottom / c_bottom))
    return value if math.isfinite(value) else None


def _pooled(grids: Sequence[tuple[npt.NDArray[Any], ...]], seed: int) -> dict[str, Any]:
    empty = {"ratio": None, "low": None, "high": None, "top_hours": 0, "bottom_hours": 0, "block_hours": None}
    if not grids:
        return empty
    n = int(max(g[0].max() for g in grids)) + 1
    cols = np.zeros((n, 4))
    for hour, z_top, top, z_bottom, bottom in grids:
        for k, v in enumerate((z_top, top, z_bottom, bottom)):
            cols[:, k] += np.bincount(hour, weights=np.asarray(v, dtype=float), minlength=n)
    totals = cols.sum(axis=0)
    ratio = _ratio(*totals)
    if ratio is None:
        return {**empty, "top_hours": int(totals[1]), "bottom_hours": int(totals[3])}
    mean_top, mean_bottom = totals[0] / totals[1], totals[2] / totals[3]
    block = max(
        optimal_block_length(cols[:, 0] - mean_top * cols[:, 1]),
        optimal_block_length(cols[:, 2] - mean_bottom * cols[:, 3]),
    )
    rng = np.random.default_rng(seed)
    draws = []
    for done in range(0, RESAMPLES, CHUNK):
        idx = stationary_indices(n, block, min(CHUNK, RESAMPLES - done), rng)
        sums = cols[idx].sum(axis=1)  # resamples × 4
        with np.errstate(invalid="ignore", divide="ignore"):
            draws.append((sums[:, 0] / sums[:, 1]) / (sums[:, 2] / sums[:, 3]))
    boot = np.concatenate(draws)
    boot = boot[np.isfinite(boot)]
    low, high = (float(v) for v in np.quantile(boot, [0.025, 0.975])) if boot.size >= 10 else (None, None)
    return {
        "ratio": ratio,
        "low": low,
        "high": high,
        "top_mean": float(mean_top),
        "bottom_mean": float(mean_bottom),
        "top_hours": int(totals[1]),
        "bottom_hours": int(totals[3]),
        "block_hours": float(block),
    }
