"""Calibrated probabilities of a long flush / short squeeze within 24h, trained walk-forward.

Targets (per asset and hour, thresholds from distributions, refitted on each training window):
- long flush: the 24h max drawdown of the hourly closes reaches 2 daily volatilities (7-day realised) **and** OI
  (coin) falls by at least its training-window 20th percentile of 24h changes;
- short squeeze: the 24h run-up reaches 2 daily volatilities with the same OI drop (shorts closed by force).

Walk-forward: each calendar quarter is predicted by a model trained on everything before it (at least 180 days,
with a 72h embargo). Two logistic regressions (median imputation, standardisation): the radar's features, and a
volatility-only baseline (large moves cluster: the radar must add something beyond that). Out-of-sample AUC, Brier
score and reliability per model, next to the rule-based 0–100 scores read as probabilities.
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

from levradar.analytics.models import LABEL_HORIZON, SavedModel

RADAR_FEATURES = (
    "funding_z",
    "oi_roc_4h",
    "oi_roc_24h",
    "crowding",
    "fragility",
    "lsi",
    "squeeze_long",
    "squeeze_short",
    "ret_24h",
    "rv_24h",
    "rv_7d",
)
VOL_FEATURES = ("rv_24h", "rv_7d", "abs_ret_24h_past")
TARGETS = {
    "long_flush": ("drawdown_24h", -1.0, "squeeze_long"),
    "short_squeeze": ("runup_24h", 1.0, "squeeze_short"),
}
MIN_TRAIN = timedelta(days=180)
EMBARGO = timedelta(hours=72)
MOVE_VOLS = 2.0
OI_DROP_QUANTILE = 0.2


def _design(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    parts = [
        f.with_columns(
            abs_ret_24h_past=pl.col("ret_24h").abs(),
            daily_vol=pl.col("rv_7d") / math.sqrt(365.0),
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
    """Out-of-sample predictions of both models for every quarter after the first 180 days, and their scores."""
    data = _design(frames)
    first, last = data["t"].min(), data["t"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    starts = pl.datetime_range(first + MIN_TRAIN, last, "3mo", time_zone="UTC", eager=True).to_list()
    preds: dict[str, dict[str, list[np.ndarray]]] = {
        t: {"radar": [], "volatility": [], "rules": [], "y": []} for t in TARGETS
    }
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
            for model_name, cols in (("radar", RADAR_FEATURES), ("volatility", VOL_FEATURES)):
                model = _model().fit(_x(train, cols)[ok_tr], ytr)
                if model_name == "radar":  # qualified by what the folds before it showed, nothing later
                    evidence = _evidence(preds[name], through=start)
                    labelled = train.filter(pl.Series(ok_tr))["t"]
                    registry.append(_saved(model, name, start, labelled, evidence))
                preds[name][model_name].append(model.predict_proba(_x(test, cols)[ok_te])[:, 1])
            preds[name]["rules"].append(np.nan_to_num(test[rule].to_numpy()[ok_te] / 100.0, nan=0.0))
            preds[name]["y"].append(y_test[name][ok_te].astype(bool))
    out: dict[str, Any] = {
        "registry": registry,
        "folds": [f.__dict__ for f in folds],
        "definition": {
            "move_daily_vols": MOVE_VOLS,
            "oi_drop_quantile": OI_DROP_QUANTILE,
            "min_train_days": MIN_TRAIN.days,
            "embargo_hours": EMBARGO.total_seconds() / 3600,
        },
        "targets": {},
    }
    for name, p in preds.items():
        if not p["y"]:
            out["targets"][name] = {"evaluated": False}
            continue
        y = np.concatenate(p["y"])
        scores: dict[str, dict[str, Any]] = {}
        for model_name in ("radar", "volatility", "rules"):
            prob = np.concatenate(p[model_name])
            frac, mean_pred = calibration_curve(y, prob, n_bins=10, strategy="quantile")
            scores[model_name] = {
                "auc": float(roc_auc_score(y, prob)) if 0 < y.sum() < y.size else None,
                "brier": float(brier_score_loss(y, np.clip(prob, 0, 1))),
                "reliability": {"predicted": mean_pred.tolist(), "observed": frac.tolist()},
            }
        out["targets"][name] = {
            "evaluated": True,
            "rows": int(y.size),
            "base_rate": float(y.mean()),
            "models": scores,
            "radar_beats_rules": bool(
                (scores["radar"]["auc"] or 0) > (scores["rules"]["auc"] or 0)
                and scores["radar"]["brier"] < scores["rules"]["brier"]
            ),
            "radar_beats_volatility": bool(
                (scores["radar"]["auc"] or 0) > (scores["volatility"]["auc"] or 0)
            ),
        }
    return out


def _evidence(pred: dict[str, list[np.ndarray]], through: datetime) -> dict[str, Any]:
    """Out-of-sample AUC and Brier of the radar models so far vs the rule scores; beats = both better."""
    if not pred["y"]:
        return {"through": through, "rows": 0, "beats_rules": False}
    y = np.concatenate(pred["y"])
    radar, rules = np.concatenate(pred["radar"]), np.concatenate(pred["rules"])
    if not 0 < y.sum() < y.size:
        return {"through": through, "rows": int(y.size), "beats_rules": False}
    auc, auc_rules = float(roc_auc_score(y, radar)), float(roc_auc_score(y, rules))
    brier, brier_rules = float(brier_score_loss(y, radar)), float(brier_score_loss(y, np.clip(rules, 0, 1)))
    return {
        "through": through,
        "rows": int(y.size),
        "auc": auc,
        "auc_rules": auc_rules,
        "brier": brier,
        "brier_rules": brier_rules,
        "beats_rules": auc > auc_rules and brier < brier_rules,
    }


def _saved(
    pipe: Pipeline, target: str, valid_from: datetime, labelled: pl.Series, evidence: dict[str, Any]
) -> SavedModel:
    """A fitted pipeline as plain numbers with its window (``labelled``: the hours whose labels trained it)."""
    imputer, scaler, lr = (pipe.named_steps[k] for k in ("simpleimputer", "standardscaler", "logisticregression"))
    first, last = labelled.min(), labelled.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    assert last + LABEL_HORIZON <= valid_from, "a model may only speak after its training labels end"
    return SavedModel(
        target=target,
        valid_from=valid_from,
        trained_from=first,
        trained_to=last,
        qualified=bool(evidence.get("beats_rules")),
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
    the whole walk-forward (all before that time) beat the rule scores."""
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
        radar, rules = t["models"]["radar"], t["models"]["rules"]
        evidence = {
            "through": last + LABEL_HORIZON,
            "rows": t["rows"],
            "auc": radar["auc"],
            "auc_rules": rules["auc"],
            "brier": radar["brier"],
            "brier_rules": rules["brier"],
            "beats_rules": bool(t.get("radar_beats_rules")),
        }
        out.append(_saved(pipe, name, last + LABEL_HORIZON, labelled, evidence))
    return out
