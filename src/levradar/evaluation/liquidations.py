"""``levradar validate liquidations``: the liquidation model against realised liquidations, point-in-time.

For every period of a realised-liquidations file (``ts`` = period start, ``asset``, ``long_usd``, ``short_usd``;
long = longs liquidated), the model's state **at the period's open** (one run per market, read as it goes: the map at
an hour uses nothing after it) gives:

- ``swept_long_usd`` / ``swept_short_usd``: the USD of modelled long (short) levels between the open and the
  period's actual low (high) — the same-period test: does the map know *where* liquidations sit?
- ``fuel_1pct_usd`` / ``fuel_2pct_usd``: modelled long USD within 1 % (2 %) below the open plus short USD within
  1 % (2 %) above — the fuel near the price, ex ante;
- ``forecast_long_usd`` / ``forecast_short_usd``: the radar's ex-ante forecast of the period's forced flow
  (analytics/forecast.py);
- ``lsi`` / ``fragility`` at the open (the radar's hourly read).

Naive baselines on the same periods: the move to the low (high), the move × OI, the high-low range, the previous
period's realised total, and the trailing 7-day mean range. Reported per asset and pooled: Spearman correlations with
the realised long, short and total, each model measure's difference to each baseline with a studentized
stationary-bootstrap 95 % interval (blocks of random length whose mean comes from the data's autocorrelation,
drawn within each asset, so neighbouring periods move together; ``_block_ci``), and the partial Spearman of the
model given the baselines (rank residuals). Periods without a price, a book or a read are listed as skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from levradar.analytics.config import SignalConfig, load_config
from levradar.analytics.forecast import BookAt, HourlyVol, forced_flow_forecast
from levradar.analytics.heatmap import (
    HeatmapConfig,
    combine,
    load_heatmap_config,
    price_edges,
    simulate_market,
)
from levradar.analytics.scan import history
from levradar.analytics.series import load_markets
from levradar.evaluation.stats import (
    batch_se,
    batch_starts,
    bootstrap_t_interval,
    grouped_stationary_indices,
    optimal_block_length,
    spearman_difference,
)
from levradar.ingest.normalize import InputError
from levradar.store import Store

FloatArray = npt.NDArray[np.float64]
PERIODS = {"1h": 1, "4h": 4, "1d": 24}
REQUIRED = ("ts", "asset", "long_usd", "short_usd")
MODEL_COLUMNS = (
    "swept_long_usd",
    "swept_short_usd",
    "fuel_1pct_usd",
    "fuel_2pct_usd",
    "forecast_long_usd",
    "forecast_short_usd",
    "lsi",
    "fragility",
)
BASELINES = (
    "move_to_low",
    "move_to_high",
    "range",
    "move_to_low_x_oi",
    "move_to_high_x_oi",
    "range_x_oi",
    "prev_total_usd",
    "trailing_7d_range",
)
WARMUP_DAYS = 60
BOOTSTRAP = 1000
# which model measure is judged against which target and which baselines (the tests)
COMPARISONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "swept_long_usd": ("long", ("move_to_low", "move_to_low_x_oi", "range")),
    "swept_short_usd": ("short", ("move_to_high", "move_to_high_x_oi", "range")),
    "swept_total_usd": ("total", ("range", "range_x_oi")),
    "fuel_1pct_usd": ("total", ("prev_total_usd", "trailing_7d_range")),
    "fuel_2pct_usd": ("total", ("prev_total_usd", "trailing_7d_range")),
    "forecast_long_usd": ("long", ("prev_total_usd", "trailing_7d_range")),
    "forecast_short_usd": ("short", ("prev_total_usd", "trailing_7d_range")),
    "forecast_total_usd": ("total", ("prev_total_usd", "trailing_7d_range")),
    "lsi": ("total", ("prev_total_usd", "trailing_7d_range")),
    "fragility": ("total", ("prev_total_usd", "trailing_7d_range")),
}


def read_realised(path: Path, mapping: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The realised file as ``ts`` (UTC), ``asset``, ``long_usd``, ``short_usd``; clear errors on bad input."""
    suffix = path.suffix.lower()
    try:
        raw = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), None, None, f"cannot read realised liquidations ({exc})") from exc
    if mapping:
        raw = raw.rename({k: v for k, v in mapping.items() if k in raw.columns})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(
            str(path),
            None,
            missing[0],
            f"required column missing (have {', '.join(raw.columns)}; --map SRC=DST)",
        )
    ts = raw.schema["ts"]
    when = pl.col("ts").cast(pl.String).str.to_datetime(time_zone="UTC", strict=False)
    if isinstance(ts, pl.Datetime):
        when = pl.col("ts").dt.replace_time_zone("UTC") if ts.time_zone is None else pl.col("ts")
    frame = raw.with_row_index("_row", offset=1).select(
        "_row",
        when.dt.convert_time_zone("UTC").alias("ts"),
        pl.col("asset").cast(pl.String).str.to_uppercase(),
        pl.col("long_usd").cast(pl.Float64, strict=False),
        pl.col("short_usd").cast(pl.Float64, strict=False),
    )
    for col in ("ts", "asset", "long_usd", "short_usd"):
        bad = frame.filter(pl.col(col).is_null())
        if not bad.is_empty():
            raise InputError(str(path), int(bad["_row"][0]), col, "missing or not a valid value")
    for col in ("long_usd", "short_usd"):
        bad = frame.filter(~pl.col(col).is_finite() | (pl.col(col) < 0))
        if not bad.is_empty():
            raise InputError(
                str(path), int(bad["_row"][0]), col, f"must be a finite USD amount >= 0, got {bad[col][0]}"
            )
    dup = frame.filter(pl.struct("ts", "asset").is_duplicated())
    if not dup.is_empty():
        raise InputError(str(path), int(dup["_row"][0]), "ts", "the same asset and period appears twice")
    return frame.drop("_row").sort("asset", "ts")


@dataclass(frozen=True)
class Span:
    period: timedelta
    start: datetime | None
    end: datetime | None


def period_rows(
    store: Store,
    realised: pl.DataFrame,
    span: Span,
    assets: Sequence[str] | None = None,
    heat: HeatmapConfig | None = None,
    signals: SignalConfig | None = None,
    reads: bool = True,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """One row per (asset, period) with realised, model and baseline values; and the periods skipped, with why.
    Without ``reads`` the radar's LSI and fragility are left out (the calibration needs only the model)."""
    heat = heat or load_heatmap_config()
    signals = signals or load_config()
    frame = realised
    if assets:
        frame = frame.filter(pl.col("asset").is_in([a.upper() for a in assets]))
    if span.start is not None:
        frame = frame.filter(pl.col("ts") >= span.start)
    if span.end is not None:
        frame = frame.filter(pl.col("ts") <= span.end)
    rows, skipped = [], []
    for (asset,), part in frame.group_by(["asset"], maintain_order=True):
        got, why = _asset_rows(store, str(asset), part, span.period, heat, signals if reads else None)
        rows.append(got)
        skipped.extend(why)
    kept = [r for r in rows if not r.is_empty()]
    out = pl.concat(kept, how="diagonal_relaxed") if kept else pl.DataFrame()
    return out, skipped


def _asset_rows(
    store: Store,
    asset: str,
    realised: pl.DataFrame,
    period: timedelta,
    heat: HeatmapConfig,
    signals: SignalConfig | None,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    opens = realised["ts"].to_list()
    first, last = min(opens), max(opens)
    markets = load_markets(store, first - timedelta(days=WARMUP_DAYS), last + period, [asset])
    hourly = markets.filter(pl.col("bar_hours") == 1)
    skipped: list[dict[str, Any]] = []
    if hourly.is_empty():
        return pl.DataFrame(), [{"asset": asset, "ts": t, "why": "no 1h bars in the store"} for t in opens]
    path = _price_path(hourly)
    vol = HourlyVol.of_path(path)
    book = _books(hourly, opens, heat)
    if signals is not None:
        reads = history(store, asset, first, last, signals).select("t", "lsi", "fragility", "oi_usd")
    else:  # the model alone: OI from the markets (one-sided, summed over venues)
        reads = (
            hourly.group_by("t")
            .agg(pl.col("oi_usd").sum())
            .with_columns(lsi=pl.lit(None, pl.Float64), fragility=pl.lit(None, pl.Float64))
        )
    rows = []
    for r in realised.iter_rows(named=True):
        t = r["ts"]
        window = path.filter((pl.col("t") > t) & (pl.col("t") <= t + period))
        opened = path.filter(pl.col("t") == t)
        if opened.is_empty() or window.height < max(1, int(period / timedelta(hours=1)) // 2):
            skipped.append(
                {"asset": asset, "ts": t, "why": "no price at the open or half the period's bars missing"}
            )
            continue
        at = book.get(t)
        if at is None:
            skipped.append(
                {"asset": asset, "ts": t, "why": "no open interest (no modelled book) at the open"}
            )
            continue
        price = float(opened["close"][0])
        low, high = float(window["low"].min()), float(window["high"].max())  # type: ignore[arg-type]
        read = reads.filter(pl.col("t") == t)
        forecast = forced_flow_forecast(at, price, vol.at(t, period), period)
        rows.append(
            {
                "ts": t,
                "asset": asset,
                "realised_long_usd": r["long_usd"],
                "realised_short_usd": r["short_usd"],
                "price": price,
                "low": low,
                "high": high,
                "swept_long_usd": at.long_between(low, price),
                "swept_short_usd": at.short_between(price, high),
                "fuel_1pct_usd": at.long_between(price * 0.99, price) + at.short_between(price, price * 1.01),
                "fuel_2pct_usd": at.long_between(price * 0.98, price) + at.short_between(price, price * 1.02),
                "forecast_long_usd": forecast.long_usd,
                "forecast_short_usd": forecast.short_usd,
                "lsi": None if read.is_empty() else read["lsi"][0],
                "fragility": None if read.is_empty() else read["fragility"][0],
                "oi_usd": None if read.is_empty() else read["oi_usd"][0],
            }
        )
    if not rows:
        return pl.DataFrame(), skipped
    out = pl.DataFrame(rows, infer_schema_length=None).sort("ts")
    return _with_baselines(out, period), skipped


def _price_path(hourly: pl.DataFrame) -> pl.DataFrame:
    """The asset's hourly bars from one venue (the first in the price order with a bar that hour)."""
    order = {"binance": 0, "bybit": 1, "okx": 2, "hyperliquid": 3}
    return (
        hourly.with_columns(_r=pl.col("venue").replace_strict(order, default=9, return_dtype=pl.Int32))
        .sort("t", "_r")
        .unique(subset=["t"], keep="first", maintain_order=True)
        .select("t", "close", "high", "low")
    )


def _books(hourly: pl.DataFrame, opens: list[datetime], heat: HeatmapConfig) -> dict[datetime, BookAt]:
    """The asset's book at each open: one run per venue market, read at the opens, summed on shared edges.

    The edges span the first bar's price ÷ 10 … × 10: chosen from the first bar only (nothing later decides the
    grid), fine enough (0.25 % per bucket) for the ±1 % fuel."""
    first = float(hourly.sort("t")["close"][0])
    reach = float(heat.band_edges[-1])
    n = int(math.log(100.0 * (1 + reach) / (1 - reach)) / 0.0025)
    edges = price_edges(first / 10.0, first * 10.0, _with_buckets(heat, n))
    maps = []
    for (_venue, _symbol), frame in hourly.sort("venue", "symbol", "t").group_by(
        ["venue", "symbol"], maintain_order=True
    ):
        if frame["oi_base"].drop_nulls().is_empty():
            continue
        maps.append(simulate_market(frame, edges, heat, at=opens))
    if not maps:
        return {}
    hm = combine(maps)
    return {
        t: BookAt(edges, hm.long_usd[i], hm.short_usd[i])
        for i, t in enumerate(hm.times)
        if hm.long_usd[i].sum() + hm.short_usd[i].sum() > 0
    }


def _with_buckets(heat: HeatmapConfig, buckets: int) -> HeatmapConfig:
    from dataclasses import replace

    return replace(heat, buckets=buckets)


def _with_baselines(frame: pl.DataFrame, period: timedelta) -> pl.DataFrame:
    hours = int(period / timedelta(hours=1))
    trailing = max(1, int(timedelta(days=7) / period))
    return frame.with_columns(
        realised_total_usd=pl.col("realised_long_usd") + pl.col("realised_short_usd"),
        swept_total_usd=pl.col("swept_long_usd") + pl.col("swept_short_usd"),
        forecast_total_usd=pl.col("forecast_long_usd") + pl.col("forecast_short_usd"),
        move_to_low=1.0 - pl.col("low") / pl.col("price"),
        move_to_high=pl.col("high") / pl.col("price") - 1.0,
        range=(pl.col("high") - pl.col("low")) / pl.col("price"),
    ).with_columns(
        move_to_low_x_oi=pl.col("move_to_low") * pl.col("oi_usd"),
        move_to_high_x_oi=pl.col("move_to_high") * pl.col("oi_usd"),
        range_x_oi=pl.col("range") * pl.col("oi_usd"),
        # the previous period's realised total: only where it is the period right before
        prev_total_usd=pl.when(pl.col("ts").diff() == timedelta(hours=hours)).then(
            pl.col("realised_total_usd").shift(1)
        ),
        trailing_7d_range=pl.col("range").shift(1).rolling_mean(trailing, min_samples=max(1, trailing // 2)),
    )


# -- statistics ---------------------------------------------------------------------------------------------


def _spearman(x: FloatArray, y: FloatArray) -> float | None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 10 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def _partial_spearman(x: FloatArray, y: FloatArray, controls: FloatArray) -> float | None:
    """Spearman of ``x`` and ``y`` once the ranks of ``controls`` (columns) are regressed out of both."""
    ok = np.isfinite(x) & np.isfinite(y) & np.all(np.isfinite(controls), axis=1)
    if ok.sum() < 20:
        return None
    rx, ry = stats.rankdata(x[ok]), stats.rankdata(y[ok])
    rc = np.column_stack([np.ones(ok.sum()), *[stats.rankdata(c) for c in controls[ok].T]])
    ex = rx - rc @ np.linalg.lstsq(rc, rx, rcond=None)[0]
    ey = ry - rc @ np.linalg.lstsq(rc, ry, rcond=None)[0]
    if np.std(ex) == 0 or np.std(ey) == 0:
        return None
    return float(np.corrcoef(ex, ey)[0, 1])


def _block_ci(
    x: FloatArray,
    base: FloatArray,
    y: FloatArray,
    groups: npt.NDArray[np.int64],
    seed: int = 7,
    resamples: int = BOOTSTRAP,
) -> tuple[float | None, float | None]:
    """95 % interval of spearman(x, y) − spearman(base, y): a studentized stationary bootstrap
    (evaluation/stats.py). ``groups`` labels each row's asset (rows of one asset in time order); every asset is
    resampled within itself with its own mean block length (Politis–White, from the autocorrelation of the
    difference's influence series) and the assets concatenated, so no block straddles two assets. The standard
    error is the batch-means one of the difference's influence series (Spearman's influence function; batches of
    about four mean block lengths, within each asset), recomputed on every resample; resamples re-rank (ties from
    repeated periods are fine for Spearman)."""
    ok = np.isfinite(x) & np.isfinite(base) & np.isfinite(y)
    x, base, y, groups = x[ok], base[ok], y[ok], groups[ok]
    n = x.size
    if n < 20:
        return None, None
    order = np.argsort(groups, kind="stable")  # each asset's rows together, in their (time) order
    x, base, y, groups = x[order], base[order], y[order], groups[order]
    d, infl = spearman_difference(x, base, y)
    diff = float(d)
    if not np.isfinite(diff):
        return None, None
    labels, first = np.unique(groups, return_index=True)
    sizes = np.diff(np.append(first, n))
    blocks = {int(g): optimal_block_length(infl[groups == g]) for g in labels}
    starts = np.concatenate(
        [batch_starts(int(k), blocks[int(g)], int(f)) for g, f, k in zip(labels, first, sizes, strict=True)]
    )
    se = float(batch_se(infl, n, starts))
    rng = np.random.default_rng(seed)
    boot, boot_se = [], []
    chunk = max(1, min(resamples, 1_000_000 // n))
    for done in range(0, resamples, chunk):
        pick = grouped_stationary_indices(groups, blocks, min(chunk, resamples - done), rng)
        bd, b_infl = spearman_difference(x[pick], base[pick], y[pick])
        boot.append(bd)
        boot_se.append(batch_se(b_infl, n, starts))
    lo, hi, _ = bootstrap_t_interval(diff, se, np.concatenate(boot), np.concatenate(boot_se))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None, None
    return float(lo), float(hi)


def statistics(rows: pl.DataFrame) -> dict[str, Any]:
    """Per asset and pooled: Spearman of every measure and baseline against each realised target, the model's
    differences to its baselines with block-bootstrap intervals, and partial Spearman given the baselines."""
    groups: dict[str, pl.DataFrame] = {str(a): f for (a,), f in rows.group_by(["asset"], maintain_order=True)}
    if len(groups) > 1:
        groups["pooled"] = rows
    return {name: _group_stats(frame) for name, frame in sorted(groups.items())}


def _group_stats(frame: pl.DataFrame) -> dict[str, Any]:
    targets = {t: frame[f"realised_{t}_usd"].cast(pl.Float64).to_numpy() for t in ("long", "short", "total")}
    assets = frame["asset"].rank("dense").cast(pl.Int64).to_numpy()  # rows: per asset, in time order

    def col(name: str) -> FloatArray:
        return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    measures = [*MODEL_COLUMNS, "swept_total_usd", "forecast_total_usd"]
    spearman = {
        target: {m: _spearman(col(m), y) for m in [*measures, *BASELINES]} for target, y in targets.items()
    }
    tests = []
    for measure, (target, baselines) in COMPARISONS.items():
        y, x = targets[target], col(measure)
        vs = []
        for base in baselines:
            lo, hi = _block_ci(x, col(base), y, assets)
            rho_m, rho_b = spearman[target][measure], spearman[target][base]
            vs.append(
                {
                    "baseline": base,
                    "rho_baseline": rho_b,
                    "difference": None if rho_m is None or rho_b is None else rho_m - rho_b,
                    "ci95": [lo, hi],
                    "beats_baseline": lo is not None and lo > 0,
                }
            )
        tests.append(
            {
                "measure": measure,
                "target": target,
                "rho_model": spearman[target][measure],
                "partial_given_baselines": _partial_spearman(
                    x, y, np.column_stack([col(b) for b in baselines])
                ),
                "vs": vs,
            }
        )
    return {"n": frame.height, "spearman": spearman, "tests": tests}


def validate(
    store: Store, realised: pl.DataFrame, span: Span, assets: Sequence[str] | None = None
) -> dict[str, Any]:
    rows, skipped = period_rows(store, realised, span, assets)
    if rows.is_empty():
        raise ValueError("no period of the file has a price and a modelled book in the store")
    periods = rows.select(
        "ts",
        "asset",
        "realised_long_usd",
        "realised_short_usd",
        *MODEL_COLUMNS,
        *BASELINES,
    )
    return {
        "period_hours": span.period / timedelta(hours=1),
        "from": rows["ts"].min(),
        "to": rows["ts"].max(),
        "assets": sorted(rows["asset"].unique().to_list()),
        "statistics": statistics(rows),
        "skipped": skipped,
        "periods": periods.to_dicts(),
    }
