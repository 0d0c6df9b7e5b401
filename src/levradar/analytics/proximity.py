"""Liquidation proximity for the scan: the heatmap model's nearest dense pockets at the scan's hour, as a regime.

Distance to the nearest pocket (either side) is measured in daily realised volatility (rv_24h / sqrt(365)) so that
"near" means the same thing for a quiet and a wild asset; labels and the 0..1 component that fragility and the
LSI use come from ``[liquidation]`` in signals.toml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.forecast import BookAt, HourlyVol, forced_flow_forecast
from levradar.analytics.heatmap import HeatmapConfig, combine, price_edges, simulate_market, summarize
from levradar.analytics.liqmodel import FloatArray, Heatmap, MarketBook

FORECAST_HORIZON = timedelta(hours=24)


GRID_HEADROOM = 1.25  # a book's buckets reach this far beyond the prices it was built on (live books keep them)


@dataclass
class _Kept:
    book: MarketBook
    last: Heatmap


@dataclass
class BookCache:
    """The live radar's books, one per market, advanced hour by hour instead of re-run over the whole window.

    A market's book is built once from the window (``model_days``) and then only folds in new hours, so it also
    remembers (decayed) positions older than the window — the same numbers as one run from its first hour, tested.
    It is rebuilt when hours are missing, the clock goes back, or the price leaves its buckets' range."""

    edges: dict[str, FloatArray] = field(default_factory=dict)  # per asset: the shared buckets
    books: dict[tuple[str, str, str], _Kept] = field(default_factory=dict)  # (asset, venue, symbol)

    def market_map(
        self, key: tuple[str, str, str], rows: pl.DataFrame, end: datetime, heat: HeatmapConfig
    ) -> Heatmap:
        """The market's current map at ``end``: its kept book advanced by the new hours, or a new one."""
        edges = self.edges[key[0]]
        kept = self.books.get(key)
        if kept is not None and kept.book.last_t is not None:
            if kept.book.last_t == end:
                return kept.last
            new = rows.filter(pl.col("t") > kept.book.last_t)
            step = new["t"][0] - kept.book.last_t if not new.is_empty() else None
            if kept.book.last_t < end and step == timedelta(hours=1):
                kept.last = kept.book.advance(new, record=False)
                return kept.last
        book = MarketBook(edges, heat)
        self.books[key] = _Kept(book, book.advance(rows, record=False))
        return self.books[key].last

    def ensure_edges(self, asset: str, low: float, high: float, heat: HeatmapConfig) -> FloatArray:
        """The asset's buckets; new ones (and no kept books) when the price range left the old ones."""
        edges = self.edges.get(asset)
        reach = float(heat.band_edges[-1])
        if edges is None or low * (1 - reach) < edges[0] or high * (1 + reach) > edges[-1]:
            edges = price_edges(low / GRID_HEADROOM, high * GRID_HEADROOM, heat)
            self.edges[asset] = edges
            self.books = {k: v for k, v in self.books.items() if k[0] != asset}
        return edges


def _fresh_edges(low: float, high: float, heat: HeatmapConfig) -> FloatArray:
    return price_edges(low / GRID_HEADROOM, high * GRID_HEADROOM, heat)


def liquidation_overlay(
    markets: pl.DataFrame,
    asset_rv: dict[str, float],
    end: datetime,
    cfg: SignalConfig,
    heat: HeatmapConfig,
    books: BookCache | None = None,
) -> dict[str, dict[str, Any]]:
    """Per asset: proximity label, component, nearest pockets (from the model over ``model_days`` before ``end``,
    or from the live books in ``books``, advanced to ``end``)."""
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
        low, high = float(frame["low"].min()), float(frame["high"].max())  # type: ignore[arg-type]
        edges = books.ensure_edges(str(asset), low, high, heat) if books else _fresh_edges(low, high, heat)
        maps, venues = [], []
        for (venue, symbol), part in frame.group_by(["venue", "symbol"], maintain_order=True):
            if part["oi_base"].drop_nulls().is_empty():
                continue
            if books is not None:
                maps.append(books.market_map((str(asset), str(venue), str(symbol)), part, end, heat))
            else:
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
