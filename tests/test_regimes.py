"""Regime labelling: buckets without hysteresis, no flicker inside a band, NaN cells, independent markets,
run lengths; RegimeSpec validation and loading the signal configuration."""

from __future__ import annotations

import bisect
import dataclasses
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from levradar.analytics._loops import trailing_extreme
from levradar.analytics.config import ConfigError, RegimeSpec, default_config_path, load_config
from levradar.analytics.regimes import (
    MISSING,
    NO_RUN,
    dwell,
    fresh_state,
    label_codes,
    label_series,
    names,
    run_hours,
    sides,
)

PROPS = settings(max_examples=40, deadline=None)
MANY = settings(max_examples=300, deadline=None)

FUNDING = RegimeSpec(
    ("Deep Negative", "Negative", "Neutral", "Positive", "Extreme Positive"), (-2.5, -1.0, 1.0, 2.5), 0.25
)
NEUTRAL, POSITIVE = 2, 3


def _spec(bounds: list[float], hysteresis: float) -> RegimeSpec:
    return RegimeSpec(tuple(f"L{i}" for i in range(len(bounds) + 1)), tuple(bounds), hysteresis)


@st.composite
def banded_specs(draw: st.DrawFn) -> RegimeSpec:
    """Specs with hysteresis > 0 whose bands do not overlap (boundaries more than 2 × hysteresis apart)."""
    h = draw(st.floats(0.01, 0.5))
    first = draw(st.floats(-5.0, 5.0))
    gaps = draw(st.lists(st.floats(2 * h + 0.01, 2 * h + 3.0), min_size=0, max_size=3))
    bounds = [first]
    for gap in gaps:
        bounds.append(bounds[-1] + gap)
    return _spec(bounds, h)


def _values(spec: RegimeSpec, *, nan: bool = True) -> st.SearchStrategy[float]:
    """Metric values: often near (inside or just outside) a band, sometimes anywhere, sometimes NaN."""
    h = spec.hysteresis
    width = 1.5 * h if h > 0 else 0.5
    near = st.tuples(st.sampled_from(spec.boundaries), st.floats(-width, width)).map(lambda p: p[0] + p[1])
    parts = [near, st.sampled_from(spec.boundaries), st.floats(-10.0, 10.0)]
    if nan:
        parts.append(st.just(math.nan))
    return st.one_of(*parts)


@st.composite
def spec_and_paths(draw: st.DrawFn) -> tuple[RegimeSpec, npt.NDArray[np.float64]]:
    spec = draw(banded_specs())
    k = draw(st.integers(1, 4))
    t = draw(st.integers(1, 30))
    cells = draw(st.lists(_values(spec), min_size=k * t, max_size=k * t))
    return spec, np.array(cells, dtype=np.float64).reshape(k, t)


def _band(x: float, spec: RegimeSpec) -> int | None:
    """Index of the boundary whose band holds ``x`` (bands do not overlap in these tests)."""
    inside = [i for i, b in enumerate(spec.boundaries) if abs(x - b) < spec.hysteresis]
    assert len(inside) <= 1
    return inside[0] if inside else None


def _reference_row(row: npt.NDArray[np.float64], spec: RegimeSpec) -> list[int]:
    """The documented state machine: outside every band the label is the bucket; inside the band of boundary
    i the previous label holds when it is i or i + 1 (otherwise the nearer of the two); the first hour (and
    the first after nothing but NaN) takes its bucket."""
    out: list[int] = []
    prev: int | None = None
    for x in row.tolist():
        if math.isnan(x):
            out.append(MISSING)
            continue
        label = bisect.bisect_right(spec.boundaries, x)
        band = _band(x, spec)
        if band is not None and prev is not None:
            label = min(max(prev, band), band + 1)
        out.append(label)
        prev = label
    return out


# ---------------------------------------------------------------------------------------------- no hysteresis


@PROPS
@given(
    bounds=st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=5).map(sorted),
    data=st.data(),
)
def test_without_hysteresis_the_label_is_the_bucket(bounds: list[float], data: st.DataObject) -> None:
    spec = _spec(bounds, 0.0)
    k, t = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 20))
    cells = data.draw(st.lists(_values(spec), min_size=k * t, max_size=k * t))
    metric = np.array(cells, dtype=np.float64).reshape(k, t)
    codes = label_codes(metric, spec)
    assert codes.shape == (k, t)
    expected = [MISSING if math.isnan(x) else bisect.bisect_right(bounds, x) for x in cells]
    assert codes.ravel().tolist() == expected
    finite = ~np.isnan(metric)
    np.testing.assert_array_equal(
        codes[finite], np.searchsorted(np.array(bounds), metric[finite], side="right")
    )


def test_bucket_edges_without_hysteresis() -> None:
    spec = _spec([-1.0, 1.0], 0.0)
    metric = np.array([[-5.0, -1.0, -0.999, 0.0, 1.0, 0.999, 7.0]])
    assert label_codes(metric, spec).tolist() == [[0, 1, 1, 1, 2, 1, 2]]


# ------------------------------------------------------------------------------------------------ hysteresis


@st.composite
def decided_then_wiggling(draw: st.DrawFn) -> tuple[RegimeSpec, npt.NDArray[np.float64], int, int, bool]:
    """A path per market: any prefix, one decisive hour clearly past boundary i (outside every band), then
    hours wiggling inside boundary i's band. Returns the spec, the paths, where the wiggle starts, i, the side."""
    spec = draw(banded_specs())
    i = draw(st.integers(0, len(spec.boundaries) - 1))
    b, h = spec.boundaries[i], spec.hysteresis
    above = draw(st.booleans())
    k = draw(st.integers(1, 4))
    pre = draw(st.integers(0, 10))
    wiggle = draw(st.integers(1, 25))
    rows = []
    for _ in range(k):
        prefix = draw(st.lists(_values(spec), min_size=pre, max_size=pre))
        if above:
            upper = spec.boundaries[i + 1] - h if i + 1 < len(spec.boundaries) else b + h + 5.0
            decisive = draw(st.floats(b + h + 0.001, upper - 0.001))
        else:
            lower = spec.boundaries[i - 1] + h if i > 0 else b - h - 5.0
            decisive = draw(st.floats(lower + 0.001, b - h - 0.001))
        assert _band(decisive, spec) is None
        inner = draw(
            st.lists(
                st.floats(b - h, b + h, exclude_min=True, exclude_max=True), min_size=wiggle, max_size=wiggle
            )
        )
        inner = [x for x in inner if abs(x - b) < h] or [b]
        inner = (inner * wiggle)[:wiggle]
        rows.append([*prefix, decisive, *inner])
    return spec, np.array(rows, dtype=np.float64), pre + 1, i, above


@PROPS
@given(case=decided_then_wiggling())
def test_a_decided_label_does_not_flicker_inside_the_band(
    case: tuple[RegimeSpec, npt.NDArray[np.float64], int, int, bool],
) -> None:
    spec, metric, start, i, above = case
    codes = label_codes(metric, spec)
    decided = codes[:, start - 1]
    expected = i + 1 if above else i
    # the decisive hour is past boundary i on the chosen side
    assert set(decided.tolist()) <= (set(range(i + 1, len(spec.labels))) if above else set(range(i + 1)))
    # every wiggling hour keeps the label adjacent to the band on the decided side: never a flicker
    assert (codes[:, start:] == expected).all(), codes


def test_funding_example_holds_through_the_band() -> None:
    # Neutral, then clearly Positive, then around 1.0 (0.8 .. 1.2): Positive holds until z falls below 0.75
    z = np.array([[0.0, 1.5, 1.2, 0.9, 0.8, 1.1, 0.76, 0.74, 0.9, 1.24, 1.26]])
    codes = label_codes(z, FUNDING)
    assert codes.tolist() == [[2, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3]]
    expected = ["Neutral", *["Positive"] * 6, *["Neutral"] * 3, "Positive"]
    assert names(codes, FUNDING).tolist() == [expected]


@PROPS
@given(case=spec_and_paths())
def test_in_a_band_the_label_is_adjacent_and_outside_it_is_the_bucket(
    case: tuple[RegimeSpec, npt.NDArray[np.float64]],
) -> None:
    spec, metric = case
    codes = label_codes(metric, spec)
    for (r, c), x in np.ndenumerate(metric):
        if math.isnan(x):
            assert codes[r, c] == MISSING
            continue
        band = _band(float(x), spec)
        if band is None:
            assert codes[r, c] == bisect.bisect_right(spec.boundaries, float(x))
        else:
            assert codes[r, c] in (band, band + 1)


@PROPS
@given(case=spec_and_paths())
def test_rows_are_labelled_independently(case: tuple[RegimeSpec, npt.NDArray[np.float64]]) -> None:
    spec, metric = case
    together = label_codes(metric, spec)
    for r in range(metric.shape[0]):
        np.testing.assert_array_equal(together[r], label_codes(metric[r : r + 1], spec)[0])
    # the order of the markets does not matter either
    np.testing.assert_array_equal(label_codes(metric[::-1], spec), together[::-1])


@PROPS
@given(case=spec_and_paths())
def test_labels_follow_the_documented_state_machine(case: tuple[RegimeSpec, npt.NDArray[np.float64]]) -> None:
    spec, metric = case
    codes = label_codes(metric, spec)
    assert codes.tolist() == [_reference_row(row, spec) for row in metric]


def test_a_window_that_starts_inside_a_band_does_not_flicker() -> None:
    # The first hour (0.9: Neutral) starts the state; the metric then wiggles around 1.0 within ±0.25 and
    # never passes 1.25, so it never enters Positive.
    z = np.array([[0.9, 1.1, 0.9, 1.1, 0.9]])
    assert label_codes(z, FUNDING).tolist() == [[NEUTRAL] * 5]


def test_a_jump_between_bands_does_not_undo_the_crossing() -> None:
    # Neutral (0.0), into 1.0's band (1.1: still Neutral), straight into 2.5's band (2.4: past 1.25, so
    # Positive), back into 1.0's band (1.1): it never fell below 0.75, so Positive holds.
    z = np.array([[0.0, 1.1, 2.4, 1.1]])
    assert label_codes(z, FUNDING).tolist() == [[NEUTRAL, NEUTRAL, POSITIVE, POSITIVE]]


# ------------------------------------------------------------------------------------------------------- NaN


def test_nan_cells_are_missing_and_have_no_name() -> None:
    z = np.array([[np.nan, 0.0, np.nan, 3.0], [np.nan, np.nan, np.nan, np.nan], [-3.0, 1.1, np.nan, 1.1]])
    codes = label_codes(z, FUNDING)
    assert codes.tolist() == [[-1, 2, -1, 4], [-1, -1, -1, -1], [0, 2, -1, 2]]
    assert names(codes, FUNDING).tolist() == [
        [None, "Neutral", None, "Extreme Positive"],
        [None, None, None, None],
        ["Deep Negative", "Neutral", None, "Neutral"],
    ]


@PROPS
@given(case=spec_and_paths())
def test_names_match_codes(case: tuple[RegimeSpec, npt.NDArray[np.float64]]) -> None:
    spec, metric = case
    codes = label_codes(metric, spec)
    named = names(codes, spec)
    assert named.shape == codes.shape
    for (r, c), code in np.ndenumerate(codes):
        assert named[r, c] == (None if code == MISSING else spec.labels[code])
        assert (code == MISSING) == bool(np.isnan(metric[r, c]))


# ------------------------------------------------------------------------------------------------- run_hours


def test_run_hours_hand_example() -> None:
    codes = np.array([[0, 0, 1, 1, 1, -1, -1, 0], [2, 2, 2, 2, 2, 2, 2, 2]], dtype=np.int64)
    hours = np.arange(8, dtype=np.int64)
    assert run_hours(codes, hours).tolist() == [[0, 1, 0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5, 6, 7]]
    # hours are hour numbers, not positions: gaps in them count
    gapped = np.array([100, 101, 105, 106, 110, 111, 112, 120], dtype=np.int64)
    assert run_hours(codes, gapped).tolist() == [[0, 1, 0, 1, 5, 0, 1, 0], [0, 1, 5, 6, 10, 11, 12, 20]]


def _naive_run_hours(codes: list[int], hours: list[int]) -> list[int]:
    out = []
    start = hours[0]
    for t, code in enumerate(codes):
        if t == 0 or code != codes[t - 1]:
            start = hours[t]
        out.append(hours[t] - start)
    return out


@PROPS
@given(
    k=st.integers(1, 4),
    t=st.integers(1, 30),
    per_row_hours=st.booleans(),
    data=st.data(),
)
def test_run_hours_matches_a_loop(k: int, t: int, per_row_hours: bool, data: st.DataObject) -> None:
    codes = np.array(
        data.draw(st.lists(st.integers(-1, 3), min_size=k * t, max_size=k * t)), dtype=np.int64
    ).reshape(k, t)
    n_rows = k if per_row_hours else 1
    steps = data.draw(st.lists(st.integers(1, 5), min_size=n_rows * t, max_size=n_rows * t))
    origin = data.draw(st.integers(0, 10_000))
    hours = origin + np.cumsum(np.array(steps, dtype=np.int64).reshape(n_rows, t), axis=1)
    if not per_row_hours:
        hours = hours[0]
    got = run_hours(codes, hours)
    assert got.shape == (k, t)
    for r in range(k):
        row_hours = (hours[r] if per_row_hours else hours).tolist()
        assert got[r].tolist() == _naive_run_hours(codes[r].tolist(), row_hours)


# ---------------------------------------------------------------------------------------------- RegimeSpec


def test_regime_spec_accepts_a_valid_spec() -> None:
    spec = RegimeSpec(("a", "b", "c"), (-1.0, 1.0), 0.0)
    assert spec.labels == ("a", "b", "c")
    assert spec.boundaries == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("labels", "boundaries", "hysteresis"),
    [
        (("a", "b"), (), 0.1),
        (("a", "b", "c"), (0.0,), 0.1),
        (("a",), (0.0,), 0.1),
        (("a", "b", "c"), (1.0, -1.0), 0.1),
        (("a", "b", "c", "d"), (-1.0, 2.0, 1.0), 0.1),
        (("a", "b", "c"), (-1.0, 1.0), -0.01),
    ],
)
def test_regime_spec_rejects_invalid_specs(
    labels: tuple[str, ...], boundaries: tuple[float, ...], hysteresis: float
) -> None:
    with pytest.raises(ConfigError):
        RegimeSpec(labels, boundaries, hysteresis)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        RegimeSpec(("a", "b"), (1.0, 0.0), 0.0)


# ------------------------------------------------------------------------------------------------ load_config


def test_packaged_config_loads() -> None:
    config = load_config()
    funding = config.regime("funding")
    assert funding == dataclasses.replace(FUNDING, min_dwell=2)
    assert config.regime("oi").boundaries == (-2.0, -0.75, 0.75, 2.0)
    assert config.regime("volatility").labels == ("Contracting", "Normal", "Expanding")
    assert len(config.digest) == 12
    int(config.digest, 16)
    assert config.floor("funding_rate_8h") == pytest.approx(0.00005)
    assert int(config.value("baseline", "window_days")) == 90


def test_a_copy_of_the_packaged_config_loads_from_a_path(tmp_path: Path) -> None:
    copy = tmp_path / "signals.toml"
    copy.write_bytes(default_config_path().read_bytes())
    assert load_config(copy).digest == load_config().digest
    assert load_config(str(copy)).raw == load_config().raw


def test_missing_sections_and_values_are_config_errors() -> None:
    config = load_config()
    with pytest.raises(ConfigError, match="no_such_section"):
        config.section("no_such_section")
    with pytest.raises(ConfigError, match="no_such_key"):
        config.value("baseline", "no_such_key")
    with pytest.raises(ConfigError, match="no_such_metric"):
        config.floor("no_such_metric")


def test_broken_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[baseline\nwindow_days = = 90\n")
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    assert str(broken) in str(info.value)


def test_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "signals.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_invalid_regime_in_a_file_is_a_config_error(tmp_path: Path) -> None:
    text = default_config_path().read_text()
    assert "boundaries = [-2.0, -0.75, 0.75, 2.0]" in text
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace("boundaries = [-2.0, -0.75, 0.75, 2.0]", "boundaries = [2.0, 0.75, -0.75, -2.0]")
    )
    with pytest.raises(ConfigError, match="increase"):
        load_config(bad)


def test_regime_missing_a_key_in_a_file_is_a_config_error(tmp_path: Path) -> None:
    # ConfigError is documented as "the configuration file is missing a value or holds an invalid one"
    text = default_config_path().read_text()
    assert "hysteresis = 0.05" in text
    bad = tmp_path / "no_hysteresis.toml"
    bad.write_text(text.replace("hysteresis = 0.05", ""))
    with pytest.raises(ConfigError, match="hysteresis") as info:
        load_config(bad)
    assert str(bad) in str(info.value)


def test_a_one_hour_blip_does_not_flip_the_label() -> None:
    """min_dwell 2: a new label must be proposed two hours running; a blip of one hour is ignored."""
    spec = dataclasses.replace(FUNDING, min_dwell=2)
    z = np.array([[0.0, 0.0, 1.6, 0.0, 0.0, 1.6, 1.6, 1.6]])
    assert [str(x) for x in names(label_codes(z, spec), spec)[0]] == [
        "Neutral",
        "Neutral",
        "Neutral",
        "Neutral",
        "Neutral",
        "Neutral",
        "Positive",
        "Positive",
    ]


def test_a_label_never_contradicts_its_metric_sign() -> None:
    """Held by dwell or not, a positive-side label gives way at once when the metric turns negative."""
    spec = dataclasses.replace(FUNDING, min_dwell=5)
    z = np.array([[3.0, 3.0, -1.5, -1.5]])
    got = [str(x) for x in names(label_codes(z, spec), spec)[0]]
    assert got[:2] == ["Extreme Positive", "Extreme Positive"] and got[2] == "Negative"


def test_escalating_within_a_side_continues_the_run() -> None:
    """Persistence counts hours on a side: Negative → Deep Negative does not restart it."""
    codes = np.array([[2, 1, 1, 0, 0, 2]])  # Neutral, Negative, Negative, Deep, Deep, Neutral
    hours = np.arange(6, dtype=np.int64)[None, :]
    assert run_hours(sides(codes, FUNDING), hours)[0].tolist() == [0, 0, 1, 2, 3, 0]
    assert run_hours(codes, hours)[0].tolist() == [0, 0, 1, 0, 1, 0]


def test_dwell_holds_categorical_labels_and_lets_alarms_in() -> None:
    codes = np.array([[0, 0, 1, 0, 0, 2, 0, 1, 1]])
    assert dwell(codes, 2)[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert dwell(codes, 2, immediate=[2])[0].tolist() == [0, 0, 0, 0, 0, 2, 2, 2, 1]


def test_an_extreme_label_is_an_alarm_entered_at_once() -> None:
    """Past its band, an extreme label needs no dwell (a flush hour reads Falling Fast, not the label before); it
    is left only by the dwell, so it never lasts a single hour."""
    spec = dataclasses.replace(FUNDING, min_dwell=3)
    z = np.array([[0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.6, 1.6]])
    got = [str(x) for x in names(label_codes(z, spec), spec)[0]]
    assert got == [
        "Neutral",
        "Neutral",
        "Extreme Positive",
        "Extreme Positive",
        "Extreme Positive",
        "Neutral",
        # 2.6 lies inside the 2.5 ± 0.25 band: not past it, so it waits like any other label
        "Neutral",
        "Neutral",
    ]


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _reference_with_dwell(row: npt.NDArray[np.float64], spec: RegimeSpec) -> list[int]:
    """The full documented rules in plain Python, one hour at a time: the band hold of _reference_row, then a new
    label must be proposed ``min_dwell`` hours running — unless it is an extreme label past its band, or the
    current label's side contradicts the metric's sign."""
    middle, last = (len(spec.labels) - 1) / 2.0, len(spec.labels) - 1
    out: list[int] = []
    prev: int | None = None
    candidate, streak = None, 0
    for x in row.tolist():
        band = _band(x, spec) if not math.isnan(x) else None
        proposed = len(spec.boundaries) if math.isnan(x) else bisect.bisect_right(spec.boundaries, x)
        if band is not None and prev is not None:
            proposed = min(max(prev, band), band + 1)
        streak = streak + 1 if proposed == candidate else 1
        candidate = proposed
        if math.isnan(x):
            out.append(MISSING)
            streak = 0
            continue
        # the signs compared, not their product: a product of a subnormal underflows to -0.0 (a real case
        # hypothesis found: the metric -5e-324 contradicts a label above the middle)
        contradicts = prev is not None and _sign(prev - middle) * _sign(x) < 0
        extreme = proposed in (0, last) and band is None
        if prev is None or proposed == prev or streak >= max(1, spec.min_dwell) or contradicts or extreme:
            prev = proposed
        out.append(prev)
    return out


@MANY
@given(case=spec_and_paths(), min_dwell=st.integers(1, 4))
@example(  # a subnormal metric below zero contradicts a label above the middle
    case=(
        RegimeSpec(labels=("L0", "L1", "L2", "L3"), boundaries=(0.0, 2.0, 4.0), hysteresis=0.5, min_dwell=1),
        np.array([[0.0, 0.0, 0.0], [2.0, -5e-324, 0.0]]),
    ),
    min_dwell=2,
)
def test_the_compiled_labeller_follows_the_rules_with_dwell(
    case: tuple[RegimeSpec, npt.NDArray[np.float64]], min_dwell: int
) -> None:
    spec, metric = case
    spec = dataclasses.replace(spec, min_dwell=min_dwell)
    assert label_codes(metric, spec).tolist() == [_reference_with_dwell(row, spec) for row in metric]


@PROPS
@given(
    codes=st.lists(st.lists(st.integers(-1, 3), min_size=6, max_size=6), min_size=1, max_size=4),
    min_dwell=st.integers(0, 4),
    immediate=st.lists(st.integers(0, 3), max_size=2),
)
def test_dwell_follows_the_rules(codes: list[list[int]], min_dwell: int, immediate: list[int]) -> None:
    def reference(row: list[int]) -> list[int]:
        out, prev, candidate, streak = [], None, None, 0
        for c in row:
            streak = streak + 1 if c == candidate else 1
            candidate = c
            if c == MISSING:
                out.append(MISSING)
                streak = 0
                continue
            if prev is None or c == prev or streak >= max(1, min_dwell) or c in immediate:
                prev = c
            out.append(prev)
        return out

    got = dwell(np.array(codes, dtype=np.int64), min_dwell, immediate)
    assert got.tolist() == [reference(row) for row in codes]


@MANY
@given(case=spec_and_paths(), min_dwell=st.integers(1, 4), cut=st.integers(0, 30))
def test_a_label_carried_on_from_its_state_equals_one_pass(
    case: tuple[RegimeSpec, npt.NDArray[np.float64]], min_dwell: int, cut: int
) -> None:
    """The live radar labels its new hour from the state the hours before left: labelling a path in two pieces,
    the second from the first's state, gives exactly the labels of one pass (so does the dwell, and so do the
    hours a side has held)."""
    spec, metric = case
    spec = dataclasses.replace(spec, min_dwell=min_dwell)
    cut = min(cut, metric.shape[1])
    whole = label_codes(metric, spec)
    state = fresh_state(metric.shape[0])
    first = label_codes(metric[:, :cut], spec, state)
    second = label_codes(metric[:, cut:], spec, state)
    np.testing.assert_array_equal(np.concatenate([first, second], axis=1), whole)
    steady_state = fresh_state(metric.shape[0])
    pieces = [
        dwell(whole[:, :cut], min_dwell, [0], steady_state),
        dwell(whole[:, cut:], min_dwell, [0], steady_state),
    ]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), dwell(whole, min_dwell, [0]))
    side = sides(whole, spec)
    hours = np.tile(np.arange(metric.shape[1], dtype=np.int64), (metric.shape[0], 1))
    held = run_hours(side, hours)
    if 0 < cut < metric.shape[1]:
        before = (side[:, cut - 1], held[:, cut - 1])
        np.testing.assert_array_equal(run_hours(side[:, cut:], hours[:, cut:], before), held[:, cut:])
    fresh = (np.full(metric.shape[0], NO_RUN), np.zeros(metric.shape[0], dtype=np.int64))
    np.testing.assert_array_equal(run_hours(side, hours, fresh), held)


@PROPS
@given(
    rows=st.lists(
        st.lists(st.one_of(st.none(), st.floats(-5.0, 5.0)), min_size=1, max_size=40), min_size=1, max_size=3
    ),
    window=st.integers(1, 10),
)
def test_the_trailing_extremes_equal_polars_rolling(rows: list[list[float | None]], window: int) -> None:
    """The rules' trailing highs and lows (a queue of candidates, compiled) equal polars' rolling max and min with
    min_samples=1 over each series, nulls skipped."""
    width = max(len(r) for r in rows)
    padded = [r + [None] * (width - len(r)) for r in rows]
    values = np.asarray([[math.nan if v is None else v for v in r] for r in padded])
    for highest in (True, False):
        got = trailing_extreme(values, window, highest)
        for r, row in enumerate(padded):
            series = pl.Series(row, dtype=pl.Float64)
            rolled = (
                series.rolling_max(window, min_samples=1)
                if highest
                else series.rolling_min(window, min_samples=1)
            )
            expected = [math.nan if v is None else v for v in rolled.to_list()]
            np.testing.assert_array_equal(got[r], expected)


@pytest.mark.parametrize("n", [1, 7, 5000])
def test_label_series_names_every_code_and_leaves_missing_null(n: int) -> None:
    """Few rows (the live radar's hour) and many take different paths to the same column, all-missing included."""
    codes = np.arange(n, dtype=np.int64) % 4 - 1  # -1 (missing), 0, 1, 2
    got = label_series("x", codes, ["a", "b", "c"])
    assert got.dtype == pl.String and got.to_list() == [None if c < 0 else "abc"[c] for c in codes]
    none = label_series("x", np.full(n, MISSING), ["a", "b", "c"])
    assert none.dtype == pl.String and none.null_count() == n
