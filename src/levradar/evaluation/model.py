"""Calibrated probabilities of a long flush / short squeeze within 24h, trained walk-forward, against a price-only
baseline and with each group of derivatives inputs left out in turn.

Targets (per asset and hour, thresholds from distributions, refitted on each training window):
- long flush: the 24h max drawdown of the hourly closes reaches 2 daily volatilities (7-day realised) **and** OI
  (coin) falls by at least its training-window 20th percentile of 24h changes;
- short squeeze: the 24h run-up reaches 2 daily volatilities with the same OI drop (shorts closed by force).

Walk-forward: each calendar quarter is predicted by models trained on everything before it (at least 180 days,
with a 72h embargo). Logistic regressions (median imputation, standardisation) on the input groups of
``analytics.models.FEATURE_GROUPS``: ``radar`` (all groups), ``price_only`` (past realised vols and returns: large
moves cluster, the radar must add something beyond that) and the ablations ``no_funding``, ``no_oi``,
``no_heatmap``; next to them the rule-based 0–100 scores read as probabilities. Per model: out-of-sample AUC, Brier
score and reliability. Per comparison (price-only − radar, ablation − radar): the mean Brier difference per
asset-hour with a studentized stationary-bootstrap 95 % interval over the hours (an hour's assets together;
``evaluation.stats``) — a group *adds* when the interval of its ablation is above zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from levradar.analytics.models import (
    FEATURE_GROUPS,
    LABEL_HORIZON,
    RADAR_FEATURES,
    SavedModel,
    model_features,
)
from levradar.evaluation.stats import ratio_intervals

MODELS: dict[str, tuple[str, ...]] = {
    "radar": RADAR_FEATURES,
    "price_only": FEATURE_GROUPS["price"],
    **{
        f"no_{group}": tuple(f for g, cols in FEATURE_GROUPS.items() if g != group for f in cols)
        for group in FEATURE_GROUPS
        if group != "price"
    },
}
TARGETS = {
    "long_flush": ("drawdown_24h", -1.0, "squeeze_long"),
    "short_squeeze": ("runup_24h", 1.0, "squeeze_short"),
}
MIN_TRAIN = timedelta(days=180)
EMBARGO = timedelta(hours=72)
MOVE_VOLS = 2.0
OI_DROP_QUANTILE = 0.2


def _design(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """All assets' evaluation frames with the model inputs (from each hour's read: ``ret_24h`` is the past 24h
    return again, the forward one is not an input) and the daily volatility of the targets."""
    parts = [
        model_features(f.drop("ret_24h").rename({"past_ret_24h": "ret_24h"})).with_columns(
            daily_vol=pl.col("rv_7d") / math.sqrt(365.0)
        )
        for f in frames.values()
        if not f.is_empty()
    ]
    return pl.concat(parts, how="diagonal_relaxed").sort("t", "asset")


def targets(frame: pl.DataFrame, oi_drop: float) -> dict[str, np.ndarray]:
    move_ok = pl.col("daily_vol").is_not_null() & pl.col("oi_chg_24h").is_not_null()
    out = {}
    for name, (col, sign, _rule) in TARGETS.items():
        hit = (sign * pl.col(col) >= MOVE_VOLS * pl.col("daily_vol")) & (pl.col("oi_chg_24h") <= oi_drop)
        out[name] = (
            frame.select(pl.when(move_ok & pl.col(col).is_not_null()).then(hit)).to_series().to_numpy()
        )
    return out


def _model() -> Pipeline:
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )


def _x(frame: pl.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    return frame.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols]).to_numpy()


@dataclass
class Fold:
    start: datetime
    end: datetime
    train_rows: int
    test_rows: int


def walk_forward(frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Out-of-sample predictions of every model for every quarter after the first 180 days, their scores and the
    Brier comparisons with intervals."""
    data = _design(frames)
    first, last = data["t"].min(), data["t"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    starts = pl.datetime_range(first + MIN_TRAIN, last, "3mo", time_zone="UTC", eager=True).to_list()
    columns = (*MODELS, "rules", "y", "t")
    preds: dict[str, dict[str, list[np.ndarray]]] = {t: {c: [] for c in columns} for t in TARGETS}
    folds = []
    registry: list[SavedModel] = []
    for start in starts:
        end = start + timedelta(days=92)
        train = data.filter(pl.col("t") < start - EMBARGO)
        test = data.filter((pl.col("t") >= start) & (pl.col("t") < end))
        if train.is_empty() or test.is_empty():
            continue
        oi_drop = float(np.nanquantile(train["oi_chg_24h"].drop_nulls().to_numpy(), OI_DROP_QUANTILE))
        y_train, y_test = targets(train, oi_drop), targets(test, oi_drop)
        folds.append(Fold(start, end, train.height, test.height))
        for name, (_col, _sign, rule) in TARGETS.items():
            ok_tr = ~np.isnan(y_train[name].astype(float))
            ok_te = ~np.isnan(y_test[name].astype(float))
            ytr = y_train[name][ok_tr].astype(bool)
            if ytr.sum() < 10 or (~ytr).sum() < 10 or not ok_te.any():
                continue
            for model_name, cols in MODELS.items():
                model = _model().fit(_x(train, cols)[ok_tr], ytr)
                if model_name == "radar":  # qualified by what the folds before it showed, nothing later
                    evidence = _evidence(preds[name], through=start)
                    labelled = train.filter(pl.Series(ok_tr))["t"]
                    registry.append(_saved(model, name, start, labelled, evidence))
                preds[name][model_name].append(model.predict_proba(_x(test, cols)[ok_te])[:, 1])
            preds[name]["rules"].append(np.nan_to_num(test[rule].to_numpy()[ok_te] / 100.0, nan=0.0))
            preds[name]["y"].append(y_test[name][ok_te].astype(bool))
            preds[name]["t"].append((test["t"].dt.epoch("s").to_numpy()[ok_te] // 3600).astype(np.int64))
    out: dict[str, Any] = {
        "registry": registry,
        "folds": [f.__dict__ for f in folds],
        "definition": {
            "move_daily_vols": MOVE_VOLS,
            "oi_drop_quantile": OI_DROP_QUANTILE,
            "min_train_days": MIN_TRAIN.days,
            "embargo_hours": EMBARGO.total_seconds() / 3600,
            "feature_groups": {g: list(cols) for g, cols in FEATURE_GROUPS.items()},
            "models": {m: list(cols) for m, cols in MODELS.items()},
        },
        "targets": {},
    }
    for name, p in preds.items():
        out["targets"][name] = (
            _target_scores({k: np.concatenate(v) for k, v in p.items()}) if p["y"] else {"evaluated": False}
        )
    return out


def _target_scores(p: dict[str, np.ndarray]) -> dict[str, Any]:
    """AUC, Brier and reliability of every model; the Brier comparisons with intervals; the verdicts."""
    y = p["y"]
    scores: dict[str, dict[str, Any]] = {}
    for model_name in (*MODELS, "rules"):
        prob = np.clip(p[model_name], 0.0, 1.0)
        frac, mean_pred = calibration_curve(y, prob, n_bins=10, strategy="quantile")
        scores[model_name] = {
            "auc": float(roc_auc_score(y, prob)) if 0 < y.sum() < y.size else None,
            "brier": float(brier_score_loss(y, prob)),
            "reliability": {"predicted": mean_pred.tolist(), "observed": frac.tolist()},
        }
    compared = [m for m in MODELS if m != "radar"]
    loss = {m: (np.clip(p[m], 0.0, 1.0) - y) ** 2 for m in (*MODELS,)}
    # per hour (all assets of an hour together): the sum of the Brier differences and the number of asset-rows
    hour = p["t"] - p["t"].min()
    count = np.bincount(hour).astype(float)
    diffs = np.column_stack([np.bincount(hour, weights=loss[m] - loss["radar"]) for m in compared])
    intervals = ratio_intervals(diffs, np.repeat(count[:, None], len(compared), axis=1))
    comparisons = {
        f"{m}_minus_radar": {
            "brier_difference": iv.estimate,
            "low": _finite(iv.low),
            "high": _finite(iv.high),
            "p": _finite(iv.p),
            "block_hours": _finite(iv.block),
            "auc_difference": (scores["radar"]["auc"] or 0.0) - (scores[m]["auc"] or 0.0),
        }
        for m, iv in zip(compared, intervals, strict=True)
    }
    beaten = [m for m in compared if (comparisons[f"{m}_minus_radar"]["low"] or 0.0) > 0]  # interval above 0
    price_auc = comparisons["price_only_minus_radar"]["auc_difference"] or 0.0
    return {
        "evaluated": True,
        "rows": int(y.size),
        "base_rate": float(y.mean()),
        "models": scores,
        "comparisons": comparisons,
        "radar_beats_rules": bool(
            (scores["radar"]["auc"] or 0) > (scores["rules"]["auc"] or 0)
            and scores["radar"]["brier"] < scores["rules"]["brier"]
        ),
        # the derivatives inputs add to price alone: the radar's Brier is lower with an interval above zero
        "radar_beats_price_only": "price_only" in beaten and price_auc > 0,
        "groups_that_add": [m.removeprefix("no_") for m in beaten if m.startswith("no_")],
    }


def _finite(x: float) -> float | None:
    """A number for the JSON, None where the bootstrap had too little to say (never NaN)."""
    return x if math.isfinite(x) else None


def _evidence(pred: dict[str, list[np.ndarray]], through: datetime) -> dict[str, Any]:
    """Out-of-sample AUC and Brier of the radar models so far vs the rule scores and the price-only models (point
    estimates); beats = both better than both."""
    if not pred["y"]:
        return {"through": through, "rows": 0, "beats_rules": False, "beats_price_only": False}
    y = np.concatenate(pred["y"])
    if not 0 < y.sum() < y.size:
        return {"through": through, "rows": int(y.size), "beats_rules": False, "beats_price_only": False}
    got = {m: np.clip(np.concatenate(pred[m]), 0.0, 1.0) for m in ("radar", "rules", "price_only")}
    auc = {m: float(roc_auc_score(y, v)) for m, v in got.items()}
    brier = {m: float(brier_score_loss(y, v)) for m, v in got.items()}
    return {
        "through": through,
        "rows": int(y.size),
        "auc": auc["radar"],
        "auc_rules": auc["rules"],
        "auc_price_only": auc["price_only"],
        "brier": brier["radar"],
        "brier_rules": brier["rules"],
        "brier_price_only": brier["price_only"],
        "beats_rules": auc["radar"] > auc["rules"] and brier["radar"] < brier["rules"],
        "beats_price_only": auc["radar"] > auc["price_only"] and brier["radar"] < brier["price_only"],
    }


def _saved(
    pipe: Pipeline, target: str, valid_from: datetime, labelled: pl.Series, evidence: dict[str, Any]
) -> SavedModel:
    """A fitted pipeline as plain numbers with its window (``labelled``: the hours whose labels trained it). It is
    qualified when the evidence beat both the rule scores and the price-only model."""
    imputer, scaler, lr = (
        pipe.named_steps[k] for k in ("simpleimputer", "standardscaler", "logisticregression")
    )
    first, last = labelled.min(), labelled.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    assert last + LABEL_HORIZON <= valid_from, "a model may only speak after its training labels end"
    return SavedModel(
        target=target,
        valid_from=valid_from,
        trained_from=first,
        trained_to=last,
        qualified=bool(evidence.get("beats_rules")) and bool(evidence.get("beats_price_only")),
        evidence=evidence,
        features=list(RADAR_FEATURES),
        medians=imputer.statistics_.tolist(),
        mean=scaler.mean_.tolist(),
        scale=scaler.scale_.tolist(),
        coef=lr.coef_[0].tolist(),
        intercept=float(lr.intercept_[0]),
    )


def fit_final(frames: dict[str, pl.DataFrame], scores: dict[str, Any]) -> list[SavedModel]:
    """Per target, the radar model refitted on all the data, valid once its last label is known; qualified when
    the whole walk-forward (all before that time) beat the rule scores and the price-only model (its Brier
    interval above zero)."""
    data = _design(frames)
    oi_drop = float(np.nanquantile(data["oi_chg_24h"].drop_nulls().to_numpy(), OI_DROP_QUANTILE))
    y_all = targets(data, oi_drop)
    out: list[SavedModel] = []
    for name in TARGETS:
        t = scores["targets"].get(name, {})
        if not t.get("evaluated"):
            continue
        ok = ~np.isnan(y_all[name].astype(float))
        y = y_all[name][ok].astype(bool)
        if y.sum() < 10 or (~y).sum() < 10:
            continue
        pipe = _model().fit(_x(data, RADAR_FEATURES)[ok], y)
        labelled = data.filter(pl.Series(ok))["t"]
        last = labelled.max()
        assert isinstance(last, datetime)
        radar, rules, price = (t["models"][m] for m in ("radar", "rules", "price_only"))
        evidence = {
            "through": last + LABEL_HORIZON,
            "rows": t["rows"],
            "auc": radar["auc"],
            "auc_rules": rules["auc"],
            "auc_price_only": price["auc"],
            "brier": radar["brier"],
            "brier_rules": rules["brier"],
            "brier_price_only": price["brier"],
            "beats_rules": bool(t.get("radar_beats_rules")),
            "beats_price_only": bool(t.get("radar_beats_price_only")),
        }
        out.append(_saved(pipe, name, last + LABEL_HORIZON, labelled, evidence))
    return out
