"""Model-derived liquidation heatmap: where leveraged positions would be force-closed.

A forward simulation over hourly bars, vectorised over price buckets (and compiled with numba):
new open interest is attributed to longs and shorts, spread over each bar's range, split across leverage tiers
and placed at its liquidation price; every later bar consumes the levels its range crossed (path-aware); OI
decreases close positions proportionally; positions decay with age per tier; the surviving book is rescaled to
the current OI in USD. See docs/heatmap.md.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.config import ConfigError
from levradar.analytics.scenario import Book, impact_per_usd
from levradar.analytics.series import load_markets
from levradar.store import Store

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HeatmapConfig:
    leverage: FloatArray
    weights: FloatArray
    decay_hours: FloatArray
    mmr: float
    maintenance_amount: float
    damping: float
    funding_scale: float
    return_scale: float
    buckets: int
    display_range_pct: float
    pocket_quantile: float

    @property
    def long_factor(self) -> FloatArray:
        """Liquidation price / entry price of a long, per tier (isolated margin)."""
        return (1.0 - 1.0 / self.leverage - self.maintenance_amount) / (1.0 - self.mmr)

    @property
    def short_factor(self) -> FloatArray:
        return (1.0 + 1.0 / self.leverage + self.maintenance_amount) / (1.0 + self.mmr)


def load_heatmap_config(path: str | Path | None = None) -> HeatmapConfig:
    file = Path(path) if path else Path(str(files("levradar") / "config" / "heatmap.toml"))
    try:
        raw = tomllib.loads(file.read_text())
        lev = np.asarray(raw["leverage"]["tiers"], dtype=np.float64)
        w = np.asarray(raw["leverage"]["weights"], dtype=np.float64)
        tau = np.asarray(raw["leverage"]["decay_hours"], dtype=np.float64)
        cfg = HeatmapConfig(
            lev,
            w / w.sum(),
            tau,
            float(raw["margin"]["mmr"]),
            float(raw["margin"]["maintenance_amount"]),
            float(raw["split"]["damping"]),
            float(raw["split"]["funding_scale"]),
            float(raw["split"]["return_scale"]),
            int(raw["grid"]["buckets"]),
            float(raw["grid"]["display_range_pct"]),
            float(raw["grid"]["pocket_quantile"]),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{file}: cannot read heatmap configuration ({exc!r})") from exc
    if not (len(lev) == len(w) == len(tau)) or (lev <= 1).any() or (w < 0).any() or (tau <= 0).any():
        raise ConfigError(
            f"{file}: tiers, weights and decay_hours must have equal lengths, tiers > 1, positive decay"
        )
    if not 0 < cfg.mmr < 1 / lev.max() or cfg.buckets < 10:
        raise ConfigError(f"{file}: mmr must be in (0, 1/max leverage) and buckets >= 10")
    if (cfg.long_factor <= 0).any() or not 0 <= cfg.damping <= 0.5:
        raise ConfigError(
            f"{file}: maintenance_amount leaves no positive long liquidation price, or damping not in 0..0.5"
        )
    return cfg


@numba.njit(cache=True)
def _deposit(book: FloatArray, edges: FloatArray, lo: float, hi: float, mass: float) -> None:
    """Spread ``mass`` uniformly over prices [lo, hi] into the buckets of ``book`` (1-D)."""
    n = book.shape[0]
    if mass <= 0.0:
        return
    if hi <= lo:
        point = int(np.searchsorted(edges, lo, side="right")) - 1
        if point == n and lo == edges[n]:  # exactly on the top edge: the last bucket holds it
            point = n - 1
        if 0 <= point < n:
            book[point] += mass
        return
    density = mass / (hi - lo)
    j = max(int(np.searchsorted(edges, lo, side="right")) - 1, 0)
    while j < n and edges[j] < hi:
        overlap = min(edges[j + 1], hi) - max(edges[j], lo)
        if overlap > 0.0:
            book[j] += density * overlap
        j += 1


@numba.njit(cache=True)
def _simulate(
    low: FloatArray,
    high: FloatArray,
    close: FloatArray,
    new_usd: FloatArray,
    long_share: FloatArray,
    oi_ratio: FloatArray,
    edges: FloatArray,
    long_k: FloatArray,
    short_k: FloatArray,
    weights: FloatArray,
    decay: FloatArray,
    record: bool,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Hour by hour: decay, proportional OI closure, consumption by the bar's range, new cohort, close check.

    Returns per-hour totals per bucket (hours × buckets if ``record``, else the last hour) and the final per-tier
    books. Decay and OI closure scale whole tiers, so they are kept as one factor per tier (``scale``) instead of
    touching every bucket; consumption only clears the occupied part of a book (tracked by ``top``/``bottom``).
    """
    n_hours, n_buckets, n_tiers = low.shape[0], edges.shape[0] - 1, long_k.shape[0]
    longs = np.zeros((n_tiers, n_buckets))
    shorts = np.zeros((n_tiers, n_buckets))
    scale = np.ones(n_tiers)
    top = np.full(n_tiers, -1, dtype=np.int64)  # highest occupied long bucket per tier
    bottom = np.full(n_tiers, n_buckets, dtype=np.int64)  # lowest occupied short bucket per tier
    rows = n_hours if record else 1
    long_grid = np.zeros((rows, n_buckets))
    short_grid = np.zeros((rows, n_buckets))
    for h in range(n_hours):
        if not (np.isnan(low[h]) or np.isnan(high[h])):
            _step(
                h,
                low,
                high,
                close,
                new_usd,
                long_share,
                oi_ratio,
                edges,
                long_k,
                short_k,
                weights,
                decay,
                longs,
                shorts,
                scale,
                top,
                bottom,
            )
        if record or h == n_hours - 1:
            r = h if record else 0
            for k in range(n_tiers):
                long_grid[r] += longs[k] * scale[k]
                short_grid[r] += shorts[k] * scale[k]
    for k in range(n_tiers):
        longs[k] *= scale[k]
        shorts[k] *= scale[k]
    return long_grid, short_grid, longs, shorts


@numba.njit(cache=True)
def _step(
    h: int,
    low: FloatArray,
    high: FloatArray,
    close: FloatArray,
    new_usd: FloatArray,
    long_share: FloatArray,
    oi_ratio: FloatArray,
    edges: FloatArray,
    long_k: FloatArray,
    short_k: FloatArray,
    weights: FloatArray,
    decay: FloatArray,
    longs: FloatArray,
    shorts: FloatArray,
    scale: FloatArray,
    top: npt.NDArray[np.int64],
    bottom: npt.NDArray[np.int64],
) -> None:
    """One hour of the model (see ``_simulate``)."""
    n_buckets, n_tiers = longs.shape[1], longs.shape[0]
    jl = max(int(np.searchsorted(edges, low[h], side="right")) - 1, 0)  # the low's bucket is reached
    jh = min(int(np.searchsorted(edges, high[h], side="left")), n_buckets)  # buckets starting below the high
    for k in range(n_tiers):
        scale[k] *= decay[k] * oi_ratio[h]
        if scale[k] < 1e-200:  # fold the factor in before it underflows
            longs[k] *= scale[k]
            shorts[k] *= scale[k]
            scale[k] = 1.0
        if top[k] >= jl:
            longs[k, jl : top[k] + 1] = 0.0
            top[k] = jl - 1
        if bottom[k] < jh:
            shorts[k, bottom[k] : jh] = 0.0
            bottom[k] = jh
    if new_usd[h] > 0.0:
        jc = max(int(np.searchsorted(edges, close[h], side="right")) - 1, 0)
        for k in range(n_tiers):
            m = new_usd[h] * weights[k] / scale[k]
            lo_l, hi_l = low[h] * long_k[k], high[h] * long_k[k]
            lo_s, hi_s = low[h] * short_k[k], high[h] * short_k[k]
            _deposit(longs[k], edges, lo_l, hi_l, m * long_share[h])
            _deposit(shorts[k], edges, lo_s, hi_s, m * (1.0 - long_share[h]))
            top[k] = max(top[k], min(int(np.searchsorted(edges, hi_l, side="right")) - 1, n_buckets - 1))
            bottom[k] = min(bottom[k], max(int(np.searchsorted(edges, lo_s, side="right")) - 1, 0))
            # positions opened in the bar whose level the close is already beyond were liquidated by then
            if top[k] >= jc:
                longs[k, jc : top[k] + 1] = 0.0
                top[k] = jc - 1
            if bottom[k] <= jc:
                shorts[k, bottom[k] : jc + 1] = 0.0
                bottom[k] = jc + 1


@dataclass(frozen=True)
class Heatmap:
    """A market's (or an asset's) modelled liquidation book."""

    times: list[datetime]  # hour each grid row is as of
    edges: FloatArray  # bucket edges (prices), buckets = edges[:-1]..edges[1:]
    long_usd: FloatArray  # hours × buckets (USD of long positions whose liquidation price is in the bucket)
    short_usd: FloatArray
    long_tiers: FloatArray  # tiers × buckets at the last hour
    short_tiers: FloatArray
    price: float
    oi_usd: float | None
    leverage: FloatArray
    closes: FloatArray | None = None  # the price path, one close per grid row

    @property
    def centers(self) -> FloatArray:
        return np.sqrt(self.edges[:-1] * self.edges[1:])


def price_edges(low: float, high: float, cfg: HeatmapConfig) -> FloatArray:
    """Log-spaced bucket edges covering every liquidation price the bars' range can produce."""
    lo = low * float(cfg.long_factor.min()) * 0.999
    hi = high * float(cfg.short_factor.max()) * 1.001
    return np.exp(np.linspace(math.log(lo), math.log(hi), cfg.buckets + 1))


def simulate_market(
    frame: pl.DataFrame, edges: FloatArray, cfg: HeatmapConfig, record: bool = True
) -> Heatmap:
    """Run the model over one market's hourly rows (``t, high, low, close, oi_base, oi_usd, rate_8h``)."""
    f = frame.sort("t")
    close = f["close"].cast(pl.Float64).to_numpy()
    low = f["low"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    high = f["high"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    oi = f["oi_base"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    prev = np.concatenate([[np.nan], oi[:-1]])
    typical = (high + low + close) / 3.0
    delta = np.where(np.isnan(oi) | np.isnan(prev), 0.0, oi - prev)
    new_usd = np.where(delta > 0, delta * typical, 0.0)
    ratio = np.where((delta < 0) & (prev > 0), oi / np.where(prev > 0, prev, 1.0), 1.0)
    rate = f["rate_8h"].cast(pl.Float64).fill_null(0.0).to_numpy()
    ret = np.concatenate([[0.0], np.diff(np.log(close))])
    tilt = 0.5 * (np.tanh(rate / cfg.funding_scale) + np.tanh(np.nan_to_num(ret) / cfg.return_scale))
    share = 0.5 + cfg.damping * tilt
    decay = np.exp(-1.0 / cfg.decay_hours)
    lg, sg, lt, st = _simulate(
        low,
        high,
        close,
        new_usd,
        share,
        ratio,
        edges,
        cfg.long_factor,
        cfg.short_factor,
        cfg.weights,
        decay,
        record,
    )
    oi_usd = f["oi_usd"].cast(pl.Float64).to_numpy()
    # rescale the surviving book to the OI in USD at each hour (both sides together; the split is kept)
    total = lg.sum(axis=1) + sg.sum(axis=1)
    target = oi_usd if record else oi_usd[-1:]
    scale = np.where((total > 0) & ~np.isnan(target), target / np.where(total > 0, total, 1.0), 0.0)
    last_scale = float(scale[-1])
    times = f["t"].to_list() if record else f["t"].to_list()[-1:]
    last_oi = float(oi_usd[-1]) if not np.isnan(oi_usd[-1]) else None
    return Heatmap(
        times,
        edges,
        lg * scale[:, None],
        sg * scale[:, None],
        lt * last_scale,
        st * last_scale,
        float(close[-1]),
        last_oi,
        cfg.leverage,
        close if record else close[-1:],
    )


def combine(maps: list[Heatmap]) -> Heatmap:
    """Sum venue maps that share their edges (an asset's map), hour by hour over the union of their hours."""
    times = sorted({t for m in maps for t in m.times})
    index = {t: i for i, t in enumerate(times)}
    shape = (len(times), maps[0].edges.size - 1)
    long_usd, short_usd = np.zeros(shape), np.zeros(shape)
    closes = np.full(len(times), np.nan)
    for m in maps:
        rows = np.asarray([index[t] for t in m.times], dtype=np.int64)
        long_usd[rows] += m.long_usd
        short_usd[rows] += m.short_usd
        if m.closes is not None:
            closes[rows] = np.where(np.isnan(closes[rows]), m.closes, closes[rows])
    last = [m for m in maps if m.times[-1] == times[-1]]  # venues with data at the last hour
    ois = [m.oi_usd for m in last if m.oi_usd is not None]
    return Heatmap(
        times,
        maps[0].edges,
        long_usd,
        short_usd,
        np.sum([m.long_tiers for m in last], axis=0),
        np.sum([m.short_tiers for m in last], axis=0),
        last[0].price if last else maps[0].price,
        float(sum(ois)) if ois else None,
        maps[0].leverage,
        closes,
    )


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
        {f"{int(lev)}x": round(float(v) / tier_total, 4) for lev, v in zip(leverage, by_tier, strict=True)}
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
