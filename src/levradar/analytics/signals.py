"""Regimes, quadrant, deleveraging state, scores, Leverage Stress Index, setups and contradictions.

Input: the hourly features of many series (markets or assets) over a label window, with robust z-scores.
Output: the same rows with every label and score — one vectorised pass over series × hours, the labels starting at
the first hour or carrying on from a ``LabelState`` (the live radar labels one new hour this way).
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, reduce
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _loops
from levradar.analytics.baseline import SMALL_ROWS, add_columns
from levradar.analytics.config import SignalConfig
from levradar.analytics.regimes import (
    MISSING,
    NO_RUN,
    dwell,
    fresh_state,
    label_codes,
    label_series,
    run_hours,
    sides,
)

SETUP_TAGS = {
    "A": "Crowded Longs (Fragile)",
    "B": "Crowded Shorts (Squeeze Risk)",
    "C": "Deleveraging (Post-Flush)",
    "D": "Stable Trend (Tradeable)",
}
NEUTRAL_TAG = "Neutral"
SETUP_PRECEDENCE = ("C", "A", "B", "D")  # a dump under way outranks the crowding that led to it
NO_SETUP = "-"  # "no setup" as a value of its own while labels dwell (a change to no setup dwells too)
PLAYBOOKS = {
    "A": "Avoid late longs without invalidation; prefer flush-and-reclaim entries; size shorts smaller.",
    "B": "Do not chase breakdowns into nearby short clusters; look for break-and-hold; keep invalidations tight.",
    "C": "Wait for volatility compression, base-building and funding normalisation before adding risk.",
    "D": "Trend-follow with defined invalidations; cut risk when fragility flashes.",
}
QUADRANTS = {
    (True, True): "New Longs",
    (False, True): "New Shorts",
    (True, False): "Short Covering",
    (False, False): "Long Liquidation",
}
LABEL_FAMILIES = ("funding_regime", "oi_regime", "vol_regime", "quadrant", "deleveraging", "setup", "tag")
DELEVERAGING = ("building", "flushing", "post-flush", "stable")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
T = TypeVar("T")


@dataclass
class LabelState:
    """What labelling carries from one hour to the next, per series (rows in key order): each label's hysteresis
    or dwell state, each regime's side and the hours it has held, and the trailing hours that the rolling rules
    (post-flush, dump, 24 h changes) read, oldest first (NaN: none). Empty before a series' first hour;
    :func:`evaluate` leaves it at the state after its frame's last hour, so the next hours carry on from it."""

    labels: dict[str, IntArray] = field(default_factory=dict)
    runs: dict[str, tuple[IntArray, IntArray]] = field(default_factory=dict)
    trail: dict[str, FloatArray] = field(default_factory=dict)

    def carried(self, name: str, values: FloatArray, keep: int) -> FloatArray:
        """``values`` (series × hours) after the trailing hours carried for ``name``; the last ``keep`` hours of
        both are carried on."""
        before = self.trail.get(name, np.empty((values.shape[0], 0)))
        joined = np.concatenate([before, values], axis=1)
        self.trail[name] = joined[:, max(0, joined.shape[1] - keep) :]
        return joined

    @classmethod
    def stacked(cls, parts: list[LabelState]) -> LabelState:
        """One state for the series of every part, one part after another (each part labelled over the same hours
        by the same rules)."""
        first = parts[0]
        labels = {name: np.concatenate([p.labels[name] for p in parts]) for name in first.labels}
        runs = {
            name: (
                np.concatenate([p.runs[name][0] for p in parts]),
                np.concatenate([p.runs[name][1] for p in parts]),
            )
            for name in first.runs
        }
        return cls(
            labels, runs, {name: np.concatenate([p.trail[name] for p in parts]) for name in first.trail}
        )


def _per_config(build: Callable[[SignalConfig], T]) -> Callable[[SignalConfig], T]:
    """``build(config)`` once per configuration object: the rules' polars expressions are immutable, and building
    them again for every call was a noticeable part of labelling the live radar's one hour."""
    memo: dict[int, tuple[weakref.ref[SignalConfig], T]] = {}

    def cached(config: SignalConfig) -> T:
        hit = memo.get(id(config))
        if hit is None or hit[0]() is not config:  # a new object (or one at a reused address)
            if len(memo) > 64:
                for key in [k for k, (ref, _) in memo.items() if ref() is None]:
                    del memo[key]
            hit = memo[id(config)] = (weakref.ref(config), build(config))
        return hit[1]

    return cached


def _array(frame: pl.DataFrame, column: str, shape: tuple[int, int]) -> FloatArray:
    """A column as a (series × hours) float array, NaN for null (numpy's conversion: a Series method costs a
    query each, most of the live radar's labelling of one hour)."""
    return np.asarray(frame[column].to_numpy(), dtype=np.float64).reshape(shape)


def _column(name: str, values: FloatArray) -> pl.Series:
    """A (series × hours) array as a column, null for NaN."""
    return pl.Series(name, np.ascontiguousarray(values).ravel(), nan_to_null=True)


def _trailing(state: LabelState, name: str, values: FloatArray, hours: int, highest: bool) -> FloatArray:
    """The highest (else lowest) value of each hour and the ``hours - 1`` before it (NaN skipped), the carried
    hours included: polars' rolling max/min with min_samples=1 over each series."""
    joined = state.carried(name, values, hours - 1)
    extreme = _loops.trailing_extreme(np.ascontiguousarray(joined), hours, highest)
    return extreme[:, joined.shape[1] - values.shape[1] :]


def _lagged(state: LabelState, name: str, values: FloatArray, hours: int) -> FloatArray:
    """Each hour's value ``hours`` earlier in its series (NaN before the first), the carried hours included."""
    joined = state.carried(name, values, hours)
    out = np.full(values.shape, np.nan)
    first = joined.shape[1] - values.shape[1]  # the frame's first hour in ``joined``
    start = max(0, hours - first)  # the first of the frame's hours with one that far back
    if start < values.shape[1]:
        out[:, start:] = joined[:, first + start - hours : joined.shape[1] - hours]
    return out


def _regime(
    frame: pl.DataFrame,
    metric: str,
    spec_name: str,
    config: SignalConfig,
    shape: tuple[int, int],
    state: LabelState,
) -> pl.DataFrame:
    spec = config.regime(spec_name)
    values = _array(frame, metric, shape)
    codes = label_codes(values, spec, state.labels.setdefault(spec_name, fresh_state(shape[0])))
    hours = frame["hour_index"].to_numpy().reshape(shape).astype(np.int64)
    side = sides(codes, spec)
    before = state.runs.get(spec_name, (np.full(shape[0], NO_RUN), np.zeros(shape[0], dtype=np.int64)))
    held = run_hours(side, hours, before)
    state.runs[spec_name] = (side[:, -1].copy(), held[:, -1].copy())
    return add_columns(
        frame,
        label_series(f"{spec_name}_regime", codes, spec.labels),
        # persistence: how long the label's side has held (escalating Negative → Deep Negative continues it)
        pl.Series(f"{spec_name}_regime_h", held.ravel(), dtype=pl.Int64),
    )


def _unit(expr: pl.Expr, sat: float) -> pl.Expr:
    """A z-score as 0..1 for level-type components: z = 0 → 0.5, z = ±sat → 1 / 0."""
    return (0.5 + expr / (2 * sat)).clip(0.0, 1.0)


def _soft(z: pl.Expr, sat: float) -> pl.Expr:
    """|z| as 0..1 without a ceiling: |z| / (|z| + sat) — half at |z| = sat, 0.75 at 3·sat — so a reading far past
    its usual range still ranks above one just past it, and the component falls as soon as |z| does."""
    return z.abs() / (z.abs() + sat)


def _weighted(
    frame: pl.DataFrame, name: str, components: dict[str, pl.Expr], weights: dict[str, float]
) -> pl.Series:
    """Weighted mean of the components that are available (weights renormalised), 0..100; null where none is.
    In numpy: as one polars expression its plan cost ~0.8 ms a call, most of scoring the live radar's hour."""
    select = frame.select_seq if frame.height <= SMALL_ROWS else frame.select  # as add_columns does
    parts = select(**{k: components[k] for k in weights})
    terms, used = [], []
    for k, w in weights.items():
        c = np.asarray(parts[k].to_numpy(), dtype=np.float64)  # null and NaN alike: not available
        valid = ~np.isnan(c)
        terms.append(np.where(valid, c * w, 0.0))
        used.append(np.where(valid, w, 0.0))
    num, den = _halves_sum(terms), _halves_sum(used)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(den > 0, 100.0 * num / den, np.nan)
    return pl.Series(name, mean, nan_to_null=True)


def _halves_sum(terms: list[FloatArray]) -> FloatArray:
    """The sum of the arrays, the first half's added to the second's, recursively (the order polars'
    ``sum_horizontal`` adds in: the scores of earlier releases, to the bit)."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return _halves_sum(terms[:mid]) + _halves_sum(terms[mid:])


@_per_config
def _metrics(config: SignalConfig) -> dict[str, pl.Expr]:
    """The regimes' metrics. Funding: its z-score, gated by sign (at or below zero never Positive, at or above the
    default never Negative); OI: the 24h OI change's z (the change every row shows beside the label); volatility:
    ln(rv_24h / rv_7d)."""
    default = float(config.section("funding")["default_rate_8h"])
    fz = pl.col("rate_8h_z")
    fz = pl.when(pl.col("rate_8h") <= 0).then(pl.min_horizontal(fz, 0.0)).otherwise(fz)
    fz = pl.when(pl.col("rate_8h") >= default).then(pl.max_horizontal(fz, 0.0)).otherwise(fz)
    return {
        "funding_metric": fz,
        "oi_metric": pl.col("oi_roc_24h_z"),
        "vol_metric": (pl.col("rv_24h") / pl.col("rv_7d")).log(),
    }


def evaluate(
    frame: pl.DataFrame, config: SignalConfig, shape: tuple[int, int], state: LabelState | None = None
) -> pl.DataFrame:
    """Label and score every row of a (series × hours) frame sorted by ``key``, ``t``: every series has a row at
    every hour. Labels start at the frame's first hour; with ``state`` they carry on from the hours it holds (the
    live radar labels its new hour alone), and it is left at the frame's last hour."""
    state = state if state is not None else LabelState()
    out = add_columns(frame, **_metrics(config))
    out = _regime(out, "funding_metric", "funding", config, shape, state)
    out = _regime(out, "oi_metric", "oi", config, shape, state)
    out = _regime(out, "vol_metric", "volatility", config, shape, state)
    out = out.rename({"volatility_regime": "vol_regime", "volatility_regime_h": "vol_regime_h"})
    out = _with_trailing(out, config, shape, state)
    out = add_columns(out, quadrant=_QUADRANT, deleveraging=_deleveraging(config))
    stay = int(config.value("labels", "min_dwell_hours"))
    out = _steady(out, "quadrant", shape, stay, sorted(QUADRANTS.values()), state)
    # an alarm enters at once
    out = _steady(out, "deleveraging", shape, stay, list(DELEVERAGING), state, immediate=("flushing",))
    out = _scores(out, config)
    out = _setups(out, config, shape, stay, state)
    out = _contradiction_flags(out, config)
    return out[[c for c in out.columns if c not in TRAILING]]  # a getitem: drop() runs a query


TRAILING = (
    "_flushed_lately",
    "_long_book_high",
    "_ret_24h_z_low",
    "_funding_metric_24h_ago",
    "_rate_8h_24h_ago",
)


def _with_trailing(
    frame: pl.DataFrame, config: SignalConfig, shape: tuple[int, int], state: LabelState
) -> pl.DataFrame:
    """What the rules read of the hours before (each series' own, the carried hours included): a flush within
    ``post_flush_hours``, the long book's high and the 24h return's lowest z within ``dump_hours``, the funding
    metric and rate 24 hours earlier."""
    dele, setups = config.section("deleveraging"), config.section("setups")
    flushing = (_array(frame, "oi_roc_24h_z", shape) <= float(dele["flush_z"])).astype(np.float64)
    flushed = _trailing(state, "flushing", flushing, int(dele["post_flush_hours"]) + 1, True)
    dump = int(setups["dump_hours"]) + 1
    book = _trailing(state, "liq_long_book_usd", _array(frame, "liq_long_book_usd", shape), dump, True)
    ret_low = _trailing(state, "ret_24h_z", _array(frame, "ret_24h_z", shape), dump, False)
    metric_then = _lagged(state, "funding_metric", _array(frame, "funding_metric", shape), 24)
    rate_then = _lagged(state, "rate_8h", _array(frame, "rate_8h", shape), 24)
    return add_columns(
        frame,
        pl.Series("_flushed_lately", flushed.ravel() > 0),
        _column("_long_book_high", book),
        _column("_ret_24h_z_low", ret_low),
        _column("_funding_metric_24h_ago", metric_then),
        _column("_rate_8h_24h_ago", rate_then),
    )


@lru_cache(maxsize=16)
def _enum(categories: tuple[str, ...]) -> pl.Enum:
    return pl.Enum(list(categories))


def _steady(
    frame: pl.DataFrame,
    column: str,
    shape: tuple[int, int],
    stay: int,
    categories: list[str],
    state: LabelState,
    immediate: tuple[str, ...] = (),
) -> pl.DataFrame:
    """``column`` (one of ``categories``) with a minimum dwell: a new value must hold ``stay`` hours running
    before it replaces the current one (regimes.dwell), except the ``immediate`` values, entered at once; null
    stays null."""
    physical = frame[column].cast(_enum(tuple(categories))).to_physical().to_numpy()  # NaN for null
    codes = np.where(np.isnan(physical), MISSING, physical).astype(np.int64)
    carry = state.labels.setdefault(column, fresh_state(shape[0]))
    steady = dwell(codes.reshape(shape), stay, [categories.index(v) for v in immediate], carry)
    return add_columns(frame, label_series(column, steady, categories))


def _quadrant() -> pl.Expr:
    up, building = pl.col("ret_24h") > 0, pl.col("oi_roc_24h") > 0
    expr = pl.lit(None, pl.String)
    for (price_up, oi_up), name in QUADRANTS.items():
        expr = pl.when((up == price_up) & (building == oi_up)).then(pl.lit(name)).otherwise(expr)
    return pl.when(pl.col("ret_24h").is_null() | pl.col("oi_roc_24h").is_null()).then(None).otherwise(expr)


_QUADRANT = _quadrant()


@_per_config
def _deleveraging(config: SignalConfig) -> pl.Expr:
    cfg = config.section("deleveraging")
    z24 = pl.col("oi_roc_24h_z")
    flushing = (z24 <= float(cfg["flush_z"])).eq_missing(True)
    return (
        pl.when(flushing)
        .then(pl.lit("flushing"))
        .when(z24 >= float(cfg["building_z"]))
        .then(pl.lit("building"))
        .when(pl.col("_flushed_lately"))
        .then(pl.lit("post-flush"))
        .when(z24.is_null())
        .then(None)
        .otherwise(pl.lit("stable"))
    )


@dataclass(frozen=True)
class _ScoreRules:
    components: dict[str, pl.Expr]  # crowding and the 0..1 components, from the z-scores
    fragility: tuple[dict[str, pl.Expr], dict[str, float]]  # its components and weights
    lsi: tuple[dict[str, pl.Expr], dict[str, float]]
    squeeze: dict[str, pl.Expr]


@_per_config
def _score_rules(config: SignalConfig) -> _ScoreRules:
    sc = config.section("scores")
    sat = float(sc["z_saturation"])
    f = (pl.col("funding_metric") / sat).clip(-1.0, 1.0)
    oi_build = (pl.col("oi_roc_24h_z") / sat).clip(0.0, 1.0)
    crowding = 100.0 * (
        sc["crowding_funding_weight"] * f + sc["crowding_oi_weight"] * oi_build.fill_null(0.0) * f.sign()
    )
    components = {
        "crowding": crowding.clip(-100.0, 100.0),
        "c_oi_build": oi_build,
        "c_oi_level": _unit(pl.col("oi_usd_z"), sat),
        "c_vol_compression": (-pl.col("rv_24h_z") / sat).clip(0.0, 1.0),
        "c_funding_stress": _soft(pl.col("funding_metric"), sat),
        "c_oi_change": _soft(pl.col("oi_roc_24h_z"), sat),  # a collapse is stress as much as a build-up
        "c_volatility": _unit(pl.col("rv_24h_z"), sat),
        # from the heatmap (scan hour)
        "c_liquidation_proximity": pl.col("c_liquidation_proximity").cast(pl.Float64),
    }
    fragility = {
        "crowding": pl.col("crowding").abs() / 100.0,
        "oi_build": pl.col("c_oi_build"),
        "oi_level": pl.col("c_oi_level"),
        "liquidation_proximity": pl.col("c_liquidation_proximity"),
        "vol_compression": pl.col("c_vol_compression"),
    }
    frag_w = {k: float(v) for k, v in sc["fragility_weights"].items()}
    lsi_w = {k: float(v) for k, v in config.value("lsi", "weights").items()}
    long_share = (0.5 + pl.col("crowding") / 200.0).clip(0.0, 1.0)
    return _ScoreRules(
        components,
        (fragility, frag_w),
        ({k: pl.col(f"c_{k}") for k in lsi_w}, lsi_w),
        {
            "squeeze_long": pl.col("fragility") * long_share,
            "squeeze_short": pl.col("fragility") * (1.0 - long_share),
        },
    )


def _scores(frame: pl.DataFrame, config: SignalConfig) -> pl.DataFrame:
    rules = _score_rules(config)
    out = add_columns(frame, **rules.components)
    fragility = _weighted(out, "fragility", *rules.fragility)
    lsi = _weighted(out, "lsi", *rules.lsi)
    return add_columns(add_columns(out, fragility, lsi), **rules.squeeze)


def in_daily_vols(distance_pct: pl.Expr, rv_24h: pl.Expr | None = None) -> pl.Expr:
    """A pocket's distance (in % of price) in daily realised vols (``rv_24h``, annualised, / sqrt(365))."""
    rv = pl.col("rv_24h") if rv_24h is None else rv_24h
    return distance_pct.abs() / 100.0 / (rv / math.sqrt(365.0))


def _one_of(column: str, values: list[str]) -> pl.Expr:
    """``column`` is one of ``values`` (null where it is null), as ``is_in`` says: written as equalities, because
    ``is_in`` takes its list in again at every evaluation (~0.14 ms each on the live radar's few hundred rows)."""
    return reduce(operator.or_, (pl.col(column) == v for v in values))


def setup_conditions(config: SignalConfig) -> dict[str, list[pl.Expr]]:
    """The conditions of setups A–D (PRODUCT.md §7); a setup holds when all of its conditions hold. A missing
    input (no modelled pocket, no history) fails its condition: no setup is claimed without its evidence. C reads
    ``_ret_24h_z_low``, the lowest 24h-return z of the hour and the ``dump_hours`` before (evaluate adds it)."""
    st = config.section("setups")
    default = float(config.value("funding", "default_rate_8h"))
    strong, near = float(st["strong_funding_z"]), float(st["cluster_within_vol"])
    persistent = pl.col("funding_regime_h") >= int(st["persistence_hours"])
    oi_fast = pl.col("oi_regime") == "Rising Fast"
    dumped = pl.col("_ret_24h_z_low") <= float(st["dump_z"])  # its lowest within dump_hours
    return {
        "A": [
            (pl.col("funding_metric") >= strong) & (pl.col("rate_8h") > default),
            _one_of("funding_regime", ["Positive", "Extreme Positive"]) & persistent,
            oi_fast,
            in_daily_vols(pl.col("liq_below_pct")) <= near,
        ],
        "B": [
            (pl.col("funding_metric") <= -strong) & (pl.col("rate_8h") < 0),
            _one_of("funding_regime", ["Negative", "Deep Negative"]) & persistent,
            oi_fast,
            in_daily_vols(pl.col("liq_above_pct")) <= near,
        ],
        "C": [
            dumped,
            _one_of("deleveraging", ["flushing", "post-flush"]),
            pl.col("long_book_drawdown") >= float(st["consumed_share"]),
        ],
        "D": [
            pl.col("ret_24h_z") >= float(st["trend_z"]),
            _one_of("oi_regime", ["Stable", "Rising"]),
            (pl.col("rate_8h") > 0) & _one_of("funding_regime", ["Neutral", "Positive"]),
            pl.col("deleveraging") != "flushing",
            pl.col("liq_distance_vol") > float(st["clear_beyond_vol"]),
        ],
    }


@dataclass(frozen=True)
class _SetupRules:
    drawdown: pl.Expr  # clusters consumed: the long book against its high within dump_hours
    setup: pl.Expr  # the first setup whose conditions all hold, else NO_SETUP
    kept: pl.Expr  # the dwelling setup unless its sign contradicts it
    tag: pl.Expr


@_per_config
def _setup_rules(config: SignalConfig) -> _SetupRules:
    conditions = setup_conditions(config)
    setup = pl.lit(None, pl.String)
    for name in reversed(SETUP_PRECEDENCE):
        holds = pl.all_horizontal([c.eq_missing(True) for c in conditions[name]])
        setup = pl.when(holds).then(pl.lit(name)).otherwise(setup)
    # a dwelling setup never outlives its sign: crowded longs need funding above zero, crowded shorts below, a
    # trend up needs price up and funding above zero
    contradicted = (
        ((pl.col("setup") == "A") & (pl.col("rate_8h") <= 0))
        | ((pl.col("setup") == "B") & (pl.col("rate_8h") >= 0))
        | ((pl.col("setup") == "D") & ((pl.col("rate_8h") <= 0) | (pl.col("ret_24h") <= 0)))
    ).fill_null(True)
    return _SetupRules(
        1.0 - pl.col("liq_long_book_usd") / pl.col("_long_book_high"),
        setup.fill_null(pl.lit(NO_SETUP)),
        pl.when((pl.col("setup") != NO_SETUP) & ~contradicted).then(pl.col("setup")),
        pl.col("setup").replace_strict(SETUP_TAGS, default=NEUTRAL_TAG, return_dtype=pl.String),
    )


def _setups(
    frame: pl.DataFrame, config: SignalConfig, shape: tuple[int, int], stay: int, state: LabelState
) -> pl.DataFrame:
    rules = _setup_rules(config)
    frame = add_columns(frame, long_book_drawdown=rules.drawdown)
    out = _steady(
        add_columns(frame, setup=rules.setup),
        "setup",
        shape,
        stay,
        sorted([*SETUP_PRECEDENCE, NO_SETUP]),
        state,
    )
    return add_columns(add_columns(out, setup=rules.kept), tag=rules.tag)


@_per_config
def _flag_rules(config: SignalConfig) -> dict[str, pl.Expr]:
    c = config.section("contradictions")
    oi_falling = _one_of("oi_regime", ["Falling", "Falling Fast"])
    funding_rise = pl.col("funding_metric") - pl.col("_funding_metric_24h_ago")
    return {
        "x_extreme_funding_oi_falling": (pl.col("funding_regime") == "Extreme Positive") & oi_falling,
        "x_stealth_build": (pl.col("oi_regime") == "Rising Fast") & (pl.col("funding_regime") == "Neutral"),
        # Very Near only: Near or closer holds half of all hours (docs/signals.md §6), a spring needs a pocket at hand
        "x_coiled_spring": (pl.col("liq_proximity") == "Very Near") & (pl.col("vol_regime") == "Contracting"),
        # a big move with flat OI reads spot-led — never while OI or the deleveraging state say leverage is flushing
        "x_spot_led_move": (pl.col("ret_24h_z").abs() >= float(c["breakout_z"]))
        & (pl.col("oi_roc_24h_z").abs() < float(c["flat_oi_z"]))
        & _one_of("deleveraging", ["flushing", "post-flush"]).ne_missing(True)
        & oi_falling.ne_missing(True),
        "x_funding_up_oi_down": (funding_rise >= float(c["funding_rise_z"])) & oi_falling,
        # divergent only when unusual for the asset AND material in itself
        "x_venue_divergence": (pl.col("funding_dispersion_8h_z") >= float(c["dispersion_z"]))
        & (pl.col("funding_dispersion_8h") >= float(c["dispersion_min_8h"])),
        "funding_rate_8h_24h_ago": pl.col("_rate_8h_24h_ago"),
    }


def _contradiction_flags(frame: pl.DataFrame, config: SignalConfig) -> pl.DataFrame:
    out = add_columns(frame, **_flag_rules(config))
    flags = [col for col in out.columns if col.startswith("x_")]
    out = add_columns(out, [pl.col(f).eq_missing(True) for f in flags])
    out = add_columns(out, contradiction_count=pl.sum_horizontal([pl.col(f).cast(pl.Int32) for f in flags]))
    return add_columns(out, tradeability=_tradeability(config))


@_per_config
def _tradeability(config: SignalConfig) -> pl.Expr:
    """Clean setup vs noise: a clear trend, a classified setup, no contradictions, volatility not extreme."""
    sat = float(config.value("scores", "z_saturation"))
    trend = (pl.col("ret_24h_z").abs() / sat).clip(0.0, 1.0)
    has_setup = pl.col("setup").is_not_null().cast(pl.Float64)
    clean = 1.0 - (pl.col("contradiction_count").clip(0, 3) / 3.0)
    calm = 1.0 - ((pl.col("rv_24h_z") - 1.0) / sat).clip(0.0, 1.0)
    parts = [trend.fill_null(0.0), has_setup, clean, calm.fill_null(0.5)]
    return 100.0 * pl.mean_horizontal(parts)
