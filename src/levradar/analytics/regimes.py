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
    the window takes its bucket. A new label must then be proposed ``spec.min_dwell`` hours running before it
    replaces the current one (one-hour blips do not flip the label), except that a label whose side contradicts
    the metric's sign is replaced at once (the metric's middle is zero: z-scores, log ratios), and an extreme label
    (Deep Negative, Extreme Positive, Falling Fast, ...) is entered at once when the metric is past its band. A NaN
    hour has no label and leaves the state as it was. Vectorised over markets; one step per hour.
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
    candidate = np.full(m.shape[:-1], MISSING, dtype=np.int64)
    streak = np.zeros(m.shape[:-1], dtype=np.int64)
    dwell = max(1, int(spec.min_dwell))
    middle = (len(spec.labels) - 1) / 2.0
    last = len(spec.labels) - 1
    for j in range(m.shape[-1]):
        held = np.where(prev == MISSING, raw[..., j], np.clip(prev, lower[..., j], lower[..., j] + 1))
        proposed = np.where(in_band[..., j], held, raw[..., j])
        # a different label must be proposed `dwell` hours running before it replaces the current one — unless the
        # current label's side contradicts the metric's sign (a label never says the opposite of its evidence)
        streak = np.where(proposed == candidate, streak + 1, 1)
        candidate = proposed
        contradicts = np.sign(prev - middle) * np.sign(np.nan_to_num(m[..., j])) < 0
        # an extreme label (the first or the last) is an alarm: entered at once once the metric is past the band
        extreme = ((proposed == 0) | (proposed == last)) & ~in_band[..., j]
        accept = (prev == MISSING) | (proposed == prev) | (streak >= dwell) | contradicts | extreme
        cur = np.where(accept, proposed, prev)
        cur = np.where(missing[..., j], MISSING, cur)
        out[..., j] = cur
        prev = np.where(missing[..., j], prev, cur)
        streak = np.where(missing[..., j], 0, streak)
    return out


def dwell(codes: IntArray, min_dwell: int, immediate: list[int] | None = None) -> IntArray:
    """Categorical labels (markets × hours) where a new value must hold ``min_dwell`` hours running before it
    replaces the current one (the ``immediate`` codes are entered at once); until then the current value holds.
    MISSING cells stay MISSING and leave the state."""
    now = np.asarray(immediate or [], dtype=np.int64)
    out = np.empty_like(codes)
    prev = np.full(codes.shape[:-1], MISSING, dtype=np.int64)
    candidate = np.full(codes.shape[:-1], MISSING, dtype=np.int64)
    streak = np.zeros(codes.shape[:-1], dtype=np.int64)
    for j in range(codes.shape[-1]):
        proposed = codes[..., j]
        missing = proposed == MISSING
        streak = np.where(proposed == candidate, streak + 1, 1)
        candidate = proposed
        accept = (prev == MISSING) | (proposed == prev) | (streak >= max(1, min_dwell)) | np.isin(proposed, now)
        cur = np.where(accept, proposed, prev)
        out[..., j] = np.where(missing, MISSING, cur)
        prev = np.where(missing, prev, cur)
        streak = np.where(missing, 0, streak)
    return out


def names(codes: IntArray, spec: RegimeSpec) -> npt.NDArray[np.object_]:
    """Label names for codes; None where missing."""
    table = np.array([*spec.labels, None], dtype=object)
    return table[np.where(codes == MISSING, len(spec.labels), codes)]


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
