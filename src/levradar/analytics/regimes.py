"""The one regime-labelling function: ordered labels, boundaries and hysteresis, vectorised over markets.

A label is entered when the metric passes its boundary by the hysteresis margin and left only when the metric
passes back by the margin; inside a margin the previous hour's label holds (clipped to the two labels the margin
separates). The state starts at the first hour of the window it is given, or carries on from one given (the live
radar's next hour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _loops
from levradar.analytics.baseline import SMALL_ROWS
from levradar.analytics.config import RegimeSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MISSING = -1


def fresh_state(n_series: int) -> IntArray:
    """The state of a label before its first hour, per series (label held, label proposed, hours proposed): none
    held, none proposed."""
    state = np.zeros((n_series, 3), dtype=np.int64)
    state[:, :2] = MISSING
    return state


def label_codes(metric: FloatArray, spec: RegimeSpec, state: IntArray | None = None) -> IntArray:
    """Label index per cell of ``metric`` (markets × hours, time along axis 1); -1 where the metric is NaN.

    Outside every band the label is the metric's bucket. Inside a band the previous hour's label holds, clipped
    to the two labels the band separates (a jump from far away lands on the nearer of them); the first hour of
    the window takes its bucket. A new label must then be proposed ``spec.min_dwell`` hours running before it
    replaces the current one (one-hour blips do not flip the label), except that a label whose side contradicts
    the metric's sign is replaced at once (the metric's middle is zero: z-scores, log ratios), and an extreme label
    (Deep Negative, Extreme Positive, Falling Fast, ...) is entered at once when the metric is past its band. A NaN
    hour has no label and leaves the state as it was. Compiled (_loops.pyx): one pass per series.

    ``state`` (``fresh_state``: series × 3) carries each series on from the hours before (the live radar's next
    hour): read where each series starts, written with where it ends.
    """
    m = np.ascontiguousarray(metric, dtype=np.float64)
    rows = m.reshape(math.prod(m.shape[:-1]), m.shape[-1]) if m.ndim else m.reshape(1, 1)
    bounds = np.ascontiguousarray(spec.boundaries, dtype=np.float64)
    carry = fresh_state(rows.shape[0]) if state is None else state
    codes = _loops.label_codes(rows, bounds, float(spec.hysteresis), int(spec.min_dwell), carry)
    return codes.reshape(m.shape)


def dwell(
    codes: IntArray, min_dwell: int, immediate: list[int] | None = None, state: IntArray | None = None
) -> IntArray:
    """Categorical labels (markets × hours) where a new value must hold ``min_dwell`` hours running before it
    replaces the current one (the ``immediate`` codes are entered at once); until then the current value holds.
    MISSING cells stay MISSING and leave the state. ``state``: as for ``label_codes``."""
    c = np.ascontiguousarray(codes, dtype=np.int64)
    rows = c.reshape(math.prod(c.shape[:-1]), c.shape[-1])
    now = np.asarray(immediate or [], dtype=np.int64)
    carry = fresh_state(rows.shape[0]) if state is None else state
    return _loops.dwell(rows, int(min_dwell), now, carry).reshape(c.shape)


def label_series(name: str, codes: IntArray, labels: Sequence[str]) -> pl.Series:
    """Codes (any shape, flattened) as a string series of their labels, null where MISSING: one gather, no Python
    string per cell."""
    index = np.asarray(codes, dtype=np.int64).ravel()
    index = np.where(index == MISSING, len(labels), index)
    if index.size <= SMALL_ROWS:  # a few rows (the live radar's hour): numpy's gather, no polars query
        return pl.Series(name, np.asarray([*labels, None], dtype=object)[index].tolist(), dtype=pl.String)
    return pl.Series(name, [*labels, None], dtype=pl.String).gather(index)


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


NO_RUN = np.iinfo(np.int64).min  # the value before a series' first hour: no run to carry on


def run_hours(codes: IntArray, hours: IntArray, before: tuple[IntArray, IntArray] | None = None) -> IntArray:
    """Hours each cell's value has held (time since it last changed), along axis 1 (pass ``sides(...)`` to count
    how long a side has held). ``before``: each series' value and hours held at the hour before its first one (the
    live radar's next hour carries a run on; ``NO_RUN``: none)."""
    change = np.ones_like(codes, dtype=bool)
    change[..., 1:] = codes[..., 1:] != codes[..., :-1]
    start = np.where(change, hours, np.iinfo(np.int64).min)
    if before is not None:
        value, held = before
        start[..., 0] = np.where(codes[..., 0] == value, hours[..., 0] - 1 - held, hours[..., 0])
    np.maximum.accumulate(start, axis=-1, out=start)
    return hours - start
