"""The one regime-labelling function: ordered labels, boundaries and hysteresis, vectorised over markets.

A label is entered when the metric passes its boundary by the hysteresis margin and left only when the metric
passes back by the margin; inside a margin the previous hour's label holds (clipped to the two labels the margin
separates). The state starts at the first hour of the window it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _loops
from levradar.analytics.config import RegimeSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MISSING = -1


def label_codes(metric: FloatArray, spec: RegimeSpec) -> IntArray:
    """Label index per cell of ``metric`` (markets × hours, time along axis 1); -1 where the metric is NaN.

    Outside every band the label is the metric's bucket. Inside a band the previous hour's label holds, clipped
    to the two labels the band separates (a jump from far away lands on the nearer of them); the first hour of
    the window takes its bucket. A new label must then be proposed ``spec.min_dwell`` hours running before it
    replaces the current one (one-hour blips do not flip the label), except that a label whose side contradicts
    the metric's sign is replaced at once (the metric's middle is zero: z-scores, log ratios), and an extreme label
    (Deep Negative, Extreme Positive, Falling Fast, ...) is entered at once when the metric is past its band. A NaN
    hour has no label and leaves the state as it was. Compiled (_loops.pyx): one pass per series.
    """
    m = np.ascontiguousarray(metric, dtype=np.float64)
    rows = m.reshape(-1, m.shape[-1]) if m.ndim else m.reshape(1, 1)
    bounds = np.ascontiguousarray(spec.boundaries, dtype=np.float64)
    codes = _loops.label_codes(rows, bounds, float(spec.hysteresis), int(spec.min_dwell))
    return codes.reshape(m.shape)


def dwell(codes: IntArray, min_dwell: int, immediate: list[int] | None = None) -> IntArray:
    """Categorical labels (markets × hours) where a new value must hold ``min_dwell`` hours running before it
    replaces the current one (the ``immediate`` codes are entered at once); until then the current value holds.
    MISSING cells stay MISSING and leave the state."""
    c = np.ascontiguousarray(codes, dtype=np.int64)
    now = np.asarray(immediate or [], dtype=np.int64)
    return _loops.dwell(c.reshape(-1, c.shape[-1]), int(min_dwell), now).reshape(c.shape)


def label_series(name: str, codes: IntArray, labels: Sequence[str]) -> pl.Series:
    """Codes (any shape, flattened) as a string series of their labels, null where MISSING: one gather, no Python
    string per cell."""
    index = pl.Series(np.asarray(codes).ravel()).cast(pl.Int64)
    return pl.Series(name, list(labels), dtype=pl.String).gather(index.set(index == MISSING, None))


def names(codes: IntArray, spec: RegimeSpec) -> npt.NDArray[np.object_]:
    """Label names for codes (same shape); None where missing."""
    named = label_series("", codes, spec.labels).to_list()
    return np.asarray(named, dtype=object).reshape(np.shape(codes))


def sides(codes: IntArray, spec: RegimeSpec) -> IntArray:
    """The side of each label: −1 below the middle label, 0 the middle, +1 above (Deep Negative and Negative are
    one side: escalating within a side is not a new run); MISSING stays MISSING."""
    middle = (len(spec.labels) - 1) / 2.0
    side = np.sign(codes - middle).astype(np.int64)
    return np.where(codes == MISSING, MISSING - 1, side)


def run_hours(codes: IntArray, hours: IntArray) -> IntArray:
    """Hours each cell's value has held (time since it last changed), along axis 1 (pass ``sides(...)`` to count
    how long a side has held)."""
    change = np.ones_like(codes, dtype=bool)
    change[..., 1:] = codes[..., 1:] != codes[..., :-1]
    start = np.where(change, hours, np.iinfo(np.int64).min)
    np.maximum.accumulate(start, axis=-1, out=start)
    return hours - start
