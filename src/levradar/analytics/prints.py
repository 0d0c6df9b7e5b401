"""Real liquidation prints over the modelled map: what the store recorded, point in time, ready for drawing.

The heatmap (``levradar.analytics.heatmap``) is a model of where positions *would* be force-closed; the prints are
the forced orders the venues reported (dataset ``liquidations``: ``liquidated_side`` is the side of the position
that was liquidated). Drawn over the map they show whether liquidations happened where the model said.

One read per map: every print of the asset from the map's first hour to its as-of (``Store.read(...,
as_of=...)``: nothing stamped later), optionally only some venues. Up to ``max_points`` prints are drawn one by one;
beyond that they are summed per hour × price bucket of the map's grid (and, should that still be too many, per
2, 4, … hours × buckets), each sum drawn at the USD-weighted time and price of its prints, so a chart's JSON stays
small. Totals are always over every print, never over what was
drawn. Binance and OKX stream at most one liquidation per symbol per second (``sampled``), so their totals are a
lower bound of what was liquidated; the note says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.heatmap import Heatmap
from levradar.store import Store

MAX_POINTS = 3000  # drawn one by one up to this many prints; beyond, summed per hour × price bucket
SIDES = ("long", "short")
SIDE_LABELS = {"long": "longs liquidated", "short": "shorts liquidated"}  # the legend entries
VENUE_NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX", "hyperliquid": "Hyperliquid"}
POINT_SCHEMA = pl.Schema(
    [
        ("t", pl.Datetime("us", "UTC")),
        ("price", pl.Float64()),
        ("side", pl.String()),
        ("usd", pl.Float64()),
        ("count", pl.Int64()),
        ("venues", pl.String()),
    ]
)


def venue_name(venue: str) -> str:
    return VENUE_NAMES.get(venue, venue)


def short_usd(v: float) -> str:
    """$950, $12.3k, $50k, $4.56M, $1.2B."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            digits = f"{v / size:,.{2 if size > 1e3 else 1}f}".rstrip("0").rstrip(".")
            return f"${digits}{unit}"
    return f"${v:,.0f}"


@dataclass(frozen=True)
class SideTotal:
    count: int
    usd: float


@dataclass(frozen=True)
class Prints:
    """The real prints of one asset over one map's window, as drawn (``points``) and in total (``totals``)."""

    asset: str
    start: datetime  # the map's first hour
    as_of: datetime  # the map's as-of: nothing stamped later was read
    venue_filter: list[str] | None  # only these venues' prints (None: every venue)
    points: pl.DataFrame  # POINT_SCHEMA: one row per print, or per (hours × buckets) bin and side
    totals: dict[str, SideTotal]  # "long", "short": every print in the window
    venues: dict[str, int]  # prints per venue
    sampled_venues: list[str]  # venues whose feed is sampled (at most one print per symbol per second)
    bin_hours: int  # 0: one point per print; else points are sums over this many hours …
    bin_buckets: int  # … × this many of the map's price buckets

    @property
    def count(self) -> int:
        return sum(t.count for t in self.totals.values())

    @property
    def usd(self) -> float:
        return sum(t.usd for t in self.totals.values())

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def aggregated(self) -> bool:
        return self.bin_hours > 0

    def side(self, side: str) -> pl.DataFrame:
        """The points of one side (``long`` or ``short``), in time order."""
        return self.points.filter(pl.col("side") == side)

    @property
    def bin_text(self) -> str:
        if not self.aggregated:
            return "one marker per print"
        hours = "hour" if self.bin_hours == 1 else f"{self.bin_hours} h"
        buckets = "price bucket" if self.bin_buckets == 1 else f"{self.bin_buckets} price buckets"
        return f"summed per {hours} × {buckets}"

    def sampled_text(self) -> str:
        if not self.sampled_venues:
            return ""
        names = " and ".join(venue_name(v) for v in self.sampled_venues)
        return f"{names} prints are sampled (at most one per symbol per second): a lower bound"

    def note(self) -> str:
        """One line for a title or a table: counts and USD per side, where they come from, the sampling."""
        if self.empty:
            where = f" on {', '.join(self.venue_filter)}" if self.venue_filter else ""
            return f"no liquidation prints in the store for this period{where}"
        sides = ", ".join(
            f"{SIDE_LABELS[s]} {self.totals[s].count:,} ({short_usd(self.totals[s].usd)})" for s in SIDES
        )
        parts = [f"real prints ({', '.join(venue_name(v) for v in self.venues)}): {sides}"]
        if self.aggregated:
            parts.append(f"{self.count:,} prints {self.bin_text}")
        if self.sampled_venues:
            parts.append(self.sampled_text())
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.as_of,
            "venue_filter": self.venue_filter,
            "count": self.count,
            "usd": self.usd,
            "long": {"count": self.totals["long"].count, "usd": self.totals["long"].usd},
            "short": {"count": self.totals["short"].count, "usd": self.totals["short"].usd},
            "venues": self.venues,
            "sampled": bool(self.sampled_venues),
            "sampled_venues": self.sampled_venues,
            "points": self.points.height,
            "aggregated": {"hours": self.bin_hours, "buckets": self.bin_buckets} if self.aggregated else None,
            "note": self.note(),
        }


def _bins(
    frame: pl.DataFrame, start: datetime, edges: npt.NDArray[np.float64], hours: int, buckets: int
) -> pl.DataFrame:
    """Sum prints per ``hours`` (counted from ``start``) × ``buckets`` adjacent price buckets × side; each point
    sits at the USD-weighted time and price of its prints (so inside its bin, and never after the last print)."""
    bucket = np.clip(np.searchsorted(edges, frame["price"].to_numpy(), side="right") - 1, 0, edges.size - 2)
    origin = pl.lit(start, dtype=pl.Datetime("us", "UTC"))
    usd = pl.col("notional_usd")
    return (
        frame.with_columns(
            since=(pl.col("ts") - origin).dt.total_microseconds(),
            bucket=pl.Series(bucket // buckets, dtype=pl.Int64),
        )
        .with_columns(hour=pl.col("since") // (hours * 3_600_000_000))
        .group_by("hour", "bucket", "liquidated_side")
        .agg(
            since=(pl.col("since") * usd).sum() / usd.sum(),
            price=(pl.col("price") * usd).sum() / usd.sum(),
            usd=usd.sum(),
            count=pl.len().cast(pl.Int64),
            venues=pl.col("venue").unique().sort().str.join(", "),
        )
        .select(
            t=origin + pl.duration(microseconds=pl.col("since").round().cast(pl.Int64)),
            price="price",
            side="liquidated_side",
            usd="usd",
            count="count",
            venues="venues",
        )
        .sort("t", "side", "price")
    )


def liquidation_prints(
    store: Store,
    asset: str,
    hm: Heatmap,
    as_of: datetime,
    *,
    venues: Sequence[str] | None = None,
    max_points: int | None = None,
) -> Prints:
    """The real prints of ``asset`` from the map's first hour to ``as_of`` (as known then), for drawing over
    ``hm``: one point per print up to ``max_points``, else sums per hour × bucket of the map's grid (coarser by
    powers of two until at most ``max_points`` remain; default ``MAX_POINTS``). Totals per side are over every
    print."""
    max_points = MAX_POINTS if max_points is None else max_points
    start = hm.start
    chosen = sorted(set(venues)) if venues else None
    frame = store.read("liquidations", assets=[asset], venues=chosen, start=start, as_of=as_of)
    frame = frame.filter((pl.col("price") > 0) & (pl.col("notional_usd") > 0)).sort(
        "ts", "venue", "symbol", "seq"
    )
    totals = {}
    for side in SIDES:
        rows = frame.filter(pl.col("liquidated_side") == side)
        totals[side] = SideTotal(rows.height, float(rows["notional_usd"].sum()) if rows.height else 0.0)
    per_venue = frame.group_by("venue").len().sort("venue")
    sampled = frame.filter(pl.col("sampled"))["venue"].unique().sort().to_list()
    hours = buckets = 0
    if frame.height <= max_points:
        points = frame.select(
            t="ts",
            price="price",
            side="liquidated_side",
            usd="notional_usd",
            count=pl.lit(1, dtype=pl.Int64),
            venues="venue",
        )
    else:
        hours = buckets = 1
        points = _bins(frame, start, hm.edges, hours, buckets)
        while points.height > max(max_points, len(SIDES)):  # one bin over everything leaves one point a side
            hours, buckets = hours * 2, buckets * 2
            points = _bins(frame, start, hm.edges, hours, buckets)
    return Prints(
        asset,
        start,
        as_of,
        chosen,
        points.cast(dict(POINT_SCHEMA)),  # type: ignore[arg-type]
        totals,
        {str(v): int(n) for v, n in per_venue.iter_rows()},
        [str(v) for v in sampled],
        hours,
        buckets,
    )
