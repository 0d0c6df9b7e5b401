"""Robust baselines: the hourly grid, z-scores and percentiles against each series' own trailing history
(daily refresh at 00:00 UTC, every `stride` hours, newest first), the floor, minimum history, no look-ahead,
independent keys."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.analytics.baseline import (
    MAD_TO_SIGMA,
    Baselines,
    Grid,
    day_baseline,
    day_baselines,
    make_grid,
    median_mad,
    next_day_baseline,
    robust_baselines,
)

PROPS = settings(max_examples=40, deadline=None)
DAY0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _frame(series: Mapping[str, Sequence[float | None]], start: datetime, column: str = "x") -> pl.DataFrame:
    """One row per key and hour from ``start``; None values are left out (a missing hour)."""
    keys: list[str] = []
    times: list[datetime] = []
    values: list[float] = []
    for key, vals in series.items():
        for i, v in enumerate(vals):
            if v is None:
                continue
            keys.append(key)
            times.append(start + i * HOUR)
            values.append(float(v))
    return pl.DataFrame(
        {"key": keys, "t": times, column: values},
        schema={"key": pl.String, "t": pl.Datetime("us", "UTC"), column: pl.Float64},
    )


def _grid(series: Mapping[str, Sequence[float | None]], start: datetime) -> Grid:
    n = max(len(v) for v in series.values())
    return make_grid(_frame(series, start), start, start + (n - 1) * HOUR)


def _day_start(grid: Grid, j: int) -> int:
    """Grid index of 00:00 UTC of hour ``j``'s day."""
    h = grid.hours[j]
    return j - h.hour


def _reference(
    values: npt.NDArray[np.float64], j: int, b: int, *, window_days: int, stride: int, floor: float, need: int
) -> tuple[float, float, float]:
    """z of hour j, the baseline median and the percentile of hour j, computed directly with numpy."""
    lo = max(0, b - window_days * 24)
    idx = list(range(b - 1, lo - 1, -stride))
    sample = values[idx]
    sample = sample[~np.isnan(sample)]
    if len(sample) == 0:
        return math.nan, math.nan, math.nan
    med = float(np.median(sample))
    if len(sample) < need:
        return math.nan, med, math.nan
    mad = float(np.median(np.abs(sample - med)))
    x = np.float64(values[j])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - med) / np.float64(max(MAD_TO_SIGMA * mad, floor))
    pct = (np.sum(sample < x) + 0.5 * np.sum(sample == x)) / len(sample) if not math.isnan(x) else math.nan
    return float(z), med, float(pct)


# ------------------------------------------------------------------------------------------------- make_grid


def test_make_grid_fills_every_key_and_hour() -> None:
    start = DAY0 + 5 * HOUR
    end = start + 5 * HOUR
    # from 04:00: b has 04:00 (before start), 06:00, 09:00, 10:00 and 11:00 (after end); a has 05:00
    frame = _frame({"b": [1.0, None, 3.0, None, None, 6.0, 7.0, 8.0], "a": [None, 20.0]}, start - HOUR)
    grid = make_grid(frame, start, end)
    assert grid.keys == ["a", "b"]
    assert grid.shape == (2, 6)
    assert grid.hours == [start + i * HOUR for i in range(6)]
    assert all(h.tzinfo is not None and h.utcoffset() == timedelta(0) for h in grid.hours)
    arr = grid.array("x")
    nan = math.nan
    np.testing.assert_array_equal(
        arr, np.array([[20.0, nan, nan, nan, nan, nan], [nan, 3.0, nan, nan, 6.0, 7.0]])
    )
    full = grid.frame  # rows outside [start, end] are not on the grid
    assert full.height == 12
    assert full.columns[:2] == ["key", "t"]
    assert full["key"].to_list() == ["a"] * 6 + ["b"] * 6
    assert full["t"].to_list() == grid.hours * 2
    assert full["x"].to_list() == [20.0, None, None, None, None, None, None, 3.0, None, None, 6.0, 7.0]
    tail = grid.tail(2)
    assert tail["key"].to_list() == ["a", "a", "b", "b"]
    assert tail["t"].to_list() == grid.hours[-2:] * 2
    assert tail["x"].to_list() == [None, None, 6.0, 7.0]


def test_make_grid_null_values_become_nan() -> None:
    frame = pl.DataFrame(
        {"key": ["k", "k"], "t": [DAY0, DAY0 + HOUR], "x": [None, 2.5]},
        schema={"key": pl.String, "t": pl.Datetime("us", "UTC"), "x": pl.Float64},
    )
    grid = make_grid(frame, DAY0, DAY0 + 2 * HOUR)
    np.testing.assert_array_equal(grid.array("x"), np.array([[math.nan, 2.5, math.nan]]))


def test_make_grid_with_explicit_keys() -> None:
    frame = _frame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, DAY0)
    grid = make_grid(frame, DAY0, DAY0 + HOUR, keys=["c", "a"])
    assert grid.keys == ["c", "a"]  # the order given; "b" is left out, "c" has no rows at all
    np.testing.assert_array_equal(grid.array("x"), np.array([[math.nan, math.nan], [1.0, 2.0]]))
    assert grid.frame["key"].to_list() == ["c", "c", "a", "a"]
    assert grid.frame["x"].to_list() == [None, None, 1.0, 2.0]


@PROPS
@given(
    present=st.lists(st.lists(st.booleans(), min_size=30, max_size=30), min_size=1, max_size=4),
    offset=st.integers(0, 23),
    lo=st.integers(0, 10),
    hi=st.integers(15, 29),
)
def test_make_grid_property(present: list[list[bool]], offset: int, lo: int, hi: int) -> None:
    base = DAY0 + offset * HOUR
    series: dict[str, list[float | None]] = {
        f"k{r}": [float(100 * r + i) if p else None for i, p in enumerate(row)]
        for r, row in enumerate(present)
    }
    series["anchor"] = [0.0]  # every key has at least one row somewhere
    frame = _frame(series, base)
    grid = make_grid(frame, base + lo * HOUR, base + hi * HOUR)
    with_rows = sorted(k for k, v in series.items() if any(x is not None for x in v))
    assert grid.keys == with_rows  # a key is in the grid when it has a row anywhere, even outside the range
    series = {k: series[k] for k in with_rows}
    assert grid.shape == (len(series), hi - lo + 1)
    arr = grid.array("x")
    for r, key in enumerate(grid.keys):
        vals = series[key] + [None] * (30 - len(series[key]))
        expected = [math.nan if v is None else v for v in vals[lo : hi + 1]]
        np.testing.assert_array_equal(arr[r], np.array(expected))
    full = grid.frame
    assert full.height == len(series) * (hi - lo + 1)
    assert full.select("key", "t").unique().height == full.height
    assert full["x"].null_count() == int(np.isnan(arr).sum())


@PROPS
@given(
    present=st.lists(st.lists(st.booleans(), min_size=30, max_size=30), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_make_grid_does_not_depend_on_the_rows_order(present: list[list[bool]], seed: int) -> None:
    """Keys interleaved and hours shuffled give the grid of the rows in key order (keys are named per run)."""
    series: dict[str, list[float | None]] = {
        f"k{r}": [float(100 * r + i) if p else None for i, p in enumerate(row)]
        for r, row in enumerate(present)
    }
    series["anchor"] = [0.0]
    frame = _frame(series, DAY0)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    ordered, grid = make_grid(frame, DAY0, DAY0 + 29 * HOUR), make_grid(shuffled, DAY0, DAY0 + 29 * HOUR)
    assert grid.keys == ordered.keys
    np.testing.assert_array_equal(grid.array("x"), ordered.array("x"))
    assert grid.tail(7).equals(ordered.tail(7))
    given_keys = sorted(series, reverse=True)[:2]
    assert make_grid(shuffled, DAY0, DAY0 + HOUR, keys=given_keys).frame.equals(
        make_grid(frame, DAY0, DAY0 + HOUR, keys=given_keys).frame
    )


# ------------------------------------------------------------------------------------------ hand-checked z


def _hand_series() -> list[float]:
    """Day 1: 1000 (outside a 1-day window); day 2: 100 except the sampled hours 47, 41, 35, 29 (newest
    first, every 6 h from 23:00); day 3: the label hours 00:00 .. 05:00."""
    vals = [1000.0] * 24 + [100.0] * 24
    vals[47], vals[41], vals[35], vals[29] = 4.0, 1.0, 2.0, 10.0
    # baseline {1, 2, 4, 10}: median 3, |dev| {2, 1, 1, 7}, MAD 1.5, scale 1.4826 * 1.5 = 2.2239
    scale = MAD_TO_SIGMA * 1.5
    vals += [3.0, 3.0 + scale, 3.0 - 2 * scale, 100.0, math.nan, 4.0]
    return vals


def test_z_hand_checked() -> None:
    grid = _grid({"k": _hand_series()}, DAY0)
    out = robust_baselines(grid, {"x": 0.5}, label_hours=5, window_days=1, min_history_days=1, stride=6)
    z = out.z["x"]
    assert z.shape == (1, 6)
    scale = MAD_TO_SIGMA * 1.5
    np.testing.assert_allclose(z[0, :4], [0.0, 1.0, -2.0, 97.0 / scale], rtol=1e-12, atol=1e-12)
    assert math.isnan(z[0, 4])  # the value itself is missing
    np.testing.assert_allclose(z[0, 5], 1.0 / scale, rtol=1e-12)
    # last hour 4.0 against {1, 2, 4, 10}: two below, one tie -> 2.5 / 4
    assert out.pct_last["x"][0] == pytest.approx(0.625)
    assert out.median_last["x"][0] == pytest.approx(3.0)


def test_z_ignores_unsampled_hours_and_uses_sampled_ones() -> None:
    base = _hand_series()
    params = {"label_hours": 5, "window_days": 1, "min_history_days": 1, "stride": 6}
    ref = robust_baselines(_grid({"k": base}, DAY0), {"x": 0.5}, **params).z["x"]
    unsampled = list(base)
    for i in (24, 30, 40, 46, 0, 23):  # same day but off the 6-hour lattice, or older than the window
        unsampled[i] = -1e6
    np.testing.assert_array_equal(
        robust_baselines(_grid({"k": unsampled}, DAY0), {"x": 0.5}, **params).z["x"], ref
    )
    sampled = list(base)
    sampled[29] = -1e6  # 10 -> -1e6: baseline {-1e6, 1, 2, 4}, median 1.5
    z = robust_baselines(_grid({"k": sampled}, DAY0), {"x": 0.5}, **params).z["x"]
    assert z[0, 0] != ref[0, 0]
    mad = float(np.median(np.abs(np.array([-1e6, 1.0, 2.0, 4.0]) - 1.5)))
    assert z[0, 0] == pytest.approx((3.0 - 1.5) / (MAD_TO_SIGMA * mad))


def test_window_spanning_two_days_uses_each_days_baseline() -> None:
    # Days 1-2 constant 1, day 3 constant 5; label hours 22:00 of day 3 .. 01:00 of day 4.
    vals = [1.0] * 48 + [5.0] * 24 + [5.0, 5.0]
    grid = _grid({"k": vals}, DAY0)
    out = robust_baselines(grid, {"x": 0.25}, label_hours=3, window_days=2, min_history_days=1, stride=1)
    # day 3 hours: baseline days 1-2 = all 1 -> z = (5 - 1) / floor; day 4 hours: baseline days 2-3 = 24 ones and
    # 24 fives: median 3, MAD 2 -> z = (5 - 3) / (1.4826 * 2)
    np.testing.assert_allclose(
        out.z["x"][0], [16.0, 16.0, 2.0 / (MAD_TO_SIGMA * 2), 2.0 / (MAD_TO_SIGMA * 2)], rtol=1e-12
    )


def test_floor_applies_to_a_constant_series() -> None:
    vals = [0.0001] * 72 + [0.0001, 0.0002, 0.00005]
    out = robust_baselines(
        _grid({"k": vals}, DAY0), {"x": 0.00005}, label_hours=2, window_days=3, min_history_days=1
    )
    np.testing.assert_allclose(out.z["x"][0], [0.0, 2.0, -1.0], rtol=1e-9, atol=1e-12)
    assert out.median_last["x"][0] == pytest.approx(0.0001)


def test_floor_only_binds_below_the_robust_spread() -> None:
    rng = np.random.default_rng(7)
    hist = rng.normal(0.0, 1.0, 72)
    vals: list[float | None] = [*hist.tolist(), 2.0]
    grid = _grid({"k": vals}, DAY0)
    med = float(np.median(hist[::-1][::6]))
    mad = float(np.median(np.abs(hist[::-1][::6] - med)))
    loose = robust_baselines(grid, {"x": 1e-9}, label_hours=0, window_days=3, min_history_days=1)
    tight = robust_baselines(grid, {"x": 10.0}, label_hours=0, window_days=3, min_history_days=1)
    assert loose.z["x"][0, 0] == pytest.approx((2.0 - med) / (MAD_TO_SIGMA * mad))
    assert tight.z["x"][0, 0] == pytest.approx((2.0 - med) / 10.0)


# --------------------------------------------------------------------------------------------- min history


@pytest.mark.parametrize(("kept", "reported"), [(3, False), (4, True), (8, True)])
def test_min_history(kept: int, reported: bool) -> None:
    # window 2 days, stride 6 -> 8 sampled hours (47, 41, ..., 5); min_history_days=1 -> 4 samples needed
    sampled = list(range(47, 0, -6))
    assert len(sampled) == 8
    vals: list[float | None] = [None] * 48 + [100.0]
    for n, i in enumerate(sampled[:kept]):
        vals[i] = float(n)
    vals[0] = 0.0  # keep the grid starting at DAY0 (unsampled hour)
    grid = _grid({"k": vals}, DAY0)
    out = robust_baselines(grid, {"x": 0.1}, label_hours=0, window_days=2, min_history_days=1, stride=6)
    assert bool(np.isfinite(out.z["x"][0, 0])) == reported
    assert bool(np.isfinite(out.pct_last["x"][0])) == reported
    if reported:
        assert out.pct_last["x"][0] == 1.0  # 100 is above every sample


def test_a_single_sample_is_not_enough_history() -> None:
    # stride 6, min_history_days 1 -> 4 samples needed; only hour 47 of the two-day window has a value
    vals: list[float | None] = [None] * 47 + [1.0, 2.0]
    out = robust_baselines(
        _grid({"k": vals}, DAY0), {"x": 0.1}, label_hours=0, window_days=2, min_history_days=1
    )
    assert math.isnan(out.z["x"][0, 0])
    assert math.isnan(out.pct_last["x"][0])


# -------------------------------------------------------------------------------------------------- percentile


def test_percentile_extremes_and_ties() -> None:
    hist = [float(i % 10) for i in range(48)]  # stride 1 over 2 days: all 48 hours are the baseline
    sample = np.array(hist[::-1], dtype=float)
    for last, expected in [
        (100.0, 1.0),
        (-5.0, 0.0),
        (9.0, (np.sum(sample < 9) + 0.5 * np.sum(sample == 9)) / 48),
        (4.5, np.sum(sample < 4.5) / 48),
    ]:
        grid = _grid({"k": [*hist, last]}, DAY0)
        out = robust_baselines(grid, {"x": 0.1}, label_hours=0, window_days=2, min_history_days=1, stride=1)
        assert out.pct_last["x"][0] == pytest.approx(expected)
    # the maximum of the baseline is close to 1, the minimum close to 0
    grid = _grid({"k": [*hist, 9.0]}, DAY0)
    top = robust_baselines(grid, {"x": 0.1}, label_hours=0, window_days=2, min_history_days=1, stride=1)
    assert top.pct_last["x"][0] > 0.9


def test_percentile_is_nan_when_the_last_value_is_missing() -> None:
    vals = [float(i) for i in range(48)] + [1.0, math.nan]
    out = robust_baselines(
        _grid({"k": vals}, DAY0), {"x": 0.1}, label_hours=1, window_days=2, min_history_days=1, stride=1
    )
    assert math.isnan(out.pct_last["x"][0])
    assert np.isfinite(out.z["x"][0, 0])


# -------------------------------------------------------------------------------- properties: reference, PIT


@dataclass(frozen=True)
class Scenario:
    series: dict[str, list[float | None]]
    start: datetime
    n: int
    label_hours: int
    window_days: int
    stride: int
    min_history_days: int
    floor: float

    @property
    def first(self) -> int:
        """Grid index of the first label hour."""
        return self.n - 1 - self.label_hours

    def run(self, series: Mapping[str, Sequence[float | None]] | None = None) -> tuple[Grid, Baselines]:
        grid = _grid(series if series is not None else self.series, self.start)
        out = robust_baselines(
            grid,
            {"x": self.floor},
            label_hours=self.label_hours,
            window_days=self.window_days,
            min_history_days=self.min_history_days,
            stride=self.stride,
        )
        return grid, out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Keys × hours of values (some missing), a grid start at any hour, a label window whose first day starts
    after the grid's first hour, and baseline parameters."""
    offset = draw(st.integers(0, 23))
    n = draw(st.integers(60, 150))
    first_midnight = (24 - offset) % 24 or 24
    first_label = draw(st.integers(first_midnight, n - 1))
    k = draw(st.integers(1, 3))
    cell = st.one_of(st.floats(-100.0, 100.0), st.sampled_from([0.0, 1.0, 2.5]), st.none())  # ties, gaps
    series = {f"m{r}": draw(st.lists(cell, min_size=n, max_size=n)) for r in range(k)}
    for vals in series.values():
        if vals[0] is None:  # every key keeps a row, so it stays in the grid
            vals[0] = 0.0
    return Scenario(
        series=series,
        start=DAY0 + offset * HOUR,
        n=n,
        label_hours=n - 1 - first_label,
        window_days=draw(st.integers(1, 3)),
        stride=draw(st.integers(1, 7)),
        min_history_days=draw(st.integers(0, 2)),
        floor=draw(st.sampled_from([1e-9, 1e-3, 0.5, 5.0])),
    )


@PROPS
@given(sc=scenarios())
def test_matches_a_direct_numpy_reference(sc: Scenario) -> None:
    grid, out = sc.run()
    need = max(1, sc.min_history_days * 24 // sc.stride)
    values = grid.array("x")
    z = out.z["x"]
    assert z.shape == (len(sc.series), sc.label_hours + 1)
    for r in range(len(sc.series)):
        for j in range(sc.first, sc.n):
            ref_z, ref_med, ref_pct = _reference(
                values[r],
                j,
                _day_start(grid, j),
                window_days=sc.window_days,
                stride=sc.stride,
                floor=sc.floor,
                need=need,
            )
            np.testing.assert_allclose(z[r, j - sc.first], ref_z, rtol=1e-9, atol=1e-12)
            if j == sc.n - 1:
                np.testing.assert_allclose(out.pct_last["x"][r], ref_pct, rtol=1e-12)
                np.testing.assert_allclose(out.median_last["x"][r], ref_med, rtol=1e-12)


def _perturbed(vals: list[float | None], indices: list[int], seed: int) -> list[float | None]:
    rng = np.random.default_rng(seed)
    out = list(vals)
    for i in indices:
        out[i] = None if rng.integers(0, 3) == 0 else float(rng.normal(0.0, 1000.0))
    return out


@PROPS
@given(sc=scenarios(), data=st.data())
def test_no_look_ahead(sc: Scenario, data: st.DataObject) -> None:
    h = data.draw(st.integers(sc.first, sc.n - 1))
    seed = data.draw(st.integers(0, 2**32 - 1))
    _, before = sc.run()
    _, after = sc.run({k: _perturbed(v, list(range(h + 1, sc.n)), seed) for k, v in sc.series.items()})
    upto = h - sc.first + 1
    np.testing.assert_array_equal(after.z["x"][:, :upto], before.z["x"][:, :upto])


@PROPS
@given(sc=scenarios(), data=st.data())
def test_baseline_of_a_day_depends_only_on_earlier_days(sc: Scenario, data: st.DataObject) -> None:
    j = data.draw(st.integers(sc.first, sc.n - 1))
    seed = data.draw(st.integers(0, 2**32 - 1))
    grid, before = sc.run()
    b = _day_start(grid, j)
    assert grid.hours[b].hour == 0 and grid.hours[b].date() == grid.hours[j].date()
    # everything from 00:00 of j's day on changes, except hour j itself: z at j does not move
    _, after = sc.run(
        {k: _perturbed(v, [i for i in range(b, sc.n) if i != j], seed) for k, v in sc.series.items()}
    )
    col = j - sc.first
    np.testing.assert_array_equal(after.z["x"][:, col], before.z["x"][:, col])
    # and the value itself does matter: raising it raises z (the scale is the same)
    _, shifted = sc.run({k: [*v[:j], (v[j] or 0.0) + 1.0, *v[j + 1 :]] for k, v in sc.series.items()})
    z0, z1 = before.z["x"][:, col], shifted.z["x"][:, col]
    for r, key in enumerate(grid.keys):
        if sc.series[key][j] is not None and np.isfinite(z0[r]):
            assert z1[r] > z0[r]


@PROPS
@given(
    sc=scenarios(),
    extra=st.lists(st.sampled_from(["a", "m00", "z", "m1x"]), min_size=1, max_size=3, unique=True),
)
def test_keys_are_independent(sc: Scenario, extra: list[str]) -> None:
    alone = {"m0": sc.series["m0"]}
    grid_alone, out_alone = sc.run(alone)
    rng = np.random.default_rng(len(extra))
    crowd: dict[str, list[float | None]] = dict(alone)
    for name in extra:
        crowd[name] = [None if rng.random() < 0.2 else float(rng.normal(0, 50)) for _ in range(sc.n)]
    crowd[extra[0]][0] = 1.0
    grid_crowd, out_crowd = sc.run(crowd)
    assert grid_alone.keys == ["m0"]
    assert grid_crowd.keys == sorted(crowd)
    r = grid_crowd.keys.index("m0")
    np.testing.assert_array_equal(out_crowd.z["x"][r], out_alone.z["x"][0])
    np.testing.assert_array_equal(out_crowd.pct_last["x"][r], out_alone.pct_last["x"][0])
    np.testing.assert_array_equal(out_crowd.median_last["x"][r], out_alone.median_last["x"][0])


# -------------------------------------------------------------------------------- label window vs grid start


@pytest.mark.parametrize("start_hour", [0, 12])
def test_label_hours_without_any_history_in_the_grid_are_nan(start_hour: int) -> None:
    # The label window reaches back into the grid's first (calendar) day: those hours have no baseline at all
    # (nothing before 00:00 of their day is in the grid), so their z must be NaN, never built from later data.
    start = DAY0 + start_hour * HOUR
    n = 24 * 4
    vals: list[float | None] = [float(i) for i in range(n)]
    grid = _grid({"k": vals}, start)
    first_day = 24 - start_hour
    out = robust_baselines(grid, {"x": 0.1}, label_hours=n - 1, window_days=2, min_history_days=1, stride=1)
    assert np.isnan(out.z["x"][0, :first_day]).all()


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.one_of(st.just(math.nan), st.floats(-5, 5), st.sampled_from([0.0, 0.1, 1.0])),
            min_size=1,
            max_size=40,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_median_mad_equals_numpy(rows: list[list[float]]) -> None:
    """The compiled walk finds the deviations' middle exactly where numpy's nanmedian of |x - median| does."""
    width = max(len(r) for r in rows)
    values = np.array([r + [math.nan] * (width - len(r)) for r in rows])
    med, mad, count = median_mad(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on an all-NaN row (its answer: NaN)
        want_med = np.nanmedian(values, axis=1)
        want_mad = np.nanmedian(np.abs(values - want_med[:, None]), axis=1)
    np.testing.assert_array_equal(count, np.sum(~np.isnan(values), axis=1))
    np.testing.assert_allclose(med, want_med, rtol=1e-15, atol=0)
    np.testing.assert_allclose(mad, want_mad, rtol=1e-15, atol=0)


@PROPS
@given(
    rows=st.lists(
        st.lists(
            st.one_of(st.floats(-50.0, 50.0), st.sampled_from([0.0, 1.0, math.nan])), min_size=80, max_size=80
        ),
        min_size=1,
        max_size=4,
    ),
    first_day=st.integers(-30, 60),
    n_days=st.integers(1, 4),
    window=st.integers(1, 60),
    stride=st.sampled_from([1, 2, 3, 6, 5]),
)
def test_day_baselines_equal_one_day_at_a_time(
    rows: list[list[float]], first_day: int, n_days: int, window: int, stride: int
) -> None:
    """Several days' baselines slid along one lattice (strides dividing a day) or one sort per day
    (others) are each day's own baseline exactly — days before the grid included (no history: NaN)."""
    values = np.array(rows)
    bounds = [
        b for b in (first_day + 24 * d for d in range(n_days)) if b < values.shape[1]
    ]  # days of the grid
    med, scale = day_baselines(values, bounds, window=window, stride=stride, floor=0.1, min_samples=3)
    for d, b in enumerate(bounds):
        one = day_baseline(values, b, window=window, stride=stride, floor=0.1, min_samples=3)
        np.testing.assert_array_equal(med[:, d], one.median)
        np.testing.assert_array_equal(scale[:, d], one.scale)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(st.none(), st.integers(-3, 3).map(float)), min_size=1, max_size=30),
        min_size=1,
        max_size=6,
    ),
    at=st.lists(st.one_of(st.none(), st.integers(-4, 4).map(float)), min_size=6, max_size=6),
)
def test_percentile_counts_the_sample_below_and_half_the_ties(
    rows: list[list[float | None]], at: list[float | None]
) -> None:
    """A day's percentile (binary searches in its sorted sample) is the share of the sample below the value with
    ties counted half, as counting every sample says; NaN where the history is too short or the value missing."""
    width = max(len(r) for r in rows)
    values = np.array(
        [[math.nan if v is None else v for v in r] + [math.nan] * (width - len(r)) for r in rows]
    )
    day = day_baseline(values, width, window=width, stride=1, floor=0.1, min_samples=3)
    now = np.array([math.nan if v is None else v for v in at[: len(rows)]])
    got = day.percentile(now)
    for i, row in enumerate(values):
        sample = row[~np.isnan(row)]
        if sample.size < 3 or math.isnan(now[i]):
            assert math.isnan(got[i])
        else:
            expected = (np.sum(sample < now[i]) + 0.5 * np.sum(sample == now[i])) / sample.size
            assert got[i] == expected


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    hours=st.integers(30, 400),
    window=st.integers(1, 200),
    stride=st.sampled_from([1, 2, 3, 4, 6, 5, 7]),
    nan_share=st.sampled_from([0.0, 0.2, 0.9]),
    ties=st.booleans(),
)
def test_next_days_baseline_slid_from_the_day_before_equals_one_sorted_afresh(
    seed: int, hours: int, window: int, stride: int, nan_share: float, ties: bool
) -> None:
    """The live radar's new day: the day before's sorted sample with the samples that left taken out and the day's
    put in gives the sample, medians, scales and percentiles of sorting the new day's window afresh — exactly, with
    gaps, ties, windows longer than the grid and strides that do not divide a day (sorted afresh then)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, (5, hours))
    if ties:
        values = np.round(values, 0)
    values[rng.random(values.shape) < nan_share] = np.nan
    kw = {"window": window, "stride": stride, "floor": 0.1, "min_samples": 3}
    for bound in range(25, hours + 1, 24):
        before = day_baseline(values, bound - 24, **kw)
        slid = next_day_baseline(before, values, bound, **kw)
        fresh = day_baseline(values, bound, **kw)
        np.testing.assert_array_equal(slid.median, fresh.median)
        np.testing.assert_array_equal(slid.scale, fresh.scale)
        np.testing.assert_array_equal(slid.ordered, fresh.ordered)
        now = values[:, bound - 1]
        np.testing.assert_array_equal(slid.percentile(now), fresh.percentile(now))


def test_a_sample_that_does_not_match_its_values_is_sorted_afresh() -> None:
    """A day before's sample that is not the one the values hold (a value that left is not in it) is not slid."""
    values = np.arange(96, dtype=float)[None, :]
    kw = {"window": 30, "stride": 6, "floor": 0.1, "min_samples": 1}
    before = day_baseline(values, 48, **kw)
    wrong = type(before)(before.median, before.scale, before.ordered + 0.5, is_sorted=True)
    slid = next_day_baseline(wrong, values, 72, **kw)
    np.testing.assert_array_equal(slid.ordered, day_baseline(values, 72, **kw).ordered)
