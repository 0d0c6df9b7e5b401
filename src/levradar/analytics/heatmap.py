"""The liquidation heatmap of an asset: the model (``analytics.liqmodel``) run per venue and summed, its current map,
nearest dense pockets, cumulative forced flow and the book the scenarios use. See docs/heatmap.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from levradar.analytics import _kernel
from levradar.analytics.forecast import BookAt, HourlyVol, forced_flow_forecast, hit_probability
from levradar.analytics.liqmodel import (
    FloatArray,
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
    "likely_zones",
    "load_heatmap_config",
    "outlook",
    "price_edges",
    "simulate_market",
    "summarize",
]


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
    """The nearest dense pocket on one side: the contiguous run of dense buckets closest to the price (the compiled
    search of :func:`pockets_by_row`), with its leverage mix from the tier books ``tiers`` (bands × buckets)."""
    found = pockets_by_row(usd[None, :], centers, np.asarray([price]), above, quantile)
    by_tier = tiers[:, found.first[0] : found.last[0] + 1].sum(axis=1)
    return pocket_json(found, 0, by_tier, leverage)


def pocket_json(
    found: PocketRows, row: int, by_tier: FloatArray, leverage: FloatArray
) -> dict[str, object] | None:
    """Row ``row``'s pocket of ``found`` as the JSON reports it, with its leverage mix from ``by_tier`` (the
    pocket's USD by band; all zero: no mix); None where that row has none."""
    if not found.found[row]:
        return None
    tier_total = float(by_tier.sum())
    names = _tier_names(tuple(leverage.tolist()))
    mix = (
        {name: round(v / tier_total, 4) for name, v in zip(names, by_tier.tolist(), strict=True)}
        if tier_total > 0
        else {}
    )
    return {
        "price": float(found.price[row]),
        "distance_pct": float(found.distance_pct[row]),
        "usd": float(found.usd[row]),
        "leverage_mix": mix,
        "threshold_usd": float(found.threshold[row]),
    }


@lru_cache(maxsize=16)
def _tier_names(leverage: tuple[float, ...]) -> list[str]:
    """The leverage mix's keys: ``~<leverage>x`` per band."""
    return [f"~{lev:.0f}x" for lev in leverage]


@dataclass(frozen=True)
class PocketRows:
    """The nearest dense pocket on one side for each of several rows (hours) of a map, as :func:`_pocket` finds it
    row by row (without the leverage mix): ``found`` false where the side holds no level."""

    found: npt.NDArray[np.bool_]
    price: FloatArray
    distance_pct: FloatArray
    usd: FloatArray
    threshold: FloatArray
    first: npt.NDArray[np.int64]  # the run's first and last bucket (-1 where none)
    last: npt.NDArray[np.int64]


def pockets_by_row(
    usd: FloatArray, centers: FloatArray, prices: FloatArray, above: bool, quantile: float
) -> PocketRows:
    """The nearest dense pocket of every row of ``usd`` (rows × buckets) at once (:func:`_pocket` adds the leverage
    mix of one row's): the scan reads every hour of a month's map, the live radar every asset's new hour (``centers``
    then a row per asset); one compiled pass (_kernel.pockets: a selection for the quantile, a walk for the run)
    replaces a Python call per hour and side."""
    usd = np.ascontiguousarray(usd, dtype=np.float64)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    found, price, distance_pct, total, threshold, first, last = _kernel.pockets(
        usd,
        centers.reshape(1, -1) if centers.ndim == 1 else centers,  # one row: shared by every row of ``usd``
        np.ascontiguousarray(prices, dtype=np.float64),
        above,
        quantile,
    )
    return PocketRows(found, price, distance_pct, total, threshold, first, last)


def row_price(m: Heatmap, row: int) -> float:
    """The close at grid row ``row`` (the last price for the last row)."""
    if row in (-1, len(m.times) - 1) or m.closes is None or np.isnan(m.closes[row]):
        return m.price
    return float(m.closes[row])


def row_prices(m: Heatmap, rows: npt.NDArray[np.int64]) -> FloatArray:
    """:func:`row_price` of each of ``rows`` (non-negative)."""
    if m.closes is None:
        return np.full(rows.size, m.price)
    closes = m.closes[rows]
    return np.where((rows == len(m.times) - 1) | np.isnan(closes), m.price, closes).astype(np.float64)


def cumulative_usd(
    centers: FloatArray, long_usd: FloatArray, short_usd: FloatArray, price: float
) -> dict[str, dict[str, float]]:
    """Long USD below and short USD above the price within each of :data:`CUMULATIVE_PCTS` (forced flow outward)."""
    out = {}
    for pct in CUMULATIVE_PCTS:
        down = (centers < price) & (centers >= price * (1 - pct / 100))
        up = (centers > price) & (centers <= price * (1 + pct / 100))
        out[f"{pct:g}%"] = {
            "below_long_usd": float(long_usd[down].sum()),
            "above_short_usd": float(short_usd[up].sum()),
        }
    return out


def dense_buckets(
    usd: FloatArray, quantile: float, where: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.bool_]:
    """The dense buckets of one side's book (``where`` it may lie): at least the ``quantile`` of its non-empty
    buckets — the pocket rule."""
    inside = (usd > 0) if where is None else where & (usd > 0)
    if not inside.any():
        return np.zeros(usd.shape, dtype=bool)
    return inside & (usd >= np.quantile(usd[inside], quantile))


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
    cumulative = cumulative_usd(centers, long_usd, short_usd, price)
    return {
        "price": price,
        "oi_usd": m.oi_usd,
        "buckets": [
            {"price": float(c), "long_usd": float(lu), "short_usd": float(su)}
            for c, lu, su in zip(centers[near], long_usd[near], short_usd[near], strict=True)
        ],
        **nearest_pockets(m, cfg, row, (long_tiers, short_tiers)),
        "cumulative": cumulative,
        "total_long_usd": float(long_usd.sum()),
        "total_short_usd": float(short_usd.sum()),
        # the hedged reserve of each side: in the OI, without a level within reach (levels + reserve = OI)
        "reserve_long_usd": float(m.reserve[row, 0]) if m.reserve is not None else None,
        "reserve_short_usd": float(m.reserve[row, 1]) if m.reserve is not None else None,
    }


def nearest_pockets(
    m: Heatmap, cfg: HeatmapConfig, row: int = -1, tiers: tuple[FloatArray, FloatArray] | None = None
) -> dict[str, dict[str, object] | None]:
    """The nearest dense pocket above (shorts) and below (longs) the price of row ``row``; with ``tiers`` (the
    long and short tier books of that hour), each pocket's leverage mix."""
    price = row_price(m, row)
    empty = np.zeros((m.leverage.size, m.centers.size))
    long_tiers, short_tiers = tiers if tiers is not None else (empty, empty)
    return {
        "nearest_above": _pocket(
            m.short_usd[row], m.centers, short_tiers, m.leverage, price, True, cfg.pocket_quantile
        ),
        "nearest_below": _pocket(
            m.long_usd[row], m.centers, long_tiers, m.leverage, price, False, cfg.pocket_quantile
        ),
    }


def grid_buckets(
    m: Heatmap, cfg: HeatmapConfig, max_prices: int | None = None
) -> tuple[npt.NDArray[np.intp], int]:
    """The buckets a drawn or served grid shows (within the display range of the period's prices, in order) and
    how many adjacent ones it sums per row to stay within ``max_prices`` rows."""
    closes = m.closes if m.closes is not None else np.full(len(m.times), m.price)
    lo = float(np.nanmin(closes)) * (1 - cfg.display_range_pct / 100)
    hi = float(np.nanmax(closes)) * (1 + cfg.display_range_pct / 100)
    keep = np.flatnonzero((m.centers >= lo) & (m.centers <= hi))
    merge = 1 if max_prices is None or keep.size <= max_prices else -(-keep.size // max_prices)
    return keep, merge


def grid_json(
    m: Heatmap, cfg: HeatmapConfig, *, max_hours: int | None = None, max_prices: int | None = None
) -> dict[str, object]:
    """The price × time grid for JSON: every hour, the buckets within the display range of the period's prices.

    Bounded on request: with more than ``max_hours`` hours, every ``hour_step``-th hour's book is kept (ending at
    the last hour; a book is a state, so no averaging); with more than ``max_prices`` buckets, ``bucket_merge``
    adjacent buckets are summed (USD adds up) and their price is the merged range's geometric centre."""
    closes = m.closes if m.closes is not None else np.full(len(m.times), m.price)
    keep, merge = grid_buckets(m, cfg, max_prices)
    rows = np.arange(len(m.times))
    step = 1 if max_hours is None or rows.size <= max_hours else -(-rows.size // max_hours)
    rows = rows[::-1][::step][::-1]  # the last hour always kept
    long_usd, short_usd = m.long_usd[np.ix_(rows, keep)], m.short_usd[np.ix_(rows, keep)]
    edges_lo, edges_hi = m.edges[keep], m.edges[keep + 1]
    if merge > 1:
        groups = np.arange(keep.size) // merge
        long_usd = np.add.reduceat(long_usd, np.flatnonzero(np.diff(groups, prepend=-1)), axis=1)
        short_usd = np.add.reduceat(short_usd, np.flatnonzero(np.diff(groups, prepend=-1)), axis=1)
        starts = np.flatnonzero(np.diff(groups, prepend=-1))
        ends = np.append(starts[1:], keep.size) - 1
        prices = np.sqrt(edges_lo[starts] * edges_hi[ends])
    else:
        prices = np.sqrt(edges_lo * edges_hi)
    return {
        "times": [m.times[i] for i in rows],
        "prices": [float(p) for p in prices],
        "close": [None if np.isnan(c) else float(c) for c in closes[rows]],
        "long_usd": np.round(long_usd, 2).tolist(),
        "short_usd": np.round(short_usd, 2).tolist(),
        "hour_step": step,
        "bucket_merge": merge,
    }


@dataclass(frozen=True)
class AssetHeatmap:
    map: Heatmap
    venues: list[str]  # venues whose modelled book makes up the current map (OI at its last hour)
    impact_per_usd: float | None  # price response to forced USD in a typical shock (the cascade simulation)
    skipped: dict[str, str] = field(default_factory=dict)  # venue -> why it is not in the current map
    vol: HourlyVol | None = (
        None  # the price path's expected hourly volatility, for the likely zones and forecast
    )
    stress_impact: float | None = None  # ... and in a real cascade


def asset_heatmap(
    store: Store,
    asset: str,
    as_of: datetime,
    *,
    days: int,
    venue: str | None,
    cfg: HeatmapConfig,
    grid: bool = True,
) -> AssetHeatmap:
    """The model run over ``days`` of history before ``as_of`` for every venue of ``asset`` (or one venue: only
    its rows are read), on shared bucket edges, summed over the venues that have OI. The map keeps every hour's
    row (``grid``: the price × time picture) or only the as-of hour's (the current book, pockets, scenarios)."""
    start = as_of - timedelta(days=days)
    venues = [venue] if venue else None
    # the model steps hour by hour: only 1 h bars are read (a 1 h bar is the finest, so every hourly row is the same)
    markets = load_markets(store, start, as_of, [asset], venues, hourly=True)
    if markets.is_empty():
        where = f" on {venue}" if venue else ""
        raise ValueError(f"no hourly data for {asset}{where} up to {as_of:%Y-%m-%d %H:%M} UTC")
    edges = price_edges(float(markets["low"].min()), float(markets["high"].max()), cfg)  # type: ignore[arg-type]
    maps, used, skipped = [], [], {}
    frames = markets.partition_by("venue", "symbol", maintain_order=True)  # by market, each by hour
    for frame in frames:
        v = str(frame["venue"][0])
        if frame["oi_base"].null_count() == frame.height:
            skipped[v] = "no open interest in the period"
            continue
        maps.append(simulate_market(frame, edges, cfg, record=grid))
        used.append(v)
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
    # one close per hour (the first venue's by name): one market's rows are already that path
    path = (
        frames[0]
        if len(frames) == 1
        else markets.sort("t", "venue").unique(subset=["t"], keep="first", maintain_order=True)
    )
    vol = HourlyVol.of_path(path)
    lam = impact_per_usd(markets)
    typical = None if lam is None else lam * cfg.impact_typical
    stress = None if lam is None else lam * cfg.impact_stress
    return AssetHeatmap(hm, current, typical, dict(sorted(skipped.items())), vol, stress)


LIKELY_HOURS = 1.0  # the likely zones look one hour ahead
FORECAST_HOURS = 24.0


def outlook(ah: AssetHeatmap, cfg: HeatmapConfig) -> dict[str, object]:
    """The map's likely zones for the next hour and its expected forced flow over the next 24 hours."""
    when, b = ah.map.times[-1], book(ah.map, cfg)
    vol = ah.vol
    hour_vol = vol.at(when, timedelta(hours=LIKELY_HOURS)) if vol else None
    day_vol = vol.at(when, timedelta(hours=FORECAST_HOURS)) if vol else None
    current = BookAt(ah.map.edges, ah.map.long_usd[-1], ah.map.short_usd[-1])
    return {
        "likely_zones": likely_zones(b, hour_vol, cfg.pocket_quantile),
        "forecast_24h": forced_flow_forecast(
            current, b.price, day_vol, timedelta(hours=FORECAST_HOURS)
        ).to_json(),
    }


def report(
    asset: str, as_of: datetime, ah: AssetHeatmap, cfg: HeatmapConfig, days: int, prints: dict[str, object]
) -> dict[str, object]:
    """The heatmap report every interface gives (`heatmap --json`, the API, the MCP tool): the map's window, its
    venues, summary and outlook, and the real prints (``prints``: ``Prints.to_json()``)."""
    return {
        "asset": asset,
        "as_of": as_of,
        "data_time": ah.map.times[-1],
        # the model's window: this map's pockets come from the hours since run_from (scan, history and the
        # dashboard name theirs too: one run per month, docs/heatmap.md)
        "run_from": ah.map.start,
        "model_days": days,
        "venues": ah.venues,
        "venues_skipped": ah.skipped,
        **summarize(ah.map, cfg),
        **outlook(ah, cfg),
        "prints": prints,
    }


def likely_zones(
    b: Book, hourly_vol: float | None, quantile: float, hours: float = LIKELY_HOURS
) -> dict[str, object]:
    """Where liquidations are most likely over the next ``hours``: the buckets whose expected forced flow (the
    book's USD × the chance price reaches the bucket, analytics/forecast.py) is at or above ``quantile`` of that
    side's, as price ranges nearest first with their expected USD. Unlike the dense pockets (the book alone) they
    weigh fuel by reach: fuel far away is unlikely to burn within the hour."""
    if hourly_vol is None or not hourly_vol > 0:
        return {"horizon_hours": hours, "below": [], "above": [], "status": "no volatility estimate"}
    reach = hit_probability(np.log(b.centers / b.price), hourly_vol, hours)
    out: dict[str, object] = {"horizon_hours": hours, "hourly_vol": hourly_vol}
    for name, usd, side in (
        ("below", b.long_usd, b.centers < b.price),
        ("above", b.short_usd, b.centers > b.price),
    ):
        flow = usd * reach * side
        mask = likely_mask(flow, quantile)
        out[name] = _segments(b.centers, flow, mask, b.price, near_first=True)
    return out


def likely_mask(flow: FloatArray, quantile: float) -> npt.NDArray[np.bool_]:
    """Buckets whose expected flow is at or above ``quantile`` of the side's non-zero buckets."""
    filled = flow[flow > 0]
    if filled.size == 0:
        return np.zeros(flow.shape, dtype=bool)
    return np.asarray(flow >= np.quantile(filled, quantile)) & (flow > 0)


def _segments(
    centers: FloatArray, flow: FloatArray, mask: npt.NDArray[np.bool_], price: float, near_first: bool
) -> list[dict[str, float]]:
    """Contiguous runs of ``mask`` as price ranges with their expected USD, nearest the price first (at most 3)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    segs = [
        {
            "low": float(centers[r[0]]),
            "high": float(centers[r[-1]]),
            "distance_pct": float((np.sqrt(centers[r[0]] * centers[r[-1]]) / price - 1.0) * 100.0),
            "expected_usd": float(flow[r].sum()),
        }
        for r in runs
    ]
    segs.sort(key=lambda x: abs(x["distance_pct"]) if near_first else -x["expected_usd"])
    return segs[:3]


def book(hm: Heatmap, cfg: HeatmapConfig, row: int = -1) -> Book:
    """The map at ``row`` with its dense buckets flagged (at or above the side's configured quantile)."""
    long_usd, short_usd = hm.long_usd[row], hm.short_usd[row]

    q = cfg.pocket_quantile
    dense_long, dense_short = dense_buckets(long_usd, q), dense_buckets(short_usd, q)
    return Book(hm.centers, long_usd, short_usd, row_price(hm, row), dense_long, dense_short)
