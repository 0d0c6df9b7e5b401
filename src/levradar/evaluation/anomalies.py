"""Today's outliers across the universe: robust z-scores and a multivariate IsolationForest.

Features per asset and hour: funding z (vs its 90-day baseline), OI momentum (24h change, coin), basis (mark vs
index, mean over venues, where recorded) and realised volatility (24h). Each is turned into a robust z-score against
the asset's own previous 90 days (median and MAD), so assets of every size are comparable. An IsolationForest is
fitted on all assets' hourly z-vectors of those 90 days; the newest hour is unusual when its score is below the
1st percentile of the fitted hours' scores. The features with |z| ≥ 3 say why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from levradar.analytics.scan import history
from levradar.store import Store

FEATURES = ("funding_z", "oi_roc_24h", "basis", "rv_24h")
WINDOW = timedelta(days=90)
Z_FLAG = 3.0
SCORE_QUANTILE = 0.01


def _frame(store: Store, asset: str, as_of: datetime) -> pl.DataFrame:
    hours = history(store, asset, as_of - WINDOW, as_of)
    if hours.is_empty():
        return hours
    marks = store.read("mark_index", assets=[asset], start=as_of - WINDOW, as_of=as_of)
    if marks.is_empty():
        return hours.with_columns(basis=pl.lit(None, pl.Float64))
    basis = marks.group_by(pl.col("ts").alias("t")).agg(pl.col("basis").mean())
    return hours.join(basis, on="t", how="left")


def robust_z(frame: pl.DataFrame) -> pl.DataFrame:
    """Each feature against the asset's own window: (x - median) / (1.4826 MAD); NaN where MAD is zero."""
    cols = []
    for f in FEATURES:
        x = pl.col(f).cast(pl.Float64)
        mad = (x - x.median()).abs().median() * 1.4826
        cols.append(pl.when(mad > 0).then((x - x.median()) / mad).alias(f"z_{f}"))
    return frame.with_columns(cols)


def anomalies(store: Store, as_of: datetime, assets: list[str], seed: int = 7) -> dict[str, Any]:
    frames = {a: robust_z(f) for a in assets if not (f := _frame(store, a, as_of)).is_empty()}
    if not frames:
        raise ValueError(
            f"no hourly history for {', '.join(assets)} in the {WINDOW.days} days before {as_of:%Y-%m-%d %H:%M} UTC"
        )
    zcols = [f"z_{f}" for f in FEATURES]
    pooled = np.vstack([f.select(zcols).to_numpy().astype(float) for f in frames.values()])
    usable = [i for i in range(len(zcols)) if np.isfinite(pooled[:, i]).any()]
    train = np.nan_to_num(pooled[:, usable], nan=0.0)
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(train)
    cutoff = float(np.quantile(forest.score_samples(train), SCORE_QUANTILE))
    rows = []
    for asset, f in sorted(frames.items()):
        last = f.sort("t").tail(1)
        z = last.select(zcols).to_numpy().astype(float)[0]
        score = float(forest.score_samples(np.nan_to_num(z[usable], nan=0.0).reshape(1, -1))[0])
        why = [
            {"feature": FEATURES[i], "value": _f(last[FEATURES[i]][0]), "z": float(z[i])}
            for i in np.argsort(-np.abs(np.nan_to_num(z)))
            if np.isfinite(z[i]) and abs(z[i]) >= Z_FLAG
        ]
        rows.append(
            {
                "asset": asset,
                "time": last["t"][0],
                "score": score,
                "unusual": score < cutoff or bool(why),
                "multivariate_outlier": score < cutoff,
                "z": {
                    FEATURES[i]: (float(z[i]) if np.isfinite(z[i]) else None) for i in range(len(FEATURES))
                },
                "why": why,
            }
        )
    rows.sort(key=lambda r: r["score"])
    return {
        "as_of": as_of,
        "window_days": WINDOW.days,
        "score_cutoff": cutoff,
        "features": [FEATURES[i] for i in usable],
        "assets": rows,
    }


def _f(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else float(x)
