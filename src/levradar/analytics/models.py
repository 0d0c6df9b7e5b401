"""The walk-forward registry of squeeze models: which saved model may speak for which hour.

``levradar evaluate`` fits, walk-forward, a logistic model per quarter on everything before it (and a final one on
all the data) and saves each with its training window in ``models/squeeze.json`` of the data directory. A model
is **valid from** the first hour after its training labels end (the quarter's start for a fold model; the last
labelled hour + 24 h for the final one), and it is **qualified** only when the out-of-sample evidence available
at that time — the predictions of the models before it — beat the rule-based scores (higher AUC and lower Brier).

A reading as of ``t`` uses the newest model valid at ``t``, if it is qualified; otherwise the rule-based scores,
and it says which and why. So a scan of a past hour never uses a model trained on data after that hour.

The model's inputs (``FEATURE_GROUPS``) are computed from a radar read by :func:`model_features` — the same function
for training (``levradar evaluate``) and for scoring (scan, history), every input known at the row's hour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from levradar.analytics.signals import in_daily_vols
from levradar.jsonio import dumps

REGISTRY_FILE = Path("models") / "squeeze.json"
# version 3: inputs from model_features (versions 1 and 2 were trained with the *forward* 24h return in place of
# the past one — a look-ahead — and are refused)
REGISTRY_VERSION = 3
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "price": ("rv_24h", "rv_7d", "abs_ret_24h", "ret_24h"),  # past realised vols and the past 24h return
    "funding": ("funding_z", "rate_8h"),
    "oi": ("oi_roc_4h", "oi_roc_24h", "abs_oi_roc_24h"),
    # the modelled liquidation map: the nearest pocket below/above in daily vols, and its share of that side's
    # modelled book (how concentrated the fuel near the price is). Not the book as a share of OI: the book and the
    # OI total can cover different venues for months (book/OI 1.6-2.0 in Dec 2025-Feb 2026 of the shared data).
    "heatmap": ("liq_below_vols", "liq_above_vols", "near_long_share", "near_short_share"),
}
FAR_VOLS = 10.0  # a pocket further than this many daily vols (or none) reads as this far: bounded inputs
RADAR_FEATURES: tuple[str, ...] = tuple(f for group in FEATURE_GROUPS.values() for f in group)
SCORE_COLUMNS = {"long_flush": "squeeze_long", "short_squeeze": "squeeze_short"}
RULES = "rule-based 0-100 (not a calibrated probability)"
LABEL_HORIZON = timedelta(hours=24)  # the targets look 24 h ahead of their hour


class RegistryError(ValueError):
    """The saved model file cannot be read."""


@dataclass(frozen=True, eq=False)
class SavedModel:
    """One fitted model: its target, validity, training window, qualification and plain coefficients."""

    target: str
    valid_from: datetime
    trained_from: datetime
    trained_to: datetime  # the last hour whose features (and 24h label) were used
    qualified: bool
    evidence: dict[
        str, Any
    ]  # out-of-sample AUC/Brier of the models before it vs the rule scores, and through when
    features: list[str]
    medians: list[float]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SavedModel:
        return cls(
            target=str(raw["target"]),
            valid_from=_time(raw["valid_from"]),
            trained_from=_time(raw["trained_from"]),
            trained_to=_time(raw["trained_to"]),
            qualified=bool(raw["qualified"]),
            evidence=dict(raw["evidence"]),
            features=[str(f) for f in raw["features"]],
            medians=[float(v) for v in raw["medians"]],
            mean=[float(v) for v in raw["mean"]],
            scale=[float(v) for v in raw["scale"]],
            coef=[float(v) for v in raw["coef"]],
            intercept=float(raw["intercept"]),
        )

    def describe(self) -> str:
        ev = self.evidence
        return (
            f"P({self.target.replace('_', ' ')} within 24h) in %, logistic regression trained "
            f"{self.trained_from:%Y-%m-%d}..{self.trained_to:%Y-%m-%d}, valid from {self.valid_from:%Y-%m-%d %H:%M}; "
            f"out-of-sample AUC {ev.get('auc', float('nan')):.3f} vs rules {ev.get('auc_rules', float('nan')):.3f}, "
            f"price only {ev.get('auc_price_only', float('nan')):.3f}"
        )

    def probabilities(self, frame: pl.DataFrame) -> np.ndarray:
        """P(target) for every row of a radar read (missing features take the training median)."""
        frame = model_features(frame)
        cols = [
            (pl.col(f).cast(pl.Float64) if f in frame.columns else pl.lit(None, pl.Float64)).alias(f)
            for f in self.features
        ]
        x = frame.select(cols).fill_nan(None).to_numpy().astype(float)
        x = np.where(np.isfinite(x), x, np.asarray(self.medians)[None, :])
        scale = np.asarray(self.scale)
        z = (x - np.asarray(self.mean)) / np.where(scale > 0, scale, 1.0)
        logit = z @ np.asarray(self.coef, dtype=np.float64) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)


def model_features(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (scan or history columns) with the derived inputs of ``FEATURE_GROUPS``: |24h return|, |24h OI
    change|, the nearest modelled pockets in daily vols (at most ``FAR_VOLS``) and their USD as a share of their
    side's modelled book.
    Inputs missing from ``frame`` are null (the model imputes its training median)."""

    def col(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64) if name in frame.columns else pl.lit(None, pl.Float64)

    if "funding_z" not in frame.columns and "funding_metric" in frame.columns:
        frame = frame.with_columns(funding_z=pl.col("funding_metric"))

    def share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:  # no pocket on that side: none of the book is near
        return pl.when(whole > 0).then((part.fill_null(0.0) / whole).clip(0.0, 1.0))

    def far(distance_pct: str) -> pl.Expr:  # no modelled pocket on that side counts as far away
        return in_daily_vols(col(distance_pct), col("rv_24h")).clip(0.0, FAR_VOLS).fill_nan(None)

    return frame.with_columns(
        abs_ret_24h=col("ret_24h").abs(),
        abs_oi_roc_24h=col("oi_roc_24h").abs(),
        liq_below_vols=pl.when(col("rv_24h") > 0).then(far("liq_below_pct").fill_null(FAR_VOLS)),
        liq_above_vols=pl.when(col("rv_24h") > 0).then(far("liq_above_pct").fill_null(FAR_VOLS)),
        near_long_share=share(col("liq_below_usd"), col("liq_long_book_usd")),
        near_short_share=share(col("liq_above_usd"), col("liq_short_book_usd")),
    )


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def save_registry(data_dir: Path, models: list[SavedModel]) -> Path:
    path = data_dir / REGISTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"version": REGISTRY_VERSION, "models": [m.to_json() for m in models]}
    path.write_text(dumps(body, indent=2))
    return path


def load_registry(data_dir: Path) -> list[SavedModel]:
    """The saved models (none when there is no file). Files of versions 1 and 2 are refused: their models were
    trained with a look-ahead input (the forward 24h return), so no reading may use them."""
    path = data_dir / REGISTRY_FILE
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path}: cannot read the saved models ({exc})") from exc
    version = raw.get("version", 1) if isinstance(raw, dict) else None
    if version != REGISTRY_VERSION:
        raise RegistryError(
            f"{path}: saved by an older levradar (model file version {version}, this one reads "
            f"{REGISTRY_VERSION}) whose models were trained with the forward 24h return as an input; delete the "
            "file or run `levradar evaluate` again"
        )
    try:
        return [SavedModel.from_json(m) for m in raw["models"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{path}: not a levradar model file ({exc})") from exc


def model_at(models: list[SavedModel], target: str, t: datetime) -> SavedModel | None:
    """The newest model of ``target`` valid at ``t`` (qualified or not)."""
    valid = [m for m in models if m.target == target and m.valid_from <= t]
    return max(valid, key=lambda m: m.valid_from) if valid else None


def why_rules(models: list[SavedModel], target: str, t: datetime) -> str:
    """Why the rule-based score speaks for ``target`` at ``t``."""
    mine = [m for m in models if m.target == target]
    if not mine:
        return RULES
    chosen = model_at(mine, target, t)
    if chosen is None:
        first = min(m.valid_from for m in mine)
        return (
            f"{RULES}; the saved models were trained on later data (the first is valid from {first:%Y-%m-%d})"
        )
    return (
        f"{RULES}; the model valid then had not beaten the rule scores and a price-only model out of sample"
    )


def apply_registry(frame: pl.DataFrame, models: list[SavedModel]) -> pl.DataFrame:
    """Replace ``squeeze_long``/``squeeze_short`` (0-100) with the probability (in %) of the qualified model valid
    at each row's hour; ``squeeze_model`` describes what each row's two scores are."""
    frame = frame.with_columns(squeeze_model=pl.lit(RULES))
    if not models or frame.is_empty():
        return frame
    times = frame["t"].to_list()
    described: list[list[str]] = [[] for _ in times]
    for target, column in SCORE_COLUMNS.items():
        scores = frame[column].cast(pl.Float64).to_numpy().copy()
        chosen = [model_at(models, target, t) for t in times]
        used = {id(m): m for m in chosen if m is not None and m.qualified}
        for saved in used.values():
            rows = np.asarray([c is saved for c in chosen])
            scores[rows] = saved.probabilities(frame.filter(pl.Series(rows))) * 100.0
        for i, (pick, t) in enumerate(zip(chosen, times, strict=True)):
            text = pick.describe() if pick is not None and pick.qualified else why_rules(models, target, t)
            described[i].append(f"{column}: {text}")
        frame = frame.with_columns(pl.Series(column, np.round(scores, 6)))
    return frame.with_columns(squeeze_model=pl.Series("squeeze_model", ["; ".join(d) for d in described]))
