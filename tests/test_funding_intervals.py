"""Funding settlement intervals on real data: detection from settlement times, recovery from hourly panels."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml
from hypothesis import given
from hypothesis import strategies as st

from levradar.domain.funding import (
    IntervalChange,
    detect_intervals,
    interval_changes,
    recover_from_forward_filled,
    settlement_ts,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def with_intervals(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (sorted ``ts``) with ``interval_hours`` and ``is_gap`` from :func:`detect_intervals`."""
    interval, is_gap = detect_intervals(frame["ts"])
    return frame.with_columns(interval, is_gap)


def intervals_between(frame: pl.DataFrame, start: datetime | None, end: datetime | None) -> set[float]:
    """The distinct intervals of settlements in ``[start, end]`` (open where ``None``)."""
    rows = frame
    if start is not None:
        rows = rows.filter(pl.col("ts") >= start)
    if end is not None:
        rows = rows.filter(pl.col("ts") <= end)
    assert rows.height > 0, f"no settlements between {start} and {end}"
    return set(rows["interval_hours"].to_list())


T0 = utc(2024, 3, 1)


# --- real settlement records ---------------------------------------------------------------------------


def binance_sol_settlements(fixtures: Path) -> pl.DataFrame:
    raw = pl.read_parquet(fixtures / "perp-panels" / "binance_funding" / "SOLUSDT.parquet")
    return raw.sort("datetime").select(
        settlement_ts("datetime").alias("ts"), pl.col("funding_rate").alias("rate")
    )


def hyperliquid_settlements(fixtures: Path) -> pl.DataFrame:
    cassette = yaml.safe_load(
        (fixtures / "hyperliquid-rest-samples" / "test_get_funding_history[None].yaml").read_text()
    )
    interaction = cassette["interactions"][1]
    assert json.loads(interaction["request"]["body"])["type"] == "fundingHistory"
    body = json.loads(interaction["response"]["body"]["string"])
    frame = pl.DataFrame(body).with_columns(
        pl.from_epoch("time", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
        pl.col("fundingRate").cast(pl.Float64).alias("rate"),
    )
    assert frame["coin"].unique().to_list() == ["BTC"]
    return frame.sort("ts").select(settlement_ts("ts"), "rate")


SOL_4H_START = utc(2022, 11, 9, 20)
SOL_2H_START = utc(2022, 11, 10, 6)
SOL_2H_END = utc(2022, 11, 18, 8)
SOL_8H_AGAIN = utc(2022, 11, 18, 16)
HL_FIRST_HOURLY = utc(2023, 6, 8, 1)


def test_binance_sol_intervals_through_the_ftx_crash(fixtures: Path) -> None:
    sol = with_intervals(binance_sol_settlements(fixtures))

    assert intervals_between(sol, None, SOL_4H_START - timedelta(minutes=1)) == {8.0}
    four = sol.filter(pl.col("ts").is_between(SOL_4H_START, SOL_2H_START, closed="left"))
    assert four["ts"].to_list() == [utc(2022, 11, 9, 20), utc(2022, 11, 10, 0), utc(2022, 11, 10, 4)]
    assert set(four["interval_hours"]) == {4.0}
    assert intervals_between(sol, SOL_2H_START, SOL_2H_END) == {2.0}
    assert intervals_between(sol, SOL_2H_END + timedelta(minutes=1), None) == {8.0}
    assert sol.filter(pl.col("ts") > SOL_2H_END)["ts"][0] == SOL_8H_AGAIN
    assert not sol["is_gap"].any()


def test_binance_sol_interval_changes_are_listed_with_their_timestamps(fixtures: Path) -> None:
    sol = with_intervals(binance_sol_settlements(fixtures))
    assert interval_changes(sol) == [
        IntervalChange(SOL_4H_START, 8.0, 4.0),
        IntervalChange(SOL_2H_START, 4.0, 2.0),
        IntervalChange(SOL_8H_AGAIN, 2.0, 8.0),
    ]


def test_millisecond_jitter_does_not_need_rounding_first(fixtures: Path) -> None:
    # The minute tolerance of detect_intervals is meant to absorb settlement jitter, but the upper bound is
    # checked on the unrounded step (``step <= 8.0``): an 8 h step that lands a few ms late is called a gap.
    raw = pl.read_parquet(fixtures / "perp-panels" / "binance_funding" / "SOLUSDT.parquet").sort("datetime")
    assert (raw["datetime"].dt.millisecond() > 0).any()  # the real file does carry jitter
    jittered, jitter_gaps = detect_intervals(raw["datetime"])
    rounded, _ = detect_intervals(raw.select(settlement_ts("datetime"))["datetime"])
    assert jittered.to_list() == rounded.to_list()
    assert raw.filter(jitter_gaps)["datetime"].to_list() == []


def test_an_8h_step_a_few_milliseconds_late_is_not_a_gap() -> None:
    late = [T0, T0 + timedelta(hours=8, milliseconds=10), T0 + timedelta(hours=16, milliseconds=5)]
    early = [T0, T0 + timedelta(hours=8, milliseconds=-10), T0 + timedelta(hours=16, milliseconds=-5)]
    for stamps in (early, late):
        interval, is_gap = detect_intervals(pl.Series("ts", stamps, dtype=pl.Datetime("ms", "UTC")))
        assert interval.to_list() == [8.0, 8.0, 8.0]
        assert is_gap.to_list() == [False, False, False]


def test_hyperliquid_switch_from_8h_to_hourly_funding(fixtures: Path) -> None:
    hl = with_intervals(hyperliquid_settlements(fixtures))

    assert hl.filter(pl.col("interval_hours") == 1.0)["ts"][0] == HL_FIRST_HOURLY
    assert hl.filter(pl.col("ts") < HL_FIRST_HOURLY)["ts"][-1] == utc(2023, 6, 8)
    assert intervals_between(hl, None, HL_FIRST_HOURLY - timedelta(minutes=1)) == {8.0}
    assert intervals_between(hl, HL_FIRST_HOURLY, None) == {1.0}
    assert interval_changes(hl) == [IntervalChange(HL_FIRST_HOURLY, 8.0, 1.0)]


def test_hyperliquid_irregular_steps_are_gaps_not_intervals(fixtures: Path) -> None:
    hl = with_intervals(hyperliquid_settlements(fixtures))
    gaps = hl.filter("is_gap")
    # 2023-05-23 08:23:53 settled about 24 min late (steps of 8h24m and 7h36m: not whole hours), and the hourly
    # settlement of 2023-07-02 20:00 is missing (a 2 h step between 1 h steps)
    assert gaps["ts"].to_list() == [utc(2023, 5, 23, 8, 24), utc(2023, 5, 23, 16), utc(2023, 7, 2, 21)]
    assert gaps["interval_hours"].to_list() == [8.0, 8.0, 1.0]


# --- recovery from forward-filled hourly panels --------------------------------------------------------

PANELS = Path("perp-panels") / "hourly_panels"


def hyperliquid_panel(fixtures: Path) -> pl.DataFrame:
    raw = pl.read_parquet(fixtures / PANELS / "hyperliquid_BTC_2023-01-01_2026-03-07.parquet")
    return raw.select(pl.col("timestamp").alias("ts"), pl.col("funding_rate_1h_hyperliquid").alias("rate"))


def binance_sol_panel(fixtures: Path) -> pl.DataFrame:
    raw = pl.read_parquet(fixtures / PANELS / "binance_SOL_2020-08-11_2026-03-06.parquet")
    return raw.select(pl.col("timestamp").alias("ts"), pl.col("funding_rate_raw_binance").alias("rate"))


def assert_events_sit_on_panel_values(events: pl.DataFrame, panel: pl.DataFrame) -> None:
    """Every event is at an hour where the panel has a value, and carries that value."""
    observed = panel.with_columns(pl.col("ts").cast(events.schema["ts"])).filter(
        pl.col("rate").is_not_null() & pl.col("rate").is_not_nan()
    )
    joined = events.join(observed.rename({"rate": "panel_rate"}), on="ts", how="left")
    assert joined["panel_rate"].null_count() == 0
    assert (joined["rate"] == joined["panel_rate"]).all()


def test_hyperliquid_panel_recovers_8h_then_hourly_events(fixtures: Path) -> None:
    panel = hyperliquid_panel(fixtures)
    events = recover_from_forward_filled(panel)
    switch_window = events.filter(pl.col("ts") <= utc(2023, 6, 12))

    before = switch_window.filter(pl.col("ts") < HL_FIRST_HOURLY)
    assert before["ts"].to_list() == [utc(2023, 6, 1) + timedelta(hours=8 * k) for k in range(22)]
    assert set(before["interval_hours"]) == {8.0}

    after = switch_window.filter(pl.col("ts") >= HL_FIRST_HOURLY)
    assert after["ts"].to_list() == [HL_FIRST_HOURLY + timedelta(hours=k) for k in range(96)]
    assert set(after["interval_hours"]) == {1.0}

    assert_events_sit_on_panel_values(events, panel)


def test_hyperliquid_panel_recovery_matches_the_recorded_settlements(fixtures: Path) -> None:
    events = recover_from_forward_filled(hyperliquid_panel(fixtures)).filter(pl.col("ts") <= utc(2023, 6, 12))
    real = with_intervals(hyperliquid_settlements(fixtures)).filter(
        pl.col("ts").is_between(utc(2023, 6, 1), utc(2023, 6, 12))
    )
    assert events["ts"].to_list() == real["ts"].to_list()
    assert events["interval_hours"].to_list() == real["interval_hours"].to_list()
    # the panel carries a few more digits than the 8-decimal API strings
    assert all(math.isclose(a, b, abs_tol=1e-8) for a, b in zip(events["rate"], real["rate"], strict=True))


def test_hyperliquid_panel_emits_nothing_inside_its_two_year_hole(fixtures: Path) -> None:
    panel = hyperliquid_panel(fixtures)
    hole_start, hole_end = utc(2023, 6, 12), utc(2025, 8, 8)
    assert panel.filter(pl.col("ts").is_between(hole_start, hole_end, closed="none")).is_empty()
    events = recover_from_forward_filled(panel)
    assert events.filter(pl.col("ts").is_between(hole_start, hole_end, closed="none")).is_empty()
    assert events.filter(pl.col("ts") >= hole_end).height > 0


def test_hyperliquid_panel_2025_window_is_hourly_whatever_came_before_the_hole(fixtures: Path) -> None:
    # Hyperliquid has paid hourly since 2023-06-08 and the 2025 window alone is recovered as hourly. In the
    # whole panel the 2023 segment that runs across the 788-day hole counts as an 8 h neighbour, so the
    # 44 h of unchanged 0.00125 %/h from 2025-08-08 00:00 stay 8-hourly: 6 events instead of 44.
    panel = hyperliquid_panel(fixtures)
    window = pl.col("ts") >= utc(2025, 8, 8)
    alone = recover_from_forward_filled(panel.filter(window))
    assert set(alone["interval_hours"]) == {1.0}
    whole = recover_from_forward_filled(panel).filter(window)
    assert whole.to_dicts() == alone.to_dicts()


def test_binance_sol_panel_recovers_short_intervals_during_the_crash(fixtures: Path) -> None:
    panel = binance_sol_panel(fixtures)
    events = recover_from_forward_filled(panel)

    before = events.filter(pl.col("ts") < datetime(2022, 11, 9))
    assert before.height > 0
    assert set(before["interval_hours"]) == {8.0}
    assert set(before["ts"].dt.hour()) <= {0, 8, 16}

    crash = events.filter(
        pl.col("ts").is_between(SOL_4H_START.replace(tzinfo=None), datetime(2022, 11, 18, 8))
    )
    assert crash["interval_hours"].max() < 8.0
    assert {2.0, 4.0} <= set(crash["interval_hours"])
    # the first settlement that differs from the capped −2 % (2022-11-10 14:00) is on the 2 h cadence
    off_the_cap = crash.filter(pl.col("ts") >= datetime(2022, 11, 10, 14))
    assert set(off_the_cap["interval_hours"]) == {2.0}

    after = events.filter(pl.col("ts") > datetime(2022, 11, 18, 8))
    assert after["ts"][0] == datetime(2022, 11, 18, 16)
    assert set(after["interval_hours"]) == {8.0}

    assert_events_sit_on_panel_values(events, panel)


def test_binance_sol_panel_events_are_real_settlements(fixtures: Path) -> None:
    events = recover_from_forward_filled(binance_sol_panel(fixtures))
    real = binance_sol_settlements(fixtures).select(
        pl.col("ts").dt.replace_time_zone(None).cast(pl.Datetime("us")), pl.col("rate").alias("real_rate")
    )
    joined = events.join(real, on="ts", how="left")
    assert joined["real_rate"].null_count() == 0
    assert (joined["rate"] == joined["real_rate"]).all()


def test_binance_sol_panel_intervals_agree_with_the_real_record(fixtures: Path) -> None:
    # Where the settlement before a recovered event was recovered too (nothing hidden in between), the
    # recovered interval must be the real one. At 2022-11-09 16:00 the real interval is 8 h (08:00 → 16:00,
    # both recovered) but the recovered event takes the 4 h cadence of the segment that *starts* there.
    events = recover_from_forward_filled(binance_sol_panel(fixtures))
    real = with_intervals(binance_sol_settlements(fixtures)).with_columns(
        pl.col("ts").dt.replace_time_zone(None).cast(pl.Datetime("us")),
        pl.col("ts").shift(1).dt.replace_time_zone(None).cast(pl.Datetime("us")).alias("prev_ts"),
    )
    joined = events.join(real.rename({"interval_hours": "real_interval"}), on="ts", how="inner")
    comparable = joined.filter(pl.col("prev_ts").is_in(events["ts"].implode()))
    assert comparable.height > 100
    wrong = comparable.filter(pl.col("interval_hours") != pl.col("real_interval"))
    assert wrong.select("ts", "interval_hours", "real_interval").to_dicts() == []


def test_no_event_where_the_panel_has_no_value(fixtures: Path) -> None:
    panel = binance_sol_panel(fixtures)
    # a blank day inside the 2 h regime (12 real settlements) and NaN at two hours between settlements
    blank_day = pl.col("ts").is_between(datetime(2022, 11, 12), datetime(2022, 11, 12, 23))
    nan_hours = pl.col("ts").is_in([datetime(2022, 11, 8, 3), datetime(2022, 11, 14, 7)])
    holed = panel.with_columns(
        pl.when(blank_day)
        .then(None)
        .when(nan_hours)
        .then(float("nan"))
        .otherwise(pl.col("rate"))
        .alias("rate")
    )
    events = recover_from_forward_filled(holed)
    assert events.filter(blank_day | nan_hours).is_empty()
    assert_events_sit_on_panel_values(events, holed)
    # everywhere else the events are the ones the intact panel gives
    intact = recover_from_forward_filled(panel)
    assert intact.filter(blank_day).height == 12
    assert events["ts"].to_list() == intact.filter(~(blank_day | nan_hours))["ts"].to_list()
    assert events["rate"].to_list() == intact.filter(~(blank_day | nan_hours))["rate"].to_list()


def test_empty_or_all_null_panel_gives_no_events() -> None:
    hours = [datetime(2024, 1, 1) + timedelta(hours=k) for k in range(5)]
    blank = pl.DataFrame(
        {"ts": hours, "rate": [None] * 5}, schema={"ts": pl.Datetime("us"), "rate": pl.Float64}
    )
    events = recover_from_forward_filled(blank)
    assert events.is_empty()
    assert events.columns == ["ts", "rate", "interval_hours"]


# --- gaps in settlement records ------------------------------------------------------------------------


def settlements_at(hours: list[float]) -> pl.Series:
    return pl.Series("ts", [T0 + timedelta(hours=h) for h in hours], dtype=pl.Datetime("ms", "UTC"))


def test_one_missed_hourly_settlement_is_a_gap_that_keeps_the_hourly_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 4, 5, 6]))
    assert interval.to_list() == [1.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]


def test_a_missed_8h_settlement_is_a_gap() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 8, 16, 32, 40, 48]))
    assert interval.to_list() == [8.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]


def test_a_multi_day_hole_is_a_gap_not_a_72h_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 74, 75, 76]))
    assert interval.to_list() == [1.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]
    assert interval.max() == 1.0


def test_a_hole_right_after_the_first_settlement_takes_the_later_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 72, 80, 88]))
    assert interval.to_list() == [8.0] * 4
    assert is_gap.to_list() == [False, True, False, False]


def test_a_real_change_of_cadence_is_not_a_gap() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 4, 6, 8]))
    assert interval.to_list() == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert not is_gap.any()


def test_a_step_off_the_whole_hour_is_a_gap() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 8, 16, 24.5, 32, 40]))
    assert interval.to_list() == [8.0] * 6
    assert is_gap.to_list() == [False, False, False, True, True, False]


# --- property: clean settlement sequences --------------------------------------------------------------

STANDARD = (1, 2, 4, 8)


@st.composite
def clean_steps(draw: st.DrawFn) -> list[int]:
    """Steps between settlements, each in {1, 2, 4, 8}, with no a, b, a where b > a.

    detect_intervals documents that a step which is a whole multiple of equal steps on both sides is a
    missed settlement, not an interval change; in {1, 2, 4, 8} every larger step is such a multiple, so
    sequences like 1, 2, 1 or 4, 8, 4 are legitimately read as gaps and are kept out of this property
    (``test_peaks_between_equal_steps_are_missed_settlements`` covers them).
    """
    steps: list[int] = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        choices = list(STANDARD)
        if len(steps) >= 2 and steps[-1] > steps[-2]:
            choices.remove(steps[-2])
        steps.append(draw(st.sampled_from(choices)))
    return steps


def timestamps(start: datetime, steps: list[int]) -> pl.Series:
    hours = [0, *steps]
    return pl.Series(
        "ts",
        [start + timedelta(hours=sum(hours[: k + 1])) for k in range(len(hours))],
        dtype=pl.Datetime("ms", "UTC"),
    )


STARTS = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2026, 1, 1)).map(
    lambda d: d.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
)


@given(steps=clean_steps(), start=STARTS)
def test_detect_intervals_returns_the_generating_intervals(steps: list[int], start: datetime) -> None:
    interval, is_gap = detect_intervals(timestamps(start, steps))
    assert interval.to_list() == [float(s) for s in [steps[0], *steps]]
    assert not is_gap.any()


@given(steps=st.lists(st.sampled_from(STANDARD), min_size=1, max_size=40), start=STARTS)
def test_peaks_between_equal_steps_are_missed_settlements(steps: list[int], start: datetime) -> None:
    peak = [
        0 < k < len(steps) - 1 and steps[k - 1] == steps[k + 1] and steps[k] > steps[k - 1]
        for k in range(len(steps))
    ]
    # a peak is never next to another peak (its neighbours are smaller), so it takes its left neighbour
    expected = [steps[k - 1] if peak[k] else steps[k] for k in range(len(steps))]
    interval, is_gap = detect_intervals(timestamps(start, steps))
    assert interval.to_list() == [float(s) for s in [expected[0], *expected]]
    assert is_gap.to_list() == [False, *peak]
