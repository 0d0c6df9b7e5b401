"""Scenarios on the liquidation map: a ±x % move, the pockets it hits, and a cascade simulation.

Static: the USD of modelled positions whose liquidation price lies between the price and the moved price (longs
for a fall, shorts for a rise). Cascade: those forced orders move the price further through an impact model —
``impact = lambda · forced USD``, with lambda (price fraction per USD) the median over the last 7 days of
|hourly return| / hourly traded USD — and may reach the next pocket; repeated until the next step adds less than
0.01 % or 50 steps. The result is a stress estimate, not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
MAX_STEPS = 50
MIN_STEP = 1e-4
MAX_PUSH = 0.5  # one step moves the price by at most half: the walk never crosses zero
MAX_MOVE = 0.5  # a scenario move is within ±50 %: the liquidation map spans about -50 %..+90 % of the price


def check_move(move: float) -> float:
    """``move`` (a signed fraction) if it is a scenario the map can answer, else a ValueError saying why.
    The one rule of the CLI's ``scenario --move`` and the API's ``scenarios?move=``."""
    if move == 0 or not -MAX_MOVE <= move <= MAX_MOVE:  # NaN fails the comparison too
        raise ValueError(f"a move must be non-zero and within ±{MAX_MOVE * 100:g} % (got {move * 100:+g} %)")
    return move


@dataclass(frozen=True)
class Book:
    """The current liquidation map of one asset: bucket centres and USD per side, the price, dense flags."""

    centers: FloatArray
    long_usd: FloatArray
    short_usd: FloatArray
    price: float
    dense_long: npt.NDArray[np.bool_]
    dense_short: npt.NDArray[np.bool_]


def impact_per_usd(markets: pl.DataFrame) -> float | None:
    """Median over the last 7 days of |hourly return| / hourly traded USD (all venues), the price response to flow."""
    if markets.is_empty():
        return None
    end = markets["t"].max()
    recent = markets.filter(pl.col("t") > end - timedelta(days=7))  # type: ignore[operator]
    hourly = recent.group_by("t").agg(pl.col("volume_usd").sum(), pl.col("close").first()).sort("t")
    ret = (hourly["close"] / hourly["close"].shift(1)).log().abs()
    ratio = (ret / hourly["volume_usd"]).filter((hourly["volume_usd"] > 0) & ret.is_not_null() & (ret > 0))
    value = ratio.median()
    return float(value) if isinstance(value, float) and value > 0 else None


def _between(book: Book, a: float, b: float, down: bool) -> float:
    lo, hi = min(a, b), max(a, b)
    sel = (book.centers > lo) & (book.centers <= hi) if down else (book.centers >= lo) & (book.centers < hi)
    return float((book.long_usd if down else book.short_usd)[sel].sum())


def _pockets(book: Book, a: float, b: float, down: bool) -> list[dict[str, float]]:
    """Contiguous dense runs whose buckets lie between prices a and b, nearest first."""
    dense = book.dense_long if down else book.dense_short
    usd = book.long_usd if down else book.short_usd
    lo, hi = min(a, b), max(a, b)
    inside = dense & (book.centers > lo) & (book.centers < hi)
    idx = np.flatnonzero(inside)
    runs: list[list[int]] = []
    for j in idx:
        if runs and j == runs[-1][-1] + 1:
            runs[-1].append(int(j))
        else:
            runs.append([int(j)])
    out = []
    for run in runs:
        r = np.asarray(run)
        total = float(usd[r].sum())
        out.append({"price": float((book.centers[r] * usd[r]).sum() / total), "usd": total})
    return sorted(out, key=lambda p: abs(p["price"] - book.price))


def scenario(
    book: Book, move: float, impact: float | None, stress_impact: float | None = None
) -> dict[str, Any]:
    """A move of ``move`` (fraction, signed): static forced flow, then the cascade through the impact model —
    ``cascade`` with the typical impact, ``cascade_stress`` with the impact of a real cascade (docs/heatmap.md §3)."""
    down = move < 0
    target = book.price * (1.0 + move)
    forced = _between(book, book.price, target, down)
    return {
        "move_pct": move * 100.0,
        "target_price": target,
        "pockets_hit": _pockets(book, book.price, target, down),
        "forced_usd": forced,
        "cascade": None if impact is None else _cascade(book, move, target, forced, impact),
        "cascade_stress": None
        if stress_impact is None
        else _cascade(book, move, target, forced, stress_impact),
    }


def _cascade(book: Book, move: float, target: float, forced: float, impact: float) -> dict[str, Any]:
    down = move < 0
    extent, fresh, total, steps = target, forced, forced, 0
    while steps < MAX_STEPS and fresh > 0:
        push = min(impact * fresh, MAX_PUSH)
        if push < MIN_STEP:
            break
        nxt = extent * (1.0 - push) if down else extent * (1.0 + push)
        fresh = _between(book, extent, nxt, down)
        extent, total, steps = nxt, total + fresh, steps + 1
    final = extent / book.price - 1.0
    return {
        "final_move_pct": final * 100.0,
        "amplification": final / move if move else None,
        "forced_usd_total": total,
        "pockets_ignited": _pockets(book, target, extent, down),
        "steps": steps,
        "impact_per_usd": impact,
    }
