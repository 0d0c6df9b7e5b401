"""Liquidation proximity for the scan: the heatmap model's nearest dense pockets at the scan's hour, as a regime.

Distance to the nearest pocket (either side) is measured in daily realised volatility (rv_24h / sqrt(365)) so that
"near" means the same thing for a quiet and a wild asset; labels and the 0..1 component that fragility and the
LSI use come from ``[liquidation]`` in signals.toml.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.forecast import BookAt, HourlyVol, forced_flow_forecast
from levradar.analytics.heatmap import HeatmapConfig, combine, price_edges, simulate_market, summarize

FORECAST_HORIZON = timedelta(hours=24)


def liquidation_overlay(
    markets: pl.DataFrame, asset_rv: dict[str, float], end: datetime, cfg: SignalConfig, heat: HeatmapConfig
) -> dict[str, dict[str, Any]]:
    """Per asset: proximity label, component, nearest pockets (from the model over ``model_days`` before ``end``)."""
    days = int(cfg.value("liquidation", "model_days"))
    labels = list(cfg.value("liquidation", "labels"))
    bounds = [float(b) for b in cfg.value("liquidation", "boundaries")]
    span = float(cfg.value("liquidation", "component_span"))
    hourly = pl.col("bar_hours") == 1  # the model steps hour by hour: coarser bars do not feed it
    recent = markets.filter((pl.col("t") > end - timedelta(days=days)) & (pl.col("t") <= end) & hourly)
    out: dict[str, dict[str, Any]] = {}
    for (asset,), frame in recent.sort("asset", "venue", "symbol", "t").group_by(
        ["asset"], maintain_order=True
    ):
        with_oi = frame.filter(pl.col("oi_base").is_not_null())
        if with_oi.is_empty():
            continue
        edges = price_edges(float(frame["low"].min()), float(frame["high"].max()), heat)  # type: ignore[arg-type]
        maps, venues = [], []
        for (venue, _symbol), part in frame.group_by(["venue", "symbol"], maintain_order=True):
            if part["oi_base"].drop_nulls().is_empty():
                continue
            maps.append(simulate_market(part, edges, heat, record=False))
            venues.append(str(venue))
        hm = combine(maps)
        if hm.times[-1] != end:
            continue  # no venue with OI has a bar at the scan's hour
        summary = summarize(hm, heat)
        forecast = forced_flow_forecast(
            BookAt(hm.edges, hm.long_usd[-1], hm.short_usd[-1]),
            float(summary["price"]),  # type: ignore[arg-type]
            _vol(frame, end),
            FORECAST_HORIZON,
        )
        above, below = summary["nearest_above"], summary["nearest_below"]
        distances = [abs(float(p["distance_pct"])) / 100.0 for p in (above, below) if isinstance(p, dict)]
        rv = asset_rv.get(str(asset))
        daily = rv / math.sqrt(365.0) if rv and rv > 0 else None
        if not distances or daily is None:
            continue
        in_vol = min(distances) / daily
        out[str(asset)] = {
            "proximity": labels[int(np.searchsorted(bounds, in_vol, side="right"))],
            "component": max(0.0, min(1.0, 1.0 - in_vol / span)),
            "distance_in_daily_vol": in_vol,
            "nearest_above": above,
            "nearest_below": below,
            "venues": sorted(venues),
            "model_days": days,
            "forecast_24h": forecast.to_json(),
        }
    return out


def _vol(frame: pl.DataFrame, end: datetime) -> float | None:
    """The expected hourly volatility of the next 24 h from the asset's hourly closes (one venue per hour)."""
    path = frame.sort("t", "venue").unique(subset=["t"], keep="first", maintain_order=True)
    return HourlyVol(path["t"].to_list(), path["close"].cast(pl.Float64).to_numpy()).at(end, FORECAST_HORIZON)
