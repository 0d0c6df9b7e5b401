"""Static PNG of the liquidation heatmap: USD per price bucket per hour, with the price line drawn over it and the
real liquidation prints of the store over both (``levradar.analytics.prints``)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from levradar.analytics.heatmap import Heatmap
from levradar.analytics.prints import SIDE_LABELS, SIDES, Prints, short_usd

# prints: colours that the inferno scale (black → purple → red → yellow) and the cyan price line do not use,
# with a white edge so a marker reads on the dark and on the hot cells alike
PRINT_COLOURS = {"long": "#ff2bd1", "short": "#39ff6a"}
MAX_AREA = 420.0  # marker area (pt²) of the largest print or sum drawn; area ∝ USD
MIN_AREA = 3.0  # a floor so the smallest prints stay visible


def _plain(text: str) -> str:
    """Text for matplotlib without mathtext: two dollar signs would set what lies between them as maths."""
    return text.replace("$", r"\$")


def price_ticks(lo: float, hi: float, bins: int = 10) -> tuple[list[float], int]:
    """Round prices between ``lo`` and ``hi`` for a log axis (e.g. 90,000 / 95,000 / 100,000) and the decimals
    that print them plainly."""
    ticks = [
        float(t)
        for t in MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        if lo <= t <= hi
    ]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(lo) or 1.0
    return ticks, max(0, -math.floor(math.log10(step)))


def _plain_price_axis(ax: Axes, lo: float, hi: float) -> None:
    """Plain price labels on the log axis (95,000 rather than 10^5 or 9×10^4): round ticks, no minor labels."""
    ticks, decimals = price_ticks(lo, hi)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.{decimals}f}"))


def _usd_tick(v: float, _pos: int | None = None) -> str:
    """A colour-bar label in plain USD at 1, 2 and 5 × 10^k ('$2M'); the other log ticks stay unlabelled."""
    if v <= 0 or round(v / 10 ** math.floor(math.log10(v)), 6) not in (1, 2, 5):
        return ""
    return _plain(short_usd(v))


def _areas(usd: npt.NDArray[np.float64], largest: float) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.maximum(MAX_AREA * usd / largest, MIN_AREA)
    return out


def _size_steps(largest: float) -> list[float]:
    """Up to three round USD sizes (1, 2, 5 × 10^k) at and below the largest marker, a decade apart."""
    top = 10 ** math.floor(math.log10(largest))
    top = max(m * top for m in (1, 2, 5) if m * top <= largest)
    steps = [top / 100, top / 10, top]
    return [v for v in steps if MAX_AREA * v / largest >= MIN_AREA * 2]


def _draw_prints(ax: Axes, prints: Prints) -> None:
    """One scatter per side, area ∝ USD, and a second legend with the marker sizes."""
    largest = float(prints.points["usd"].max())  # type: ignore[arg-type]
    for side in SIDES:
        rows = prints.side(side)
        if rows.is_empty():
            continue
        total = prints.totals[side]
        ax.scatter(
            mdates.date2num(rows["t"].to_list()),  # type: ignore[no-untyped-call]
            rows["price"].to_numpy(),
            s=_areas(rows["usd"].to_numpy(), largest),
            c=PRINT_COLOURS[side],
            edgecolors="white",
            linewidths=0.5,
            alpha=0.85,
            zorder=3,
            label=_plain(f"{SIDE_LABELS[side]}: {total.count:,} prints, {short_usd(total.usd)}"),
        )
    steps = _size_steps(largest)
    if steps:
        handles = [
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markersize=math.sqrt(MAX_AREA * v / largest),
                markerfacecolor="none",
                markeredgecolor="#444444",
                label=_plain(short_usd(v)),
            )
            for v in steps
        ]
        per = "per print" if not prints.aggregated else prints.bin_text.replace("summed ", "")
        sizes = ax.legend(
            handles=handles,
            loc="lower right",
            title=f"marker area ∝ USD ({per})",
            fontsize=8,
            title_fontsize=8,
            labelspacing=1.2,
            borderpad=0.9,
        )
        ax.add_artist(sizes)


def _draw_measured(ax: Axes, m: Mapping[str, Any], edges: npt.NDArray[np.float64], norm: Any) -> None:
    """The measured snapshot's USD per bucket as horizontal bars on the model's buckets and colour scale."""
    cmap = plt.get_cmap("inferno")
    for b in m["buckets"]:
        k = int(np.searchsorted(edges, b["price"], side="right")) - 1
        total = float(b["long_usd"] + b["short_usd"])
        if 0 <= k < edges.size - 1 and total > 0:
            ax.barh(
                edges[k],
                total,
                height=edges[k + 1] - edges[k],
                align="edge",
                color=cmap(norm(max(total, norm.vmin))),
            )
    ax.axhline(m["price"], color="#00e5ff", linewidth=1.0)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _plain(short_usd(v)) if v > 0 else ""))
    cover = [c for c in (m.get("coverage_long"), m.get("coverage_short")) if c is not None]
    share = f", {min(cover):.0%}–{max(cover):.0%} of OI" if cover else ""
    ax.set_title(_plain(f"measured {m['venue']}\n{m['snapshot'][:16]} UTC{share}"), fontsize=9)
    ax.set_facecolor("#000004")
    ax.tick_params(axis="x", labelsize=7)


def heatmap_png(
    hm: Heatmap,
    path: Path,
    title: str,
    range_pct: float = 25.0,
    prints: Prints | None = None,
    measured: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Draw long + short USD per bucket per hour (log colour scale), the close over it and, given ``prints``,
    the real liquidation prints (longs and shorts liquidated, area ∝ USD) with their totals under the title;
    given ``measured`` (``heatmap --measured``), a panel at the right with the first measured snapshot's USD per
    bucket on the same price axis and the same colour scale."""
    grid = (hm.long_usd + hm.short_usd).T  # buckets × hours
    closes = hm.closes if hm.closes is not None else np.full(len(hm.times), np.nan)
    lo = np.nanmin(closes) * (1 - range_pct / 100)
    hi = np.nanmax(closes) * (1 + range_pct / 100)
    rows = (hm.edges[1:] >= lo) & (hm.edges[:-1] <= hi)
    positive = grid[rows][grid[rows] > 0]
    cax: Axes | None = None
    if measured:
        fig = plt.figure(figsize=(14, 6), dpi=110)
        cells = fig.add_gridspec(1, 3, width_ratios=[5, 1.1, 0.12], wspace=0.06)
        ax = fig.add_subplot(cells[0])
        side = fig.add_subplot(cells[1], sharey=ax)
        side.tick_params(axis="y", labelleft=False)
        cax = fig.add_subplot(cells[2])
    else:
        fig, ax = plt.subplots(figsize=(12, 6), dpi=110)
    if positive.size:
        x = mdates.date2num([*hm.times, hm.times[-1] + (hm.times[-1] - hm.times[-2])])  # type: ignore[no-untyped-call]
        vmin = max(float(np.quantile(positive, 0.05)), 1.0)
        mesh = ax.pcolormesh(
            x,
            hm.edges[np.flatnonzero(rows).min() : np.flatnonzero(rows).max() + 2],
            np.where(grid[rows] > 0, grid[rows], np.nan),
            cmap="inferno",
            norm=LogNorm(vmin=vmin, vmax=float(positive.max())),
            shading="flat",
        )
        if measured:
            _draw_measured(side, measured[0], hm.edges, mesh.norm)
        label = "liquidation USD per bucket" + (" (modelled; measured at the right)" if measured else "")
        bar = (
            fig.colorbar(mesh, cax=cax, label=label)
            if cax is not None
            else fig.colorbar(mesh, ax=ax, label=label)
        )
        bar.ax.yaxis.set_major_formatter(FuncFormatter(_usd_tick))  # $40M, not 4×10^7
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(_usd_tick))
    ax.plot(mdates.date2num(hm.times), closes, color="#00e5ff", linewidth=1.0, label="price")  # type: ignore[no-untyped-call]
    if prints is not None and not prints.empty:
        _draw_prints(ax, prints)
        left, right = ax.get_xlim()
        ax.set_xlim(left, right + 0.015 * (right - left))  # room for the markers of the last hours
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    _plain_price_axis(ax, lo, hi)
    if prints is not None:
        note = "\n".join(textwrap.wrap(prints.note(), 150))
        ax.set_title(_plain(f"{title}\n{note}"), fontsize=10)
    else:
        ax.set_title(title)
    ax.set_ylabel("price (USD, log scale)")
    short_span = hm.times[-1] - hm.times[0] < timedelta(days=5)  # several ticks a day: show the hour
    fmt = "%m-%d %H:%M" if short_span else "%Y-%m-%d"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))  # type: ignore[no-untyped-call]
    legend = ax.legend(loc="upper left", fontsize=8)
    for handle in legend.legend_handles:  # the side markers at one size (the sizes have their own legend)
        if isinstance(handle, PathCollection):
            handle.set_sizes([40.0])
    fig.autofmt_xdate()
    if not measured:
        fig.tight_layout()  # the measured panel's layout is fixed by its grid
    fig.savefig(path)
    plt.close(fig)
