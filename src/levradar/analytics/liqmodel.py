"""The liquidation model (v2): a forward simulation of where leveraged positions would be force-closed.

Hour by hour, per market, on log-spaced price buckets (kernel compiled with Cython: ``_kernel.pyx``; docs/heatmap.md §1):

1. **Ageing**: each distance band keeps ``exp(−1/τ_k)`` of its positions per hour (high leverage lives shorter).
2. **Consumption**: the bar's range removes every long level at or above its low and every short level at or below
   its high (path-aware: a wick that crossed a level removed it, even if price came back).
3. **OI decrease, attributed**: a fall of OI (one-sided, in USD) is first explained by the levels the bar crossed
   (they were liquidated); only the rest closes the remaining positions proportionally.
4. **New positions**: an OI increase opens the same USD of longs and of shorts (every contract has both sides),
   spread over the bar's range. Each side splits into *leveraged* positions, placed at a liquidation distance drawn
   from contiguous bands (a continuous density from a few tenths of a percent to the last band edge), and a *hedged*
   reserve (spot-hedged, cross-margined far beyond any plausible move) that counts in the OI but has no level within
   reach. The crowded side — by funding and the bar's direction — holds more leveraged positions, the other side more
   hedged ones. Trading churns positions even when OI stands still: a share of each hour's traded USD opens
   new positions the same way (the rescaling closes as much of the older book). Levels of the new cohort that the
   bar's close is already beyond were liquidated within the bar and are removed.
5. **Rescaling**: each side's book is scaled to the one-sided OI in USD at that hour (longs = shorts = OI).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics._kernel import simulate as _simulate
from levradar.analytics.config import ConfigError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HeatmapConfig:
    """The model's parameters (``levradar/config/heatmap.toml``; provenance in docs/heatmap.md)."""

    band_edges: FloatArray  # liquidation distance from the entry (fraction of the price), contiguous bands
    weights: FloatArray  # share of a side's leveraged new USD per band (sums to 1)
    decay_hours: FloatArray  # per band, and one more for the hedged reserve
    leveraged_share: float  # share of each side's new USD that is leveraged (the rest hedged, far away)
    churn: (
        float  # positions opened and closed again while OI stands still: this share of each hour's traded USD
    )
    damping: float  # how far funding and the bar's direction move that share between the sides
    funding_scale: float
    return_scale: float
    buckets: int
    display_range_pct: float
    pocket_quantile: float
    impact_typical: float = 1.0  # multiplier of the volume-based price impact for a typical shock
    impact_stress: float = 1.0  # ... and for a real cascade (docs/heatmap.md §3)
    provenance: str = ""

    @property
    def n_bands(self) -> int:
        return int(self.weights.size)

    @property
    def near(self) -> FloatArray:
        """Per band: the nearest liquidation distance from the entry."""
        return self.band_edges[:-1]

    @property
    def far(self) -> FloatArray:
        return self.band_edges[1:]

    @property
    def leverage(self) -> FloatArray:
        """A representative leverage per band (1 / the band's geometric-mean distance), for the pockets' mix."""
        return 1.0 / np.sqrt(self.near * self.far)


def _floats(raw: dict[str, Any], section: str, key: str) -> FloatArray:
    return np.asarray(raw[section][key], dtype=np.float64)


def load_heatmap_config(path: str | Path | None = None) -> HeatmapConfig:
    file = Path(path) if path else Path(str(files("levradar") / "config" / "heatmap.toml"))
    try:
        raw = tomllib.loads(file.read_text())
        edges = _floats(raw, "distance", "band_edges")
        weights = _floats(raw, "distance", "weights")
        if (weights < 0).any() or not weights.sum() > 0:
            raise ConfigError(f"{file}: weights must be non-negative with a positive sum")
        cfg = HeatmapConfig(
            edges,
            weights / weights.sum(),
            _floats(raw, "distance", "decay_hours"),
            float(raw["split"]["leveraged_share"]),
            float(raw["churn"]["share_of_volume"]),
            float(raw["split"]["damping"]),
            float(raw["split"]["funding_scale"]),
            float(raw["split"]["return_scale"]),
            int(raw["grid"]["buckets"]),
            float(raw["grid"]["display_range_pct"]),
            float(raw["grid"]["pocket_quantile"]),
            float(raw["cascade"]["impact_typical"]),
            float(raw["cascade"]["impact_stress"]),
            str(raw.get("provenance", {}).get("fitted", "")),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{file}: cannot read heatmap configuration ({exc!r})") from exc
    _check(cfg, file)
    return cfg


def _check(cfg: HeatmapConfig, file: Path) -> None:
    edges = cfg.band_edges
    if edges.size < 2 or (np.diff(edges) <= 0).any() or edges[0] <= 0 or edges[-1] >= 1:
        raise ConfigError(f"{file}: band_edges must increase from above 0 to below 1")
    if cfg.weights.size != edges.size - 1 or (cfg.weights < 0).any() or not cfg.weights.sum() > 0:
        raise ConfigError(f"{file}: one non-negative weight per band ({edges.size - 1} bands)")
    if cfg.decay_hours.size != cfg.weights.size + 1 or (cfg.decay_hours <= 0).any():
        raise ConfigError(f"{file}: decay_hours: one positive value per band plus one for the hedged reserve")
    if not 0 < cfg.leveraged_share < 1 or not 0 <= cfg.damping < min(
        cfg.leveraged_share, 1 - cfg.leveraged_share
    ):
        raise ConfigError(f"{file}: leveraged_share in (0, 1) and damping below min(share, 1 - share)")
    if cfg.buckets < 10:
        raise ConfigError(f"{file}: buckets >= 10")
    if cfg.churn < 0 or not cfg.funding_scale > 0 or not cfg.return_scale > 0:
        raise ConfigError(f"{file}: churn must be >= 0, funding_scale and return_scale > 0")
    if not 0 < cfg.pocket_quantile < 1 or not cfg.display_range_pct > 0:
        raise ConfigError(f"{file}: pocket_quantile in (0, 1), display_range_pct > 0")
    if not 0 < cfg.impact_typical <= cfg.impact_stress:
        raise ConfigError(f"{file}: [cascade] impact multipliers must be positive, typical <= stress")


@dataclass(frozen=True)
class Heatmap:
    """A market's (or an asset's) modelled liquidation book."""

    times: list[datetime]  # hour each grid row is as of
    edges: FloatArray  # bucket edges (prices), buckets = edges[:-1]..edges[1:]
    long_usd: FloatArray  # hours × buckets (USD of long positions whose liquidation price is in the bucket)
    short_usd: FloatArray
    long_tiers: FloatArray  # bands × buckets at the last hour (the far band last)
    short_tiers: FloatArray
    price: float
    oi_usd: float | None
    leverage: FloatArray
    closes: FloatArray | None = None  # the price path, one close per grid row
    reserve: FloatArray | None = (
        None  # per grid row: the hedged reserve of longs and of shorts (rows × 2), USD
    )
    run_from: datetime | None = None  # the first hour the model folded in (a map may keep fewer rows)

    @property
    def centers(self) -> FloatArray:
        return bucket_centers(self.edges)

    @property
    def start(self) -> datetime:
        """The hour the model's run began: the book holds what it learned since then."""
        return self.run_from if self.run_from is not None else self.times[0]


def price_edges(low: float, high: float, cfg: HeatmapConfig) -> FloatArray:
    """Log-spaced bucket edges covering every liquidation price the bars' range can produce."""
    lo = low * (1.0 - float(cfg.band_edges[-1])) * 0.999
    hi = high * (1.0 + float(cfg.band_edges[-1])) * 1.001
    return np.exp(np.linspace(math.log(lo), math.log(hi), cfg.buckets + 1))


def bucket_centers(edges: FloatArray) -> FloatArray:
    """Each bucket's price: the geometric middle of its edges (the buckets are log-spaced)."""
    return np.sqrt(edges[:-1] * edges[1:])


def leveraged_long_share(rate_8h: FloatArray, log_return: FloatArray, cfg: HeatmapConfig) -> FloatArray:
    """Per hour, the leveraged share of new long USD (shorts get ``2·leveraged_share − it``): tilted toward the
    side funding and the bar's direction say is crowded."""
    tilt = 0.5 * (np.tanh(rate_8h / cfg.funding_scale) + np.tanh(log_return / cfg.return_scale))
    return np.asarray(cfg.leveraged_share + cfg.damping * tilt, dtype=np.float64)


def model_inputs(
    frame: pl.DataFrame,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The model's per-hour inputs of a market frame, in :meth:`MarketBook.fold`'s order: high, low, close, OI
    (coin), OI (USD) — NaN where missing — and the 8h funding rate and traded USD — 0 where missing."""

    fills = {"high": math.nan, "low": math.nan, "close": math.nan, "oi_base": math.nan, "oi_usd": math.nan}
    fills |= {"rate_8h": 0.0, "volume_usd": 0.0}
    present = frame.select(  # one polars pass (a Series method per column costs a query plan each)
        pl.col(name).cast(pl.Float64).fill_null(fill) for name, fill in fills.items() if name in frame.columns
    )
    columns = [
        present[name].to_numpy() if name in present.columns else np.full(frame.height, fill)
        for name, fill in fills.items()
    ]
    return columns[0], columns[1], columns[2], columns[3], columns[4], columns[5], columns[6]


class MarketBook:
    """One market's model state on fixed bucket edges, advanced hour by hour: advancing it over some hours and then
    over the next ones gives exactly one run over all of them (the live radar keeps one per market)."""

    def __init__(self, edges: FloatArray, cfg: HeatmapConfig) -> None:
        n_bands, n_buckets = cfg.n_bands, edges.size - 1
        self.edges, self.cfg = edges, cfg
        self.longs, self.shorts = np.zeros((n_bands, n_buckets)), np.zeros((n_bands, n_buckets))
        self.s_long, self.s_short = np.ones(n_bands + 1), np.ones(n_bands + 1)
        self.t_long, self.t_short = np.zeros(n_bands + 1), np.zeros(n_bands + 1)
        self.top = np.full(n_bands, -1, dtype=np.int64)
        self.bottom = np.full(n_bands, n_buckets, dtype=np.int64)
        self.first_t: datetime | None = None
        self.last_t: datetime | None = None
        self.last_close, self.last_oi, self.last_oi_usd = math.nan, math.nan, math.nan
        self.decay = np.exp(-1.0 / cfg.decay_hours)

    def advance(
        self, frame: pl.DataFrame, record: bool = True, at: Sequence[datetime] | None = None
    ) -> Heatmap:
        """Fold in the rows of ``frame`` after the last hour seen (``t, high, low, close, oi_base, oi_usd,
        rate_8h``, optionally ``volume_usd``); the map keeps every new hour (``record``), the hours in ``at``, or
        the last hour only."""
        f = frame.sort("t")
        if self.last_t is not None:
            f = f.filter(pl.col("t") > self.last_t)
        if f.is_empty():
            raise ValueError("no hour after the book's last one to fold in")
        hours = f["t"]
        if at is not None:
            marks = hours.is_in(list(at)).to_numpy()
        else:
            marks = np.full(f.height, record, dtype=np.bool_)
            marks[-1] = True
        return self.fold(
            (hours[0], hours[-1], hours.filter(pl.Series(marks)).to_list()), marks, *model_inputs(f)
        )

    def fold(
        self,
        hours: tuple[datetime, datetime, list[datetime]],
        marks: npt.NDArray[np.bool_],
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        oi: FloatArray,
        oi_usd: FloatArray,
        rate: FloatArray,
        volume: FloatArray,
    ) -> Heatmap:
        """``advance`` on arrays (hours ascending, after the book's last one; NaN where a value is missing, rate
        and volume 0 there): the live radar folds in one hour per market this way, without a frame per market.
        ``hours``: the first and the last hour folded in, and the hours ``marks`` keeps, in order."""
        new_usd, long_share = new_positions(
            np.concatenate([[self.last_oi], oi[:-1]]),
            np.concatenate([[self.last_close], close[:-1]]),
            (high, low, close, oi, rate, volume),
            self.cfg,
        )
        lg, sg, reserve = self.fold_flows(hours, marks, high, low, close, oi, oi_usd, new_usd, long_share)
        return Heatmap(
            hours[2],
            self.edges,
            lg,
            sg,
            self.long_tiers,
            self.short_tiers,
            float(close[-1]),
            None if np.isnan(oi_usd[-1]) else float(oi_usd[-1]),
            self.cfg.leverage,
            close[marks],
            reserve,
            self.first_t,
        )

    @property
    def long_tiers(self) -> FloatArray:
        """The long book by band (bands × buckets, USD) now."""
        return self.tiers(slice(None), long_side=True)

    @property
    def short_tiers(self) -> FloatArray:
        return self.tiers(slice(None), long_side=False)

    def tiers(self, buckets: slice, long_side: bool) -> FloatArray:
        """One side's book by band over ``buckets`` (bands × those buckets, USD) now."""
        book, scale = (self.longs, self.s_long) if long_side else (self.shorts, self.s_short)
        return book[:, buckets] * scale[: self.cfg.n_bands, None]

    def fold_flows(
        self,
        hours: tuple[datetime, datetime, list[datetime]],
        marks: npt.NDArray[np.bool_],
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        oi: FloatArray,
        oi_usd: FloatArray,
        new_usd: FloatArray,
        long_share: FloatArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``fold`` once each hour's new positions are known (:func:`new_positions`): the kept hours' long and short
        USD by bucket and their hedged reserves (the live radar folds one hour of every market this way, the new
        positions of all of them computed at once)."""
        lg, sg, reserve = _simulate(
            low,
            high,
            close,
            oi_usd,
            self.last_oi_usd,
            new_usd,
            long_share,
            self.edges,
            self.cfg.near,
            self.cfg.far,
            self.cfg.weights,
            self.cfg.leveraged_share,
            self.decay,
            marks.view(np.uint8),
            self.longs,
            self.shorts,
            self.s_long,
            self.s_short,
            self.t_long,
            self.t_short,
            self.top,
            self.bottom,
        )
        first, last, _kept = hours
        self.first_t = first if self.first_t is None else self.first_t
        self.last_t = last
        self.last_close, self.last_oi, self.last_oi_usd = float(close[-1]), float(oi[-1]), float(oi_usd[-1])
        return lg, sg, reserve


def new_positions(
    prev_oi: FloatArray,
    prev_close: FloatArray,
    bars: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    cfg: HeatmapConfig,
) -> tuple[FloatArray, FloatArray]:
    """Each hour's new positions (USD opened on each side: the OI's rise at the bar's typical price plus churn)
    and the leveraged long share, from its bar ``(high, low, close, oi, rate_8h, volume_usd)`` and the OI and close
    of the hour before (elementwise: a market's hours, or one hour of many markets)."""
    high, low, close, oi, rate, volume = bars
    typical = (high + low + close) / 3.0
    delta = np.where(np.isnan(oi) | np.isnan(prev_oi), 0.0, oi - prev_oi)
    new_usd = np.where(delta > 0, delta * typical, 0.0) + cfg.churn * np.nan_to_num(volume)
    ret = np.nan_to_num(np.log(close) - np.log(prev_close))
    return new_usd, leveraged_long_share(rate, ret, cfg)


def simulate_market(
    frame: pl.DataFrame,
    edges: FloatArray,
    cfg: HeatmapConfig,
    record: bool = True,
    at: Sequence[datetime] | None = None,
) -> Heatmap:
    """Run the model over one market's hourly rows (``t, high, low, close, oi_base, oi_usd, rate_8h``) from an
    empty book. The map keeps every hour (``record``), only the hours in ``at`` (each as known at that hour: one run,
    read as it goes), or only the last hour."""
    return MarketBook(edges, cfg).advance(frame, record, at)


def combine(maps: list[Heatmap]) -> Heatmap:
    """Sum venue maps that share their edges (an asset's map), hour by hour over the union of their hours."""
    times = sorted({t for m in maps for t in m.times})
    index = {t: i for i, t in enumerate(times)}
    shape = (len(times), maps[0].edges.size - 1)
    long_usd, short_usd = np.zeros(shape), np.zeros(shape)
    closes = np.full(len(times), np.nan)
    reserve = np.zeros((len(times), 2))
    for m in maps:
        rows = np.asarray([index[t] for t in m.times], dtype=np.int64)
        long_usd[rows] += m.long_usd
        short_usd[rows] += m.short_usd
        if m.reserve is not None:
            reserve[rows] += m.reserve
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
        reserve,
        min(m.start for m in maps),
    )
