"""The liquidation heatmap of an asset: the model (``analytics.liqmodel``) run per venue and summed, its current map,
nearest dense pockets, cumulative forced flow and the book the scenarios use. See docs/heatmap.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.liqmodel import (
    Heatmap,
    HeatmapConfig,
    combine,
    load_heatmap_config,
    price_edges,
    simulate_market,
)
from levradar.analytics.scenario import Book, impact_per_usd
from levradar.analytics.series import load_markets
from levradar.store import Store

__all__ = [
    "AssetHeatmap",
    "Heatmap",
    "HeatmapConfig",
    "asset_heatmap",
    "book",
    "combine",
    "grid_json",
    "load_heatmap_config",
    "price_edges",
    "simulate_market",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]


CUMULATIVE_PCTS = (0.5, 1.0, 2.0, 5.0, 10.0)


def _pocket(
    usd: FloatArray,
    centers: FloatArray,
    tiers: FloatArray,
    leverage: FloatArray,
    price: float,
    above: bool,
    quantile: float,
) -> dict[str, object] | None:
    """The nearest dense pocket on one side: the contiguous run of dense buckets closest to the price."""
    side = centers > price if above else centers < price
    filled = usd[side & (usd > 0)]
    if filled.size == 0:
        return None
    threshold = float(np.quantile(filled, quantile))
    dense = side & (usd >= threshold) & (usd > 0)
    idx = np.flatnonzero(dense)
    if idx.size == 0:
        return None
    j = int(idx.min() if above else idx.max())
    run = [j]
    step = 1 if above else -1
    while 0 <= run[-1] + step < usd.size and dense[run[-1] + step]:
        run.append(run[-1] + step)
    run_arr = np.asarray(run)
    total = float(usd[run_arr].sum())
    weighted_price = float((centers[run_arr] * usd[run_arr]).sum() / total)
    by_tier = tiers[:, run_arr].sum(axis=1)
    tier_total = float(by_tier.sum())
    mix = (
        {f"~{lev:.0f}x": round(float(v) / tier_total, 4) for lev, v in zip(leverage, by_tier, strict=True)}
        if tier_total > 0
        else {}
    )
    return {
        "price": weighted_price,
        "distance_pct": (weighted_price / price - 1.0) * 100.0,
        "usd": total,
        "leverage_mix": mix,
        "threshold_usd": threshold,
    }


def row_price(m: Heatmap, row: int) -> float:
    """The close at grid row ``row`` (the last price for the last row)."""
    if row in (-1, len(m.times) - 1) or m.closes is None or np.isnan(m.closes[row]):
        return m.price
    return float(m.closes[row])


def summarize(m: Heatmap, cfg: HeatmapConfig, row: int = -1) -> dict[str, object]:
    """Current map of row ``row``: buckets near the price, nearest pockets, cumulative USD outward."""
    centers = m.centers
    long_usd, short_usd = m.long_usd[row], m.short_usd[row]
    price = row_price(m, row)
    last = row in (-1, len(m.times) - 1)
    # tier books exist for the last hour only: an earlier row's pockets come without a leverage mix
    long_tiers = m.long_tiers if last else np.zeros((m.leverage.size, centers.size))
    short_tiers = m.short_tiers if last else np.zeros((m.leverage.size, centers.size))
    near = np.abs(centers / price - 1.0) * 100.0 <= cfg.display_range_pct
    cumulative = {}
    for pct in CUMULATIVE_PCTS:
        down = (centers < price) & (centers >= price * (1 - pct / 100))
        up = (centers > price) & (centers <= price * (1 + pct / 100))
        cumulative[f"{pct:g}%"] = {
            "below_long_usd": float(long_usd[down].sum()),
            "above_short_usd": float(short_usd[up].sum()),
        }
    return {
        "price": price,
        "oi_usd": m.oi_usd,
        "buckets": [
            {"price": float(c), "long_usd": float(lu), "short_usd": float(su)}
            for c, lu, su in zip(centers[near], long_usd[near], short_usd[near], strict=True)
        ],
        "nearest_above": _pocket(
            short_usd, centers, short_tiers, m.leverage, price, True, cfg.pocket_quantile
        ),
        "nearest_below": _pocket(
            long_usd, centers, long_tiers, m.leverage, price, False, cfg.pocket_quantile
        ),
        "cumulative": cumulative,
        "total_long_usd": float(long_usd.sum()),
        "total_short_usd": float(short_usd.sum()),
    }


def grid_json(m: Heatmap, cfg: HeatmapConfig) -> dict[str, object]:
    """The price × time grid for JSON: every hour, the buckets within the display range of the period's prices."""
    closes = m.closes if m.closes is not None else np.array([m.price])
    lo = float(np.nanmin(closes)) * (1 - cfg.display_range_pct / 100)
    hi = float(np.nanmax(closes)) * (1 + cfg.display_range_pct / 100)
    keep = (m.centers >= lo) & (m.centers <= hi)
    return {
        "times": m.times,
        "prices": [float(p) for p in m.centers[keep]],
        "close": [None if np.isnan(c) else float(c) for c in closes],
        "long_usd": np.round(m.long_usd[:, keep], 2).tolist(),
        "short_usd": np.round(m.short_usd[:, keep], 2).tolist(),
    }


@dataclass(frozen=True)
class AssetHeatmap:
    map: Heatmap
    venues: list[str]  # venues whose modelled book makes up the current map (OI at its last hour)
    impact_per_usd: float | None  # price response to traded USD, for the cascade simulation
    skipped: dict[str, str] = field(default_factory=dict)  # venue -> why it is not in the current map


def asset_heatmap(
    store: Store, asset: str, as_of: datetime, *, days: int, venue: str | None, cfg: HeatmapConfig
) -> AssetHeatmap:
    """The model run over ``days`` of history before ``as_of`` for every venue of ``asset`` (or one venue),
    on shared bucket edges, summed over the venues that have OI."""
    start = as_of - timedelta(days=days)
    markets = load_markets(store, start, as_of, [asset]).filter(pl.col("bar_hours") == 1)  # an hourly model
    if venue:
        markets = markets.filter(pl.col("venue") == venue)
    if markets.is_empty():
        where = f" on {venue}" if venue else ""
        raise ValueError(f"no hourly data for {asset}{where} up to {as_of:%Y-%m-%d %H:%M} UTC")
    edges = price_edges(float(markets["low"].min()), float(markets["high"].max()), cfg)  # type: ignore[arg-type]
    maps, used, skipped = [], [], {}
    for (v, _sym), frame in markets.sort("venue", "symbol").group_by(
        ["venue", "symbol"], maintain_order=True
    ):
        if frame["oi_base"].drop_nulls().is_empty():
            skipped[str(v)] = "no open interest in the period"
            continue
        maps.append(simulate_market(frame, edges, cfg))
        used.append(str(v))
    if not maps:
        raise ValueError(f"no open-interest history for {asset}: the heatmap model needs OI")
    hm = combine(maps)
    current = []
    for venue, m in zip(used, maps, strict=True):
        if m.times[-1] != hm.times[-1]:
            skipped[venue] = f"no bar since {m.times[-1]:%Y-%m-%d %H:%M} UTC"
        elif m.oi_usd is None:
            skipped[venue] = "no open interest at the map's hour"
        else:
            current.append(venue)
    return AssetHeatmap(hm, current, impact_per_usd(markets), dict(sorted(skipped.items())))


def book(hm: Heatmap, cfg: HeatmapConfig, row: int = -1) -> Book:
    """The map at ``row`` with its dense buckets flagged (at or above the side's configured quantile)."""
    long_usd, short_usd = hm.long_usd[row], hm.short_usd[row]

    def dense(usd: FloatArray) -> npt.NDArray[np.bool_]:
        filled = usd[usd > 0]
        if filled.size == 0:
            return np.zeros(usd.shape, dtype=bool)
        return np.asarray(usd >= np.quantile(filled, cfg.pocket_quantile)) & (usd > 0)

    return Book(hm.centers, long_usd, short_usd, row_price(hm, row), dense(long_usd), dense(short_usd))
