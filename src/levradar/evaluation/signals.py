"""Walk-forward evaluation of every signal and state against what followed.

For each asset: the hourly radar read as it was known at each hour (``history``: point in time), and the
outcomes after it — absolute return, signed return, max drawdown and run-up of the hourly closes, and the OI
change (coin), over 4h, 24h and 72h. States whose thresholds come from a distribution (LSI deciles, fragility
quartiles, "high" squeeze risk) take their edges from the **train** period only and are evaluated on the later
**test** period. Each state's effect is its mean outcome minus the asset's own mean over the test period, with a
studentized stationary-bootstrap interval and p-value on the complete hourly grid (evaluation/stats.py: blocks of
random length whose mean comes from each series' own autocorrelation; pooled effects resample the hours of all
assets together, so an hour's cross-asset co-movement stays in the resample); effective sample size = unique days;
q-values (Benjamini–Hochberg) correct for the number of tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from levradar.analytics.scan import history
from levradar.evaluation.stats import benjamini_hochberg, ratio_intervals
from levradar.store import Store

HORIZONS = (4, 24, 72)
OUTCOMES = ("abs_ret", "ret", "drawdown", "runup", "oi_chg")
LABEL_STATES = ("tag", "funding_regime", "oi_regime", "deleveraging", "quadrant")
MIN_DAYS = 5  # a state seen on fewer unique days is listed but not tested
BOOTSTRAP = 999  # stationary-bootstrap resamples per test


def asset_history(asset: str, data_dir: str, start: datetime, end: datetime) -> pl.DataFrame:
    """One asset's hourly reads (opens the store itself, read-only: runs on a Dask worker as well)."""
    with Store(data_dir, read_only=True) as store:
        frame = history(store, asset, start, end, models=False)  # the rule scores, never a saved model's
    return frame


def with_outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    """Forward outcomes per hour on a complete hourly grid (a missing hour never shifts a horizon)."""
    if frame.is_empty():
        return frame
    asset = frame["asset"][0]
    first, last = frame["t"].min(), frame["t"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    grid = pl.DataFrame({"t": pl.datetime_range(first, last, "1h", time_zone="UTC", eager=True)})
    # the read's own (past) 24h return keeps its meaning as past_ret_24h: ret_24h becomes the forward outcome
    past = frame.rename({"ret_24h": "past_ret_24h"}) if "ret_24h" in frame.columns else frame
    f = grid.join(past, on="t", how="left", maintain_order="left").with_columns(pl.lit(asset).alias("asset"))
    close, oi = pl.col("price"), pl.col("oi_base")
    cols = []
    for h in HORIZONS:
        ahead = close.shift(-h)
        future_min = close.reverse().rolling_min(h, min_samples=h).reverse().shift(-1)
        future_max = close.reverse().rolling_max(h, min_samples=h).reverse().shift(-1)
        cols += [
            (ahead / close - 1).abs().alias(f"abs_ret_{h}h"),
            (ahead / close - 1).alias(f"ret_{h}h"),
            (future_min / close - 1).alias(f"drawdown_{h}h"),
            (future_max / close - 1).alias(f"runup_{h}h"),
            (oi.shift(-h) / oi - 1).alias(f"oi_chg_{h}h"),
        ]
    return f.with_columns(cols).filter(pl.col("price").is_not_null())


OUTCOME_COLUMNS = [f"{o}_{h}h" for h in HORIZONS for o in OUTCOMES]


@dataclass(frozen=True)
class Split:
    """Train period (thresholds are fitted here) and test period (effects are measured here)."""

    train_end: datetime

    def train(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("t") < self.train_end)

    def test(self, frame: pl.DataFrame) -> pl.DataFrame:
        # an embargo of the longest horizon: no test hour's outcome overlaps a train hour's
        return frame.filter(pl.col("t") >= self.train_end + timedelta(hours=max(HORIZONS)))


def default_split(frames: list[pl.DataFrame], train_share: float = 0.4) -> Split:
    times = pl.concat([f.select("t") for f in frames if not f.is_empty()])["t"].sort()
    return Split(times[int(train_share * (times.len() - 1))])


def frozen_edges(train: pl.DataFrame) -> dict[str, list[float]]:
    """Distribution thresholds fitted on the train period only (per asset: each asset's own distribution)."""

    def q(col: str, qs: list[float]) -> list[float]:
        values = train[col].drop_nulls().drop_nans().to_numpy()
        return [float(x) for x in np.quantile(values, qs)] if values.size else []

    return {
        "lsi_deciles": q("lsi", [i / 10 for i in range(1, 10)]),
        "fragility_quartiles": q("fragility", [0.25, 0.5, 0.75]),
        "squeeze_long_p90": q("squeeze_long", [0.9]),
        "squeeze_short_p90": q("squeeze_short", [0.9]),
    }


def states(frame: pl.DataFrame, edges: dict[str, list[float]]) -> dict[str, pl.Series]:
    """Every state as a boolean series over ``frame``'s rows."""
    out: dict[str, pl.Series] = {}
    for col in LABEL_STATES:
        for label in frame[col].drop_nulls().unique().sort().to_list():
            out[f"{col}={label}"] = (frame[col] == label).fill_null(False)
    if edges["lsi_deciles"]:
        decile = (
            np.searchsorted(edges["lsi_deciles"], frame["lsi"].fill_null(np.nan).to_numpy(), side="right") + 1
        )
        valid = frame["lsi"].is_not_null().to_numpy()
        for d in range(1, 11):
            out[f"lsi_decile={d}"] = pl.Series((decile == d) & valid)
    if edges["fragility_quartiles"]:
        quart = (
            np.searchsorted(
                edges["fragility_quartiles"], frame["fragility"].fill_null(np.nan).to_numpy(), side="right"
            )
            + 1
        )
        valid = frame["fragility"].is_not_null().to_numpy()
        for d in range(1, 5):
            out[f"fragility_quartile={d}"] = pl.Series((quart == d) & valid)
    for side in ("long", "short"):
        edge = edges[f"squeeze_{side}_p90"]
        if edge:
            out[f"squeeze_{side}>=p90"] = (frame[f"squeeze_{side}"] >= edge[0]).fill_null(False)
    out["contradiction"] = (frame["contradiction_count"] > 0).fill_null(False)
    return out


def _rows(
    name: str, group: str, mask: np.ndarray, excess: np.ndarray, days: np.ndarray, hours: np.ndarray
) -> list[dict[str, Any]]:
    """One row per outcome for the state ``mask``: the mean excess outcome over its hours with a studentized
    stationary-bootstrap interval. ``hours`` places every row on a complete hourly grid (rows of several assets
    share an hour's grid cell): the resampled unit is the hour, so missing hours stay gaps and an hour's assets
    move together."""
    hit_days = np.unique(days[mask]).size
    base = {"state": name, "group": group, "hours": int(mask.sum()), "days": int(hit_days)}
    if hit_days < MIN_DAYS:
        return [
            {**base, "outcome": o, "effect": None, "low": None, "high": None, "p": None, "block_hours": None}
            for o in OUTCOME_COLUMNS
        ]
    ok = mask[:, None] & np.isfinite(excess)
    cell = hours - hours.min()
    z = np.zeros((int(cell.max()) + 1, excess.shape[1]))
    c = np.zeros_like(z)
    np.add.at(z, cell, np.where(ok, excess, 0.0))
    np.add.at(c, cell, ok.astype(float))
    out = ratio_intervals(z, c, resamples=BOOTSTRAP)
    return [
        {
            **base,
            "outcome": o,
            "effect": _f(r.estimate),
            "low": _f(r.low),
            "high": _f(r.high),
            "p": _f(r.p),
            "block_hours": _f(r.block),
        }
        for o, r in zip(OUTCOME_COLUMNS, out, strict=True)
    ]


def _f(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def evaluate_states(frames: dict[str, pl.DataFrame], split: Split) -> dict[str, Any]:
    """Effects of every state per asset and pooled, on the test period, with q-values over all tests."""
    rows: list[dict[str, Any]] = []
    pooled_excess, pooled_days, pooled_hours, pooled_states = [], [], [], []
    baselines: dict[str, dict[str, float | None]] = {}
    for asset, frame in sorted(frames.items()):
        train, test = split.train(frame), split.test(frame)
        if test.is_empty() or train.is_empty():
            continue
        edges = frozen_edges(train)
        outcome = test.select(OUTCOME_COLUMNS).to_numpy().astype(float)
        base = np.nanmean(outcome, axis=0)
        baselines[asset] = {o: _f(b) for o, b in zip(OUTCOME_COLUMNS, base, strict=True)}
        excess = outcome - base
        days = (test["t"].dt.epoch("d")).to_numpy()
        hours = (test["t"].dt.epoch("s") // 3600).to_numpy()
        st = {k: v.to_numpy().astype(bool) for k, v in states(test, edges).items()}
        for name, mask in st.items():
            rows += _rows(name, asset, mask, excess, days, hours)
        pooled_excess.append(excess)
        pooled_days.append(days)
        pooled_hours.append(hours)
        pooled_states.append(st)
    if pooled_excess:
        excess = np.vstack(pooled_excess)
        days = np.concatenate(pooled_days)
        hours = np.concatenate(pooled_hours)
        names = sorted({k for st in pooled_states for k in st})
        for name in names:
            mask = np.concatenate(
                [
                    st.get(name, np.zeros(len(d), dtype=bool))
                    for st, d in zip(pooled_states, pooled_days, strict=True)
                ]
            )
            rows += _rows(name, "pooled", mask, excess, days, hours)
    p = np.array([np.nan if r["p"] is None else r["p"] for r in rows])
    q = benjamini_hochberg(p)
    for r, qv in zip(rows, q, strict=True):
        r["q"] = _f(qv)
    return {
        "train_end": split.train_end,
        "baselines": baselines,
        "rows": rows,
        "tests": int(np.sum(~np.isnan(p))),
    }


# -- stress events --------------------------------------------------------------------------------------------

EVENTS = {
    "2021-05-19 crypto crash": datetime.fromisoformat("2021-05-19T12:00:00+00:00"),
    "2022-05 LUNA collapse": datetime.fromisoformat("2022-05-09T12:00:00+00:00"),
    "2022-11 FTX collapse": datetime.fromisoformat("2022-11-08T12:00:00+00:00"),
    "2024-08-05 carry unwind": datetime.fromisoformat("2024-08-05T00:00:00+00:00"),
    "2025-10-10 cascade": datetime.fromisoformat("2025-10-10T21:00:00+00:00"),
}
EVENT_LEADS = (72, 24, 4)
EVENT_FIELDS = (
    "tag",
    "lsi",
    "fragility",
    "squeeze_long",
    "squeeze_short",
    "funding_regime",
    "oi_regime",
    "deleveraging",
)


def event_table(frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """What the radar said 72h, 24h and 4h before each stress event, and what followed (24h after the event)."""
    out = []
    for event, when in EVENTS.items():
        for asset, frame in sorted(frames.items()):
            by_t = {r["t"]: r for r in frame.select("t", "price", *EVENT_FIELDS).iter_rows(named=True)}
            if when not in by_t:
                continue
            row: dict[str, Any] = {"event": event, "time": when, "asset": asset}
            for lead in EVENT_LEADS:
                before = by_t.get(when - timedelta(hours=lead))
                row[f"{lead}h"] = None if before is None else {k: before[k] for k in EVENT_FIELDS}
            after = by_t.get(when + timedelta(hours=24))
            start = by_t.get(when - timedelta(hours=4))
            row["move_-4h_to_+24h"] = (
                after["price"] / start["price"] - 1 if after and start and start["price"] else None
            )
            out.append(row)
    return out


def load_frames(
    store_dir: Path, assets: list[str], start: datetime, end: datetime, cluster: str | None = None
) -> dict[str, pl.DataFrame]:
    from levradar.evaluation.fanout import fan_out

    frames = fan_out(asset_history, assets, str(store_dir), start, end, cluster=cluster)
    return {a: with_outcomes(f) for a, f in zip(assets, frames, strict=True) if not f.is_empty()}
