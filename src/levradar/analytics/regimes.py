"""The one regime-labelling function: ordered labels, boundaries and hysteresis, vectorised over markets.

A label is entered when the metric passes its boundary by the hysteresis margin and left only when the metric
passes back by the margin; inside a margin the previous hour's label holds (clipped to the two labels the margin
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
    """Label index per cell of ``metric`` (markets × hours, time along axis 1); -1 where the metric is NaN.

    Outside every band the label is the metric's bucket. Inside a band the previous hour's label holds, clipped
    to the two labels the band separates (a jump from far away lands on the nearer of them); the first hour of
    the window takes its bucket. A NaN hour has no label and leaves the state as it was.
    Vectorised over markets; one step per hour.
    """
    m = np.asarray(metric, dtype=np.float64)
    bounds = np.asarray(spec.boundaries)
    raw = np.searchsorted(bounds, m, side="right").astype(np.int64)  # the bucket, without hysteresis
    distance = np.abs(m[..., None] - bounds)
    in_band = (distance < spec.hysteresis).any(axis=-1)
    lower = np.argmin(distance, axis=-1).astype(np.int64)  # the band's lower label (upper = lower + 1)
    missing = np.isnan(m)
    out = np.empty_like(raw)
    prev = np.full(m.shape[:-1], MISSING, dtype=np.int64)
    for j in range(m.shape[-1]):
        held = np.where(prev == MISSING, raw[..., j], np.clip(prev, lower[..., j], lower[..., j] + 1))
        cur = np.where(in_band[..., j], held, raw[..., j])
        cur = np.where(missing[..., j], MISSING, cur)
        out[..., j] = cur
        prev = np.where(missing[..., j], prev, cur)
    return out


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
