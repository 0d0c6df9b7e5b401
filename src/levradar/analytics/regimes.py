"""The one regime-labelling function: ordered labels, boundaries and hysteresis, vectorised over markets.

A label is entered when the metric passes its boundary by the hysteresis margin and left only when the metric
passes back by the margin; inside a margin the previous label holds (if it is one of the two labels the margin
separates). The state starts at the first hour of the window it is given.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from levradar.analytics.config import RegimeSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MISSING = -1


def label_codes(metric: FloatArray, spec: RegimeSpec) -> IntArray:
    """Label index per cell of ``metric`` (markets × hours, time along axis 1); -1 where the metric is NaN."""
    bounds = np.asarray(spec.boundaries)
    m = np.asarray(metric, dtype=np.float64)
    raw = np.searchsorted(bounds, m, side="right").astype(np.int64)  # label without hysteresis
    distance = np.abs(m[..., None] - bounds)  # distance to every boundary
    in_band = (distance < spec.hysteresis).any(axis=-1)
    core = np.where(in_band | np.isnan(m), MISSING, raw)
    held = _forward_fill(core)
    # inside a band the label may only be one of the two labels the band separates
    nearest = np.argmin(distance, axis=-1)
    lower, upper = nearest, nearest + 1
    banded = np.where(held == MISSING, raw, np.clip(held, lower, upper))
    out = np.where(in_band, banded, raw)
    return np.where(np.isnan(m), MISSING, out)


def _forward_fill(codes: IntArray) -> IntArray:
    """Carry the last non-missing code forward along axis 1."""
    idx = np.where(codes != MISSING, np.arange(codes.shape[-1]), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    filled = np.take_along_axis(codes, idx, axis=-1)
    return filled


def names(codes: IntArray, spec: RegimeSpec) -> npt.NDArray[np.object_]:
    """Label names for codes; None where missing."""
    table = np.array([*spec.labels, None], dtype=object)
    return table[np.where(codes == MISSING, len(spec.labels), codes)]


def run_hours(codes: IntArray, hours: IntArray) -> IntArray:
    """Hours each cell's label has held (time since the label last changed), along axis 1."""
    change = np.ones_like(codes, dtype=bool)
    change[..., 1:] = codes[..., 1:] != codes[..., :-1]
    start = np.where(change, hours, np.iinfo(np.int64).min)
    np.maximum.accumulate(start, axis=-1, out=start)
    return hours - start
