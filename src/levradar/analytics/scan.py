"""The radar scan: every asset (venues aggregated) and every market, as of any instant, point-in-time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from levradar.analytics import explain
from levradar.analytics.baseline import make_grid, robust_baselines
from levradar.analytics.config import SignalConfig, load_config
from levradar.analytics.coverage import choose_as_of, row_coverage
from levradar.analytics.heatmap import load_heatmap_config
from levradar.analytics.models import RULES, apply_registry, load_registry
from levradar.analytics.proximity import HOUR_COLUMNS, BookCache, anchor, hourly_reads
from levradar.analytics.series import asset_frame, load_markets, with_price_features
from levradar.analytics.signals import LABEL_FAMILIES, evaluate
from levradar.analytics.venues import AssetHours, VenueRule, with_funding_weights
from levradar.domain.symbols import unified_symbol
from levradar.store import Store

FEATURE_MARGIN = timedelta(days=8)
LIQUIDATION_UNAVAILABLE = (
    "unavailable: no venue with open interest has a 1h bar at this hour (the model steps hour by hour), "
    "or no pocket exists"
)


@dataclass(frozen=True)
class Evaluated:
    """Labelled hourly rows for assets and for markets over the label window, plus last-hour percentiles."""

    as_of: datetime
    assets: pl.DataFrame
    markets: pl.DataFrame
    config: SignalConfig
    liquidation: dict[str, dict[str, Any]] = field(default_factory=dict)  # per asset, at the scan's hour
    recent_markets: pl.DataFrame = field(default_factory=pl.DataFrame)  # market rows of the label window


def floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def newest_time(store: Store, config: SignalConfig | None = None) -> datetime | None:
    """The default 'now' of a store: the newest hour at which the main venues of every asset have a closed bar
    (analytics/coverage.py); None when the store holds no bars."""
    return choose_as_of(store, config or load_config()).as_of


def evaluate_store(
    store: Store,
    as_of: datetime,
    assets: Sequence[str] | None = None,
    config: SignalConfig | None = None,
    label_hours: int | None = None,
    liquidation: bool = True,
    models: bool = True,
    books: BookCache | None = None,
) -> Evaluated:
    """Features, regimes and scores for the hours ``(as_of - label_hours, as_of]`` of every asset and market;
    with ``liquidation``, the heatmap model's proximity at every hour (see evaluate_frames); with ``models``, each
    hour's squeeze scores come from the saved model valid at that hour where one qualified (analytics/models.py),
    else they stay rule-based."""
    cfg = config or load_config()
    end = floor_hour(as_of)
    labels = label_hours if label_hours is not None else int(cfg.value("baseline", "label_window_days")) * 24
    window_days = int(cfg.value("baseline", "window_days"))
    start = end - timedelta(days=window_days, hours=labels + 24)
    # read a margin before the grid so every grid hour has its 24h lags and 7-day volatility, and far enough back
    # for the liquidation model's run behind the first labelled hour (analytics/proximity.py)
    first = anchor(end - timedelta(hours=labels), int(cfg.value("liquidation", "model_days")))
    markets = load_markets(store, min(start - FEATURE_MARGIN, first), end, assets)
    ev = evaluate_frames(markets, start, end, labels, cfg, liquidation, books)
    if not models or ev.assets.is_empty():
        return ev
    return replace(ev, assets=apply_registry(ev.assets, load_registry(store.data_dir)))


def evaluate_frames(
    markets: pl.DataFrame,
    start: datetime,
    end: datetime,
    label_hours: int,
    cfg: SignalConfig,
    liquidation: bool = True,
    books: BookCache | None = None,
) -> Evaluated:
    """Labels and scores over the label window; with ``liquidation``, the heatmap model's proximity at every hour
    of it (analytics/proximity.py; the live service's ``books`` keep runs and readings between calls) and the
    full liquidation reading at ``end``."""
    if markets.is_empty():
        return Evaluated(end, pl.DataFrame(), pl.DataFrame(), cfg)
    layout = AssetHours.of(markets)
    markets = with_funding_weights(markets, VenueRule.from_config(cfg), layout)
    recent = markets.filter(pl.col("t") > end - timedelta(hours=label_hours + 1))
    single = layout.n_markets == len(layout.assets)
    with ThreadPoolExecutor(1) as pool:
        # the market level in a second thread beside the asset level and the model (polars, numpy and the compiled
        # loops release the GIL while they work)
        market_level = (
            None
            if single
            else pool.submit(
                lambda: _evaluate_level(with_price_features(markets), start, end, label_hours, cfg, False)
            )
        )
        assets = with_price_features(asset_frame(markets, layout=layout))
        overlay: dict[str, dict[str, Any]] = {}
        reads = None
        if liquidation:
            hours = [end - timedelta(hours=k) for k in range(label_hours, -1, -1)]
            rv = assets.filter(pl.col("t") >= hours[0]).select("asset", "t", "rv_24h")
            reads, overlay = hourly_reads(markets, hours, rv, cfg, load_heatmap_config(), books)
            if books is not None:
                books.forget_before(hours[0])  # a live service keeps its label window's readings only
        by_asset = _evaluate_level(assets, start, end, label_hours, cfg, True, reads)
        by_market = None if market_level is None else market_level.result()
    if by_market is None:
        # one market per asset: the market's read is the asset's (no second pass over the same series)
        venue_of = markets.select("asset", "venue", "symbol").unique()
        by_market = by_asset.drop("venue", "symbol", strict=False).join(venue_of, on="asset", how="left")
        by_market = by_market.with_columns(key=pl.concat_str("venue", pl.lit(":"), "symbol"))
    return Evaluated(end, by_asset, by_market, cfg, overlay, recent)


def level_metrics(cfg: SignalConfig, is_asset: bool) -> dict[str, float]:
    """The metrics normalised against their own history, with their floors."""
    metrics = {
        "rate_8h": cfg.floor("funding_rate_8h"),
        "oi_roc_4h": cfg.floor("oi_roc_4h"),
        "oi_roc_24h": cfg.floor("oi_roc_24h"),
        "ret_24h": cfg.floor("ret_24h"),
        "rv_24h": cfg.floor("rv_24h"),
        "log_oi_usd": 0.01,
    }
    if is_asset:
        metrics["funding_dispersion_8h"] = cfg.floor("funding_dispersion_8h")
    return metrics


def level_input(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(log_oi_usd=pl.col("oi_usd").log())
    if "funding_dispersion_8h" not in frame.columns:
        frame = frame.with_columns(funding_dispersion_8h=pl.lit(None, pl.Float64))
    return frame


def with_z(rows: pl.DataFrame, z: dict[str, np.ndarray], is_asset: bool) -> pl.DataFrame:
    """Label-window rows (key-major, hour-minor) with their z-scores and the columns evaluate() expects."""
    # numpy's NaN (no history, no value) becomes a null: NaN would compare True in polars (NaN >= x)
    names = {"log_oi_usd": "oi_usd_z"}
    zs = [pl.Series(names.get(m, f"{m}_z"), z[m].ravel(), nan_to_null=True) for m in z]
    none = {**({} if is_asset else {"funding_dispersion_8h_z": pl.Float64}), **HOUR_COLUMNS}
    return rows.with_columns(*zs, *(pl.lit(None, dtype).alias(name) for name, dtype in none.items()))


PERCENTILES = ("rate_8h_pct_90d", "oi_usd_pct_90d", "rv_24h_pct_90d")  # the last hour's, against 90 days


def finish(out: pl.DataFrame, keys: list[str], pct: dict[str, np.ndarray], end: datetime) -> pl.DataFrame:
    """Attach the last hour's percentiles and drop hours without a price (``out``: every key of ``keys`` at every
    hour, by key then time)."""
    hours = out.height // max(len(keys), 1)
    by_row = {
        "rate_8h_pct_90d": pct["rate_8h"],
        "oi_usd_pct_90d": pct["log_oi_usd"],
        "rv_24h_pct_90d": pct["rv_24h"],
    }
    out = out.with_columns(
        pl.Series(name, np.repeat(np.asarray(v, dtype=np.float64), hours)) for name, v in by_row.items()
    )
    at_end = pl.col("t") == end  # one literal for the three columns (an aware datetime converts slowly)
    out = out.with_columns(pl.when(at_end).then(pl.col(c)).alias(c) for c in PERCENTILES)
    return out.filter(pl.col("close").is_not_null())


def _evaluate_level(
    frame: pl.DataFrame,
    start: datetime,
    end: datetime,
    label_hours: int,
    cfg: SignalConfig,
    is_asset: bool,
    reads: pl.DataFrame | None = None,
) -> pl.DataFrame:
    grid = make_grid(level_input(frame), start, end)
    metrics = level_metrics(cfg, is_asset)
    base = robust_baselines(
        grid,
        metrics,
        label_hours=label_hours,
        window_days=int(cfg.value("baseline", "window_days")),
        min_history_days=int(cfg.value("baseline", "min_history_days")),
    )
    n_labels = label_hours + 1
    rows = with_z(
        grid.tail(n_labels).with_columns(hour_index=pl.int_range(pl.len()).over("key")), base.z, is_asset
    )
    if reads is not None:
        rows = with_reads(rows, reads)
    out = evaluate(rows, cfg, (len(grid.keys), n_labels))
    return finish(out, grid.keys, base.pct_last, end)


def with_reads(rows: pl.DataFrame, reads: pl.DataFrame) -> pl.DataFrame:
    """Each asset hour's liquidation proximity (analytics/proximity.py) on its row; hours without one stay null."""
    joined = rows.drop(HOUR_COLUMNS).join(
        reads.rename({"asset": "key"}), on=["key", "t"], how="left", maintain_order="left"
    )
    return joined.select(rows.columns)


def _num(value: Any, digits: int = 8) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return round(float(value), digits)


def _funding_json(r: dict[str, Any]) -> dict[str, Any]:
    """Funding of one scan row (a market or an asset) as the JSON reports it."""
    return {
        "rate_8h": _num(r["rate_8h"], 10),
        "apr": _num(r["apr"]),
        "pct_90d": _num(r["rate_8h_pct_90d"], 4),
        "z": _num(r["funding_metric"], 3),
        "regime": r["funding_regime"],
        "persistence_h": r["funding_regime_h"] if r["funding_regime"] else None,
    }


WEIGHTING = {
    "oi": "by one-sided open interest in USD (every quoting venue has OI)",
    "volume": "by trailing 24h traded USD (not every quoting venue has OI)",
    "equal": "equally (neither OI nor traded USD for every quoting venue)",
}


def _weighting(r: dict[str, Any], venues: list[dict[str, Any]]) -> dict[str, Any]:
    """How the asset's funding was combined from its venues at this hour (analytics/venues.py)."""
    quoting = [v for v in venues if v["funding"]["rate_8h"] is not None]
    basis = r.get("funding_basis") or ("equal" if len(quoting) == 1 else None)
    return {
        "basis": basis,
        "rule": WEIGHTING.get(basis or "", "no venue quotes funding")
        + "; outliers capped (docs/signals.md §1)",
        "weights": {v["venue"]: v["funding"]["weight"] for v in quoting},
        "outliers": [v["venue"] for v in quoting if v["funding"]["outlier"]],
    }


def _liquidation(overlay: dict[str, Any] | None) -> dict[str, Any]:
    if overlay is None:
        return {
            "proximity": None,
            "nearest_above": None,
            "nearest_below": None,
            "status": LIQUIDATION_UNAVAILABLE,
        }
    return {**overlay, "status": "modelled (docs/heatmap.md)"}


def _transitions(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per key, each label family's last change in the window (from, to, when, why), families in order."""
    frame = frame.sort("key", "t")
    out: dict[str, list[dict[str, Any]]] = {}
    for family in LABEL_FAMILIES:
        now, before = pl.col(family), pl.col("_from")
        changed = frame.with_columns(_from=now.shift(1).over("key")).filter(
            (now != before).fill_null(now.is_null() != before.is_null()) & before.is_not_null()
        )
        for r in changed.group_by("key", maintain_order=True).last().iter_rows(named=True):
            out.setdefault(r["key"], []).append(
                {
                    "label": family,
                    "from": r["_from"],
                    "to": r[family],
                    "at": r["t"],
                    "why": explain.why(family, r),
                }
            )
    return out


def _venue_breakdown(markets: pl.DataFrame, asset: str, as_of: datetime) -> list[dict[str, Any]]:
    rows = markets.filter((pl.col("asset") == asset) & (pl.col("t") == as_of)).sort("venue")
    total = rows["oi_usd"].sum() if not rows.is_empty() else 0.0
    out = []
    for r in rows.iter_rows(named=True):
        out.append(
            {
                "venue": r["venue"],
                "symbol": r["symbol"],
                "symbol_unified": unified_symbol(r["venue"], r["symbol"]),
                "price": _num(r["close"]),
                "funding": {
                    **_funding_json(r),
                    "weight": _num(r.get("funding_weight", 1.0 if r["rate_8h"] is not None else None), 4),
                    "spread_8h": _num(r.get("funding_spread_8h"), 10),
                    "spread_z": _num(r.get("funding_spread_z"), 2),
                    "outlier": r.get("funding_outlier"),
                    "counted_8h": _num(r.get("funding_counted_8h", r["rate_8h"]), 10),
                },
                "oi": {
                    "usd": _num(r["oi_usd"], 0),
                    "share": _num(r["oi_usd"] / total, 4) if r["oi_usd"] and total else None,
                    "roc_4h": _num(r["oi_roc_4h"]),
                    "roc_24h": _num(r["oi_roc_24h"]),
                    "regime": r["oi_regime"],
                },
                "quadrant": r["quadrant"],
                "tag": r["tag"],
            }
        )
    return out


def asset_reads(ev: Evaluated) -> list[dict[str, Any]]:
    """The scan's JSON, one object per asset (names other tools rely on; see docs/signals.md)."""
    if ev.assets.is_empty():
        return []
    latest = ev.assets.sort("t").group_by("key", maintain_order=True).last().sort("key")
    transitions = _transitions(ev.assets)
    share = float(ev.config.value("aggregation", "main_share"))
    reads = []
    for r in latest.iter_rows(named=True):
        venues = _venue_breakdown(ev.markets, r["asset"], r["t"])
        shares = [v["oi"]["share"] for v in venues if v["oi"]["share"]]
        rv_day = (r["rv_24h"] or float("nan")) / math.sqrt(365.0)
        reads.append(
            {
                "asset": r["asset"],
                "as_of": ev.as_of,
                "data_time": r["t"],
                "coverage": row_coverage(ev.recent_markets, r["asset"], ev.as_of, r["t"], share),
                "price": _num(r["close"]),
                "price_venue": r["price_venue"],
                "returns": {
                    "ret_4h": _num(r["ret_4h"]),
                    "ret_24h": _num(r["ret_24h"]),
                    "z_24h": _num(r["ret_24h_z"], 3),
                },
                "funding": {
                    **_funding_json(r),
                    "dispersion_8h": _num(r["funding_dispersion_8h"], 10),
                    "weighting": _weighting(r, venues),
                },
                "oi": {
                    "usd": _num(r["oi_usd"], 0),
                    "roc_4h": _num(r["oi_roc_4h"]),
                    "roc_24h": _num(r["oi_roc_24h"]),
                    "z": _num(r["oi_metric"], 3),
                    "regime": r["oi_regime"],
                    "pct_90d": _num(r["oi_usd_pct_90d"], 4),
                    "vs_volatility": _num((r["oi_roc_24h"] or float("nan")) / rv_day, 3) if rv_day else None,
                    "concentration_hhi": _num(float(np.sum(np.square(shares))), 4) if shares else None,
                    "top_venue_share": _num(max(shares), 4) if shares else None,
                },
                "volatility": {
                    "rv_24h": _num(r["rv_24h"], 4),
                    "rv_7d": _num(r["rv_7d"], 4),
                    "pct_90d": _num(r["rv_24h_pct_90d"], 4),
                    "regime": r["vol_regime"],
                },
                "quadrant": r["quadrant"],
                "liquidation": _liquidation(ev.liquidation.get(r["asset"])),
                "scores": {
                    "crowding": _num(r["crowding"], 1),
                    "fragility": _num(r["fragility"], 1),
                    "squeeze_long": _num(r["squeeze_long"], 1),
                    "squeeze_short": _num(r["squeeze_short"], 1),
                    "squeeze_model": r.get("squeeze_model") or RULES,
                    "deleveraging": r["deleveraging"],
                    "tradeability": _num(r["tradeability"], 1),
                    "lsi": _num(r["lsi"], 1),
                    "lsi_components": explain.lsi_components(r, ev.config),
                },
                "setup": r["setup"],
                "tag": r["tag"],
                "evidence": explain.evidence(r),
                "playbook": explain.playbook(r["setup"]),
                "contradictions": explain.contradictions(r),
                "transitions": transitions.get(r["key"], []),
                "venues": venues,
                "config": ev.config.digest,
            }
        )
    return sorted(reads, key=lambda x: -(x["scores"]["lsi"] or -1.0))


def scan(
    store: Store,
    as_of: datetime,
    assets: Sequence[str] | None = None,
    config: SignalConfig | None = None,
    liquidation: bool = True,
    books: BookCache | None = None,
) -> list[dict[str, Any]]:
    """The radar read of every asset as of ``as_of`` (nothing stamped after it is used).

    Where ``levradar evaluate`` saved a probability model that beat the rule-based squeeze scores out of sample
    (``models/squeeze.json`` in the data directory), squeeze_long / squeeze_short are its probabilities (in %,
    within 24h) and ``squeeze_model`` names the model and its training window."""
    reads = asset_reads(evaluate_store(store, as_of, assets, config, liquidation=liquidation, books=books))
    return with_measured(store, with_venue_quotes(store, reads, as_of), as_of)


def with_measured(store: Store, reads: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """Each read's ``liquidation.measured``: per venue whose positions were measured in the 6 h up to ``as_of``,
    the nearest pockets of the real positions (docs/heatmap.md §6); an empty list where none were."""
    from levradar.analytics.heatmap import load_heatmap_config
    from levradar.analytics.measured import measured_readings

    assets = sorted({r["asset"] for r in reads})
    found = measured_readings(store, assets, as_of, load_heatmap_config()) if assets else {}
    for read in reads:
        read.setdefault("liquidation", {})["measured"] = found.get(read["asset"], [])
    return reads


QUOTE_MAX_AGE = timedelta(
    hours=2
)  # a predicted rate or a mark/index older than this at the hour is not shown


def with_venue_quotes(store: Store, reads: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """Each venue of each read with what its live feed said last, known at ``as_of`` and at most
    ``QUOTE_MAX_AGE`` old: ``funding.predicted`` (the rate quoted for the coming settlement, per 8h where its
    interval is known — from the message, else the venue's instrument list) and ``basis`` (mark over index − 1)."""
    assets = sorted({r["asset"] for r in reads})
    if not assets:
        return reads
    start = as_of - QUOTE_MAX_AGE
    known = {
        "predicted_funding": store.read("predicted_funding", assets=assets, start=start, as_of=as_of),
        # the newest mark that has its index beside it: a mark-only row (price panels) says nothing of basis
        "mark_index": store.read("mark_index", assets=assets, start=start, as_of=as_of).filter(
            pl.col("basis").is_not_null()
        ),
    }
    newest = {
        name: {
            (row["venue"], row["symbol"]): row
            for row in frame.sort("ts")
            .group_by("venue", "symbol", maintain_order=True)
            .last()
            .iter_rows(named=True)
        }
        for name, frame in known.items()
    }
    listed = {
        (row["venue"], row["symbol"]): row["funding_interval_hours"]
        for row in store.instruments().iter_rows(named=True)
        if row.get("funding_interval_hours")
    }
    for read in reads:
        for venue in read.get("venues", []):
            key = (venue["venue"], venue["symbol"])
            quote = newest["predicted_funding"].get(key)
            venue["funding"]["predicted"] = None if quote is None else _predicted(quote, listed.get(key))
            mark = newest["mark_index"].get(key)
            venue["basis"] = _num(mark["basis"], 6) if mark is not None else None
    return reads


def _predicted(quote: dict[str, Any], listed_hours: float | None) -> dict[str, Any]:
    hours, source = quote["interval_hours"], "message"
    if hours is None and listed_hours:
        hours, source = float(listed_hours), "instrument list"
    return {
        "rate": _num(quote["rate"], 10),
        "interval_hours": hours,
        "interval_source": source if hours else None,
        "rate_8h": _num(quote["rate"] / hours * 8.0, 10) if hours else None,
        "settles_at": quote["settles_at"],
        "quoted_at": quote["ts"],
    }


__all__ = [
    "QUOTE_MAX_AGE",
    "Evaluated",
    "asset_reads",
    "evaluate_frames",
    "evaluate_store",
    "newest_time",
    "scan",
    "with_measured",
    "with_venue_quotes",
]


def history(
    store: Store,
    asset: str,
    start: datetime,
    end: datetime,
    config: SignalConfig | None = None,
    models: bool = True,
) -> pl.DataFrame:
    """Hourly labels and scores of one asset between ``start`` and ``end`` (each hour as known then; squeeze
    scores from the saved model valid at each hour where one qualified, unless ``models`` is False). The regimes
    run over at least the scan's label window before ``end`` (a shorter history is not a cold start: its last
    hour reads as ``scan`` reads that hour)."""
    cfg = config or load_config()
    end_h, start_h = floor_hour(end), floor_hour(start)
    hours = int((end_h - start_h) / timedelta(hours=1))
    if hours < 0:
        raise ValueError("--from must not be after --to")
    window = int(cfg.value("baseline", "label_window_days")) * 24
    ev = evaluate_store(store, end_h, [asset], cfg, label_hours=max(hours, window), models=models)
    if ev.assets.is_empty():
        return pl.DataFrame()
    return ev.assets.filter(pl.col("t") >= start_h).select(
        "t",
        "asset",
        pl.col("close").alias("price"),
        "ret_24h",
        "ret_24h_z",
        "rate_8h",
        "apr",
        pl.col("funding_metric").alias("funding_z"),
        "funding_regime",
        pl.col("funding_regime_h").alias("funding_regime_hours"),
        "oi_usd",
        "oi_base",
        "oi_roc_4h",
        "oi_roc_24h",
        "oi_regime",
        "rv_24h",
        "rv_7d",
        "vol_regime",
        "quadrant",
        "deleveraging",
        "crowding",
        "fragility",
        "squeeze_long",
        "squeeze_short",
        "tradeability",
        "lsi",
        "setup",
        "tag",
        "long_book_drawdown",
        *HOUR_COLUMNS,  # the liquidation model's nearest pockets at each hour
        "contradiction_count",
        pl.selectors.starts_with("x_"),  # each contradiction's flag
    )


def screen(
    store: Store, as_of: datetime, assets: Sequence[str] | None = None, config: SignalConfig | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Most crowded, most fragile, highest squeeze risk — relative to the market and to each asset's own past.

    "vs market": the asset's score minus the median across assets now. "vs own history": the percentile of the
    score now among the asset's own hourly scores over the label window (30 days for the screen).
    """
    cfg = config or load_config()
    ev = evaluate_store(store, as_of, assets, cfg, label_hours=30 * 24)
    if ev.assets.is_empty():
        return {"most_crowded": [], "most_fragile": [], "highest_squeeze_risk": []}
    frame = ev.assets.with_columns(
        crowding_abs=pl.col("crowding").abs(),
        squeeze_max=pl.max_horizontal("squeeze_long", "squeeze_short"),
        squeeze_side=pl.when(pl.col("squeeze_long") >= pl.col("squeeze_short"))
        .then(pl.lit("long squeeze"))
        .otherwise(pl.lit("short squeeze")),
    )
    own = {
        score: frame.group_by("asset").agg(
            ((pl.col(score) < pl.col(score).sort_by("t").last()).mean()).alias("own_pct")
        )
        for score in ("crowding_abs", "fragility", "squeeze_max")
    }
    latest = frame.sort("t").group_by("asset", maintain_order=True).last()
    out: dict[str, list[dict[str, Any]]] = {}
    for name, score in (
        ("most_crowded", "crowding_abs"),
        ("most_fragile", "fragility"),
        ("highest_squeeze_risk", "squeeze_max"),
    ):
        ranked = (
            latest.join(own[score], on="asset")
            .with_columns(vs_market=pl.col(score) - pl.col(score).median())
            .sort(score, descending=True, nulls_last=True)
        )
        out[name] = [
            {
                "asset": r["asset"],
                "score": _num(r[score], 1),
                "crowding": _num(r["crowding"], 1),
                "side": r["squeeze_side"] if score == "squeeze_max" else None,
                "vs_market": _num(r["vs_market"], 1),
                "vs_own_history_pct": _num(r["own_pct"], 3),
                "tag": r["tag"],
            }
            for r in ranked.iter_rows(named=True)
        ]
    return out
