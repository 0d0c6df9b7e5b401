"""Static PNG of the liquidation heatmap: USD per price bucket per hour, with the price line drawn over it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from levradar.analytics.heatmap import Heatmap


def heatmap_png(hm: Heatmap, path: Path, title: str, range_pct: float = 25.0) -> None:
    """Draw long + short USD per bucket per hour (log colour scale) and the close over it."""
    grid = (hm.long_usd + hm.short_usd).T  # buckets × hours
    closes = hm.closes if hm.closes is not None else np.full(len(hm.times), np.nan)
    lo = np.nanmin(closes) * (1 - range_pct / 100)
    hi = np.nanmax(closes) * (1 + range_pct / 100)
    rows = (hm.edges[1:] >= lo) & (hm.edges[:-1] <= hi)
    positive = grid[rows][grid[rows] > 0]
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
        fig.colorbar(mesh, ax=ax, label="modelled liquidation USD per bucket")
    ax.plot(mdates.date2num(hm.times), closes, color="#00e5ff", linewidth=1.0, label="price")  # type: ignore[no-untyped-call]
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
