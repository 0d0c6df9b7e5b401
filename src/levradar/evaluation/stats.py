"""Statistics for signal evaluation: day-block bootstrap intervals and the Benjamini–Hochberg correction."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def day_block_bootstrap(
    excess: FloatArray, days: npt.NDArray[np.int64], *, n: int = 500, seed: int = 7
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """For each column of ``excess`` (rows = hours, columns = outcomes, each already minus its baseline): the
    mean, a 95 % interval and a two-sided p-value, resampling whole days — the hours of one day move together and
    are not independent observations. NaN cells are left out. Returns (effect, low, high, p), one value per column."""
    ok = ~np.isnan(excess)
    values = np.where(ok, excess, 0.0)
    unique, inverse = np.unique(days, return_inverse=True)
    k, m = unique.size, excess.shape[1]
    sums = np.zeros((k, m))
    counts = np.zeros((k, m))
    np.add.at(sums, inverse, values)
    np.add.at(counts, inverse, ok.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = sums.sum(axis=0) / counts.sum(axis=0)
    nan = np.full(m, np.nan)
    if k < 2:
        return effect, nan, nan.copy(), nan.copy()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(n, k))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)  # n × m
    low, high = np.nanquantile(means, 0.025, axis=0), np.nanquantile(means, 0.975, axis=0)
    # the share of resampled effects on the far side of zero, doubled: a bootstrap p-value
    below, above = np.nanmean(means <= 0, axis=0), np.nanmean(means >= 0, axis=0)
    p = np.minimum(1.0, 2.0 * np.minimum(below, above) + 1.0 / n)
    p[np.isnan(effect)] = np.nan
    return effect, low, high, p


def benjamini_hochberg(p: FloatArray) -> FloatArray:
    """q-values (false-discovery-rate adjusted p-values) for the tests ``p`` (NaN stays NaN)."""
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    m = vals.size
    if m == 0:
        return q
    order = np.argsort(vals)
    ranked = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    q[ok] = out
    return q
