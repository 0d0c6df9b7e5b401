"""The measured liquidation map: real positions with the venue's own liquidation prices (dataset ``positions``),
bucketed like the modelled map, with the coverage of the sample stated beside it, and compared with the model.

Everything is point-in-time: a map as of T uses the newest snapshot taken at or before T (within
:data:`SNAPSHOT_WINDOW`), the venue's OI known then, and nothing later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.heatmap import (
    asset_heatmap,
    cumulative_usd,
    dense_buckets,
    load_heatmap_config,
    nearest_pockets,
)
from levradar.analytics.liqmodel import Heatmap, HeatmapConfig, bucket_centers, price_edges
from levradar.store import Store

FloatArray = npt.NDArray[np.float64]
SNAPSHOT_WINDOW = timedelta(hours=6)  # the shared snapshots are ~6 h apart: an older one is not "now"
DISTANCE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class MeasuredMap:
    """One snapshot's measured positions of one asset on one venue, by liquidation-price bucket and side.

    USD is each position's value at the snapshot's mark (size × mark), the unit of one-sided OI; ``coverage_*`` is
    the side's sampled USD over the venue's one-sided OI known at the snapshot (None without OI)."""

    asset: str
    venue: str
    snapshot: datetime
    price: float  # the venue's mark at the snapshot (position value / size)
    edges: FloatArray
    long_usd: FloatArray  # per bucket: USD of long positions whose liquidation price lies in it
    short_usd: FloatArray
    positions: int
    accounts: int
    sampled_long_usd: float  # every sampled long, with or without a liquidation price
    sampled_short_usd: float
    no_price_long_usd: float  # no price liquidates them (collateral covers any move)
    no_price_short_usd: float
    outside_long_usd: float  # a liquidation price beyond the buckets
    outside_short_usd: float
    oi_usd: float | None

    @property
    def coverage_long(self) -> float | None:
        return self.sampled_long_usd / self.oi_usd if self.oi_usd else None

    @property
    def coverage_short(self) -> float | None:
        return self.sampled_short_usd / self.oi_usd if self.oi_usd else None

    @property
    def centers(self) -> FloatArray:
        return bucket_centers(self.edges)


def recent_snapshots(
    store: Store, assets: list[str], as_of: datetime, venues: list[str] | None = None
) -> dict[tuple[str, str], pl.DataFrame]:
    """Per (asset, venue), sorted: the newest snapshot of its positions taken in ``(as_of − SNAPSHOT_WINDOW, as_of]``
    (an older one is not "now"; a later one is not known yet)."""
    newest = _newest(store, assets, as_of, venues)
    return {
        (str(a), str(v)): f for (a, v), f in sorted(newest.group_by("asset", "venue"), key=lambda g: g[0])
    }


def snapshot_positions(store: Store, asset: str, as_of: datetime, venue: str = "hyperliquid") -> pl.DataFrame:
    """The newest snapshot of ``asset``'s positions on ``venue`` in the window before ``as_of`` (empty if none)."""
    return _newest(store, [asset], as_of, [venue])


def _newest(store: Store, assets: list[str], as_of: datetime, venues: list[str] | None) -> pl.DataFrame:
    """The positions of each asset and venue's newest snapshot in ``(as_of − SNAPSHOT_WINDOW, as_of]``."""
    rows = store.read("positions", assets=assets, venues=venues, start=as_of - SNAPSHOT_WINDOW, as_of=as_of)
    return rows.filter(pl.col("ts") == pl.col("ts").max().over("asset", "venue"))


def measured_asset(store: Store, text: str, venue: str) -> str:
    """The stored spelling of an asset with measured positions on ``venue`` (case-blind: ``kpepe`` → ``kPEPE``)."""
    have = store.query("SELECT DISTINCT asset FROM positions WHERE venue = ? ORDER BY asset", [venue])
    names = [str(a) for a in have["asset"].to_list()] if not have.is_empty() else []
    match = [a for a in names if a.lower() == text.lower()]
    if not match:
        listed = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "") if names else "none"
        raise ValueError(f"no measured positions of {text} on {venue}; assets with positions: {listed}")
    return match[0]


def snapshot_times(store: Store, asset: str, venue: str = "hyperliquid") -> list[datetime]:
    """Every snapshot time of ``asset`` on ``venue``, oldest first."""
    frame = store.query(
        "SELECT DISTINCT ts FROM positions WHERE asset = ? AND venue = ? ORDER BY ts", [asset, venue]
    )
    return list(frame["ts"]) if not frame.is_empty() else []


def accounts_at(store: Store, venue: str, when: datetime) -> set[str]:
    """Every account holding a position on ``venue`` in the snapshot taken at ``when``."""
    naive_utc = when.astimezone(UTC).replace(tzinfo=None)  # the store keeps naive UTC times
    frame = store.query(
        "SELECT DISTINCT account FROM positions WHERE venue = ? AND ts = ?", [venue, naive_utc]
    )
    return set(frame["account"].to_list()) if not frame.is_empty() else set()


def oi_usd_at(store: Store, asset: str, venue: str, when: datetime) -> float | None:
    """The venue's one-sided OI in USD known at ``when`` (its newest row at most 2 h old), summed over its markets."""
    oi = store.read(
        "open_interest", assets=[asset], venues=[venue], start=when - timedelta(hours=2), as_of=when
    )
    oi = oi.filter(pl.col("oi_usd").is_not_null())
    if oi.is_empty():
        return None
    newest = oi.sort("ts").group_by("symbol").agg(pl.col("oi_usd").last())
    return float(newest["oi_usd"].sum())


def measured_map(positions: pl.DataFrame, edges: FloatArray, oi_usd: float | None) -> MeasuredMap:
    """Bucket one snapshot's positions (one asset, one venue) by liquidation price on ``edges``."""
    if positions.is_empty():
        raise ValueError("no measured positions in the snapshot")
    if positions["ts"].n_unique() != 1 or positions.select("venue", "asset").n_unique() != 1:
        raise ValueError("a measured map is one snapshot of one asset on one venue")
    usd = positions["position_usd"].fill_null(0.0).to_numpy()
    liq = positions["liquidation_price"].to_numpy().astype(float)  # nulls become NaN
    is_long = (positions["side"] == "long").to_numpy()
    marks = (positions["position_usd"] / positions["qty_base"]).drop_nulls()
    idx = np.searchsorted(edges, liq, side="right") - 1
    inside = ~np.isnan(liq) & (idx >= 0) & (idx < edges.size - 1)
    n = edges.size - 1

    def side_sums(side: npt.NDArray[np.bool_]) -> tuple[FloatArray, float, float, float]:
        book = np.bincount(idx[side & inside], weights=usd[side & inside], minlength=n).astype(float)
        no_price = float(usd[side & np.isnan(liq)].sum())
        outside = float(usd[side & ~np.isnan(liq) & ~inside].sum())
        return book, float(usd[side].sum()), no_price, outside

    longs, shorts = side_sums(is_long), side_sums(~is_long)
    return MeasuredMap(
        asset=str(positions["asset"][0]),
        venue=str(positions["venue"][0]),
        snapshot=positions["ts"][0],
        price=float(marks.median()),  # type: ignore[arg-type]
        edges=edges,
        long_usd=longs[0],
        short_usd=shorts[0],
        positions=positions.height,
        accounts=positions["account"].n_unique(),
        sampled_long_usd=longs[1],
        sampled_short_usd=shorts[1],
        no_price_long_usd=longs[2],
        no_price_short_usd=shorts[2],
        outside_long_usd=longs[3],
        outside_short_usd=shorts[3],
        oi_usd=oi_usd,
    )


def measured_json(m: MeasuredMap, display_range_pct: float) -> dict[str, object]:
    """The measured map as the CLI and the API print it: buckets within ``display_range_pct`` of the price."""
    centers = m.centers
    near = np.abs(centers / m.price - 1.0) * 100.0 <= display_range_pct
    keep = near & ((m.long_usd > 0) | (m.short_usd > 0))
    return {
        "venue": m.venue,
        "snapshot": m.snapshot.isoformat(),
        "price": m.price,
        "positions": m.positions,
        "accounts": m.accounts,
        "oi_usd": m.oi_usd,
        "sampled_long_usd": m.sampled_long_usd,
        "sampled_short_usd": m.sampled_short_usd,
        "coverage_long": m.coverage_long,
        "coverage_short": m.coverage_short,
        "no_liquidation_price_long_usd": m.no_price_long_usd,
        "no_liquidation_price_short_usd": m.no_price_short_usd,
        "beyond_buckets_long_usd": m.outside_long_usd,
        "beyond_buckets_short_usd": m.outside_short_usd,
        "buckets": [
            {"price": float(c), "long_usd": float(lu), "short_usd": float(su)}
            for c, lu, su in zip(centers[keep], m.long_usd[keep], m.short_usd[keep], strict=True)
        ],
    }


# -- the radar's measured pockets ------------------------------------------------------------------------------


def measured_pockets(m: MeasuredMap, cfg: HeatmapConfig) -> dict[str, dict[str, object] | None]:
    """The nearest dense pockets of a measured map by the model's own rule (docs/heatmap.md §2)."""
    none = np.zeros((0, m.edges.size - 1))
    as_map = Heatmap(
        [m.snapshot],
        m.edges,
        m.long_usd[None, :],
        m.short_usd[None, :],
        none,
        none,
        m.price,
        m.oi_usd,
        np.zeros(0),
    )
    pockets = nearest_pockets(as_map, cfg)
    for p in pockets.values():
        if p is not None:
            p.pop("leverage_mix", None)  # the model's bands; a measured pocket has none
    return pockets


def measured_readings(
    store: Store, assets: list[str], as_of: datetime, cfg: HeatmapConfig
) -> dict[str, list[dict[str, object]]]:
    """Per asset, per venue with a snapshot in ``(as_of − SNAPSHOT_WINDOW, as_of]``: the nearest pockets of the
    measured positions (buckets: the model's count over the price ± its widest band), the snapshot and its
    coverage. Assets without such a snapshot are absent."""
    out: dict[str, list[dict[str, object]]] = {}
    for (asset, venue), newest in recent_snapshots(store, assets, as_of).items():
        mark = float((newest["position_usd"] / newest["qty_base"]).median())  # type: ignore[arg-type]
        m = measured_map(
            newest, price_edges(mark, mark, cfg), oi_usd_at(store, str(asset), str(venue), newest["ts"][0])
        )
        out.setdefault(str(asset), []).append(
            {
                "venue": m.venue,
                "source": "measured",
                "snapshot": m.snapshot,
                "price": m.price,
                "positions": m.positions,
                "coverage_long": m.coverage_long,
                "coverage_short": m.coverage_short,
                **measured_pockets(m, cfg),
            }
        )
    return {a: sorted(v, key=lambda r: str(r["venue"])) for a, v in out.items()}


def beside_model(
    store: Store, asset: str, as_of: datetime, model: Heatmap, cfg: HeatmapConfig, venue: str | None = None
) -> list[dict[str, object]]:
    """Per venue (or ``venue``) with a snapshot of ``asset`` in the 6 h up to ``as_of``: the measured map on the
    model's own buckets (``measured_json``), its nearest pockets by the model's rule and its cumulative USD at the
    model's distances — what ``heatmap --measured`` prints beside the modelled map."""
    out: list[dict[str, object]] = []
    for (_, name), newest in recent_snapshots(store, [asset], as_of, [venue] if venue else None).items():
        m = measured_map(newest, model.edges, oi_usd_at(store, asset, str(name), newest["ts"][0]))
        cumulative = cumulative_usd(m.centers, m.long_usd, m.short_usd, m.price)
        out.append(
            {**measured_json(m, cfg.display_range_pct), **measured_pockets(m, cfg), "cumulative": cumulative}
        )
    return out


def on_rows(
    entry: dict[str, object], edges: FloatArray, keep: npt.NDArray[np.intp], merge: int
) -> tuple[FloatArray, FloatArray, float, float]:
    """A :func:`beside_model` entry's buckets on a grid's price rows (``heatmap.grid_buckets``: the model buckets
    ``keep``, ``merge`` adjacent ones summed per row): long and short USD per row, and the long and short USD whose
    bucket the grid does not show (so no dollar is lost)."""
    buckets = entry["buckets"]
    assert isinstance(buckets, list)
    rows = -(-keep.size // merge)
    prices = np.array([float(b["price"]) for b in buckets])
    col = np.searchsorted(edges, prices, side="right") - 1 - (int(keep[0]) if keep.size else 0)
    shown = (col >= 0) & (col < keep.size)
    sums = []
    for side in ("long_usd", "short_usd"):
        usd = np.array([float(b[side]) for b in buckets])
        on_grid = np.bincount(col[shown] // merge, weights=usd[shown], minlength=rows).astype(float)
        sums.append((on_grid, float(usd[~shown].sum())))
    (long_rows, long_out), (short_rows, short_out) = sums
    return long_rows, short_rows, long_out, short_out


# -- measured vs modelled -------------------------------------------------------------------------------------


def nearest_band(centers: FloatArray, price: float, above: bool, width: int) -> npt.NDArray[np.bool_]:
    """The naive band: the ``width`` buckets nearest the price on one side (liquidations sit close to the price)."""
    mask = np.zeros(centers.size, dtype=bool)
    side = np.flatnonzero(centers > price) if above else np.flatnonzero(centers < price)[::-1]
    mask[side[:width]] = True
    return mask


def zone_capture(
    measured: MeasuredMap, model_long: FloatArray, model_short: FloatArray, quantile: float, range_pct: float
) -> dict[str, dict[str, float | int]]:
    """Per side: the share of the measured USD (liquidation prices within ``range_pct`` of the price) that lies in
    the model's dense buckets, and in the naive band of the same number of buckets nearest the price."""
    centers, price = measured.centers, measured.price
    near = np.abs(centers / price - 1.0) * 100.0 <= range_pct
    out: dict[str, dict[str, float | int]] = {}
    for name, above, model, real in (
        ("long", False, model_long, measured.long_usd),
        ("short", True, model_short, measured.short_usd),
    ):
        side = near & ((centers > price) if above else (centers < price))
        dense = dense_buckets(model, quantile, side)
        naive = nearest_band(centers, price, above, int(dense.sum())) & side
        total = float(real[side].sum())
        out[name] = {
            "measured_usd": total,
            "dense_buckets": int(dense.sum()),
            "in_model_dense": float(real[dense].sum()) / total if total > 0 else float("nan"),
            "in_naive_band": float(real[naive].sum()) / total if total > 0 else float("nan"),
        }
    return out


def distance_table(positions: pl.DataFrame) -> pl.DataFrame:
    """Distance from the snapshot's mark to each liquidation price (% of the mark, positive outward), by side and
    leverage group, pooled over the snapshots in ``positions``: position-snapshots, mean USD per snapshot and
    quantiles; ``x_leverage`` = median distance × leverage (≈ 100 % for isolated margin at the maintenance floor,
    more for cross margin)."""
    snapshots = max(1, positions["ts"].n_unique())
    mark = pl.col("position_usd") / pl.col("qty_base")
    rows = positions.filter(pl.col("liquidation_price").is_not_null()).with_columns(
        distance_pct=pl.when(pl.col("side") == "long")
        .then(1.0 - pl.col("liquidation_price") / mark)
        .otherwise(pl.col("liquidation_price") / mark - 1.0)
        * 100.0,
        leverage_group=pl.when(pl.col("leverage") <= 5)
        .then(pl.lit("≤5x"))
        .when(pl.col("leverage") <= 10)
        .then(pl.lit("5–10x"))
        .when(pl.col("leverage") <= 20)
        .then(pl.lit("10–20x"))
        .otherwise(pl.lit(">20x")),
    )
    return (
        rows.group_by("side", "leverage_group")
        .agg(
            pl.col("leverage").min().alias("_lowest"),
            pl.len().alias("position_snapshots"),
            (pl.col("position_usd").sum() / snapshots).alias("usd_per_snapshot"),
            *(pl.col("distance_pct").quantile(q).alias(f"p{round(q * 100)}_pct") for q in DISTANCE_QUANTILES),
            (pl.col("distance_pct") * pl.col("leverage")).median().alias("x_leverage_pct"),
        )
        .sort("side", "_lowest")
        .drop("_lowest")
    )


def band_shares(positions: pl.DataFrame, band_edges: FloatArray) -> list[float]:
    """Share of the measured USD (liquidation prices within the model's bands) per model distance band, measured
    from the mark: the figure the model's band weights are compared with (docs/heatmap.md)."""
    mark = pl.col("position_usd") / pl.col("qty_base")
    distance = (pl.col("liquidation_price") / mark - 1.0).abs()
    rows = positions.filter(pl.col("liquidation_price").is_not_null()).with_columns(d=distance)
    usd = rows["position_usd"].to_numpy()
    band = np.searchsorted(band_edges, rows["d"].to_numpy(), side="right") - 1
    ok = (band >= 0) & (band < band_edges.size - 1)
    sums = np.bincount(band[ok], weights=usd[ok], minlength=band_edges.size - 1)
    total = float(sums.sum())
    return [float(s) / total if total > 0 else float("nan") for s in sums]


def fate(
    before: pl.DataFrame, after: pl.DataFrame, seen: set[str], low: float | None, high: float | None
) -> dict[str, float]:
    """What became of ``before``'s positions with a liquidation price by the next snapshot (``after``: its
    positions of the same asset; ``seen``: every account holding any position in it), in USD at ``before``'s
    marks. Only accounts seen again count (the sampled lists change: an account that left them says nothing):
    ``kept`` (still open), ``consumed`` (gone, and the price path between the snapshots — ``low``/``high`` —
    crossed its liquidation price), ``closed`` (gone otherwise); ``added``: new positions of the accounts of
    ``before`` (USD at ``after``'s marks); ``unobserved``: accounts not seen again."""
    key = ["account", "symbol", "side"]
    priced = before.filter(pl.col("liquidation_price").is_not_null())
    stayed = priced.filter(pl.col("account").is_in(list(seen)))
    still = stayed.join(after.select(key), on=key, how="semi")
    gone = stayed.join(after.select(key), on=key, how="anti")
    if low is None or high is None:  # no price path between the snapshots: nothing can be called consumed
        consumed = gone.clear()
    else:
        long_hit = (pl.col("side") == "long") & (pl.col("liquidation_price") >= low)
        short_hit = (pl.col("side") == "short") & (pl.col("liquidation_price") <= high)
        consumed = gone.filter(long_hit | short_hit)
    added = after.filter(pl.col("account").is_in(before["account"].unique().to_list())).join(
        before.select(key), on=key, how="anti"
    )

    def usd(frame: pl.DataFrame) -> float:
        return float(frame["position_usd"].sum()) if not frame.is_empty() else 0.0

    return {
        "kept_usd": usd(still),
        "consumed_usd": usd(consumed),
        "closed_usd": usd(gone) - usd(consumed),
        "added_usd": usd(added),
        "unobserved_usd": usd(priced) - usd(stayed),
    }


# -- the comparison report (levradar validate positions) ---------------------------------------------------------


def path_range(
    store: Store, asset: str, venue: str, start: datetime, end: datetime
) -> tuple[float, float] | None:
    """Lowest low and highest high of ``venue``'s 1 h bars overlapping ``(start, end]`` (None without bars)."""
    bars = store.read(
        "candles", assets=[asset], venues=[venue], interval="1h", start=start - timedelta(hours=1), end=end
    )
    bars = bars.filter((pl.col("ts") < end) & (pl.col("ts") + timedelta(hours=1) > start))
    if bars.is_empty():
        return None
    return float(bars["low"].min()), float(bars["high"].max())  # type: ignore[arg-type]


def compare(
    store: Store,
    asset: str,
    *,
    venue: str = "hyperliquid",
    days: int = 90,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, object]:
    """Measured vs modelled, snapshot by snapshot: zone capture against the naive band, distances by side and
    leverage, measured band shares beside the model's band weights, and what became of the measured levels before
    the next snapshot. The model map at each snapshot is computed as of that snapshot (point-in-time)."""
    from levradar.evaluation.stats import mean_interval

    cfg = load_heatmap_config()
    times = [
        t
        for t in snapshot_times(store, asset, venue)
        if (start is None or t >= start) and (end is None or t <= end)
    ]
    if not times:
        raise ValueError(f"no measured positions of {asset} on {venue} in the period")
    rows: list[dict[str, object]] = []
    snapshots: list[pl.DataFrame] = []
    for t in times:
        positions = store.read("positions", assets=[asset], venues=[venue], start=t, end=t)
        snapshots.append(positions)
        try:
            model = asset_heatmap(store, asset, t, days=days, venue=venue, cfg=cfg, grid=False)
        except ValueError as exc:  # no hourly data or OI before this snapshot: said, not skipped in silence
            rows.append({"snapshot": t.isoformat(), "model": str(exc)})
            continue
        m = measured_map(positions, model.map.edges, oi_usd_at(store, asset, venue, t))
        capture = zone_capture(
            m, model.map.long_usd[-1], model.map.short_usd[-1], cfg.pocket_quantile, cfg.display_range_pct
        )
        rows.append(
            {
                "snapshot": t.isoformat(),
                "model_hour": model.map.times[-1].isoformat(),
                "price": m.price,
                "positions": m.positions,
                "coverage_long": m.coverage_long,
                "coverage_short": m.coverage_short,
                "capture": capture,
            }
        )
    fates = []
    for (t0, before), (t1, after) in pairwise(zip(times, snapshots, strict=True)):
        rng = path_range(store, asset, venue, t0, t1)
        seen = accounts_at(store, venue, t1)
        fates.append(
            fate(before, after, seen, *(rng or (None, None))) | {"from": t0.isoformat(), "to": t1.isoformat()}
        )
    pooled = pl.concat(snapshots)
    summary: dict[str, object] = {}
    for side in ("long", "short"):
        dense = np.array([_capture(r, side, "in_model_dense") for r in rows])
        naive = np.array([_capture(r, side, "in_naive_band") for r in rows])
        diff = mean_interval(dense - naive)
        summary[side] = {
            "snapshots": int(np.isfinite(dense - naive).sum()),
            "in_model_dense_mean": float(np.nanmean(dense)) if np.isfinite(dense).any() else None,
            "in_naive_band_mean": float(np.nanmean(naive)) if np.isfinite(naive).any() else None,
            "difference": {"estimate": diff.estimate, "low": diff.low, "high": diff.high, "p": diff.p},
        }
    fate_totals = {
        k: float(sum(float(f[k]) for f in fates))
        for k in ("kept_usd", "consumed_usd", "closed_usd", "added_usd", "unobserved_usd")
    }
    return {
        "asset": asset,
        "venue": venue,
        "snapshots": len(times),
        "first": times[0].isoformat(),
        "last": times[-1].isoformat(),
        "zone_capture": summary,
        "distances": distance_table(pooled).to_dicts(),
        "band_shares": {
            "bands_pct": [float(e) * 100.0 for e in cfg.band_edges],
            "measured": band_shares(pooled, cfg.band_edges),
            "model_weights": [float(w) for w in cfg.weights],
        },
        "fate": fate_totals,
        "per_snapshot": rows,
        "per_interval": fates,
    }


def _capture(row: dict[str, object], side: str, key: str) -> float:
    capture = row.get("capture")
    if not isinstance(capture, dict):
        return float("nan")
    return float(capture[side][key])
