"""Funding settlement intervals on real data: detection from settlement times, recovery from hourly panels."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.domain.funding import (
    IntervalChange,
    aligned_interval,
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
SOL_8H_CONFIRMED = utc(2022, 11, 19)  # the second 8 h step: past-only, a longer step needs a second one
HL_FIRST_HOURLY = utc(2023, 6, 8, 1)


def test_binance_sol_intervals_through_the_ftx_crash(fixtures: Path) -> None:
    sol = with_intervals(binance_sol_settlements(fixtures))

    assert intervals_between(sol, None, SOL_4H_START - timedelta(minutes=1)) == {8.0}
    four = sol.filter(pl.col("ts").is_between(SOL_4H_START, SOL_2H_START, closed="left"))
    assert four["ts"].to_list() == [utc(2022, 11, 9, 20), utc(2022, 11, 10, 0), utc(2022, 11, 10, 4)]
    assert set(four["interval_hours"]) == {4.0}
    assert intervals_between(sol, SOL_2H_START, SOL_2H_END) == {2.0}
    # back to 8 h: the first 8 h step (08:00 -> 16:00) could as well be three missed 2 h settlements, so
    # as of 16:00 it is a gap that keeps 2 h; the second 8 h step confirms the change
    assert sol.filter(pl.col("ts") > SOL_2H_END)["ts"][0] == SOL_8H_AGAIN
    assert sol.filter(pl.col("is_gap"))["ts"].to_list() == [SOL_8H_AGAIN]
    assert sol.filter(pl.col("ts") == SOL_8H_AGAIN)["interval_hours"].to_list() == [2.0]
    assert intervals_between(sol, SOL_8H_CONFIRMED, None) == {8.0}


def test_binance_sol_interval_changes_are_listed_with_their_timestamps(fixtures: Path) -> None:
    sol = with_intervals(binance_sol_settlements(fixtures))
    assert interval_changes(sol) == [
        IntervalChange(SOL_4H_START, 8.0, 4.0),
        IntervalChange(SOL_2H_START, 4.0, 2.0),
        IntervalChange(SOL_8H_CONFIRMED, 2.0, 8.0),
    ]


def test_millisecond_jitter_does_not_need_rounding_first(fixtures: Path) -> None:
    # The minute tolerance of detect_intervals absorbs settlement jitter: an 8 h step that lands a few ms
    # late or early is an 8 h interval, not a gap.
    raw = pl.read_parquet(fixtures / "perp-panels" / "binance_funding" / "SOLUSDT.parquet").sort("datetime")
    assert (raw["datetime"].dt.millisecond() > 0).any()  # the real file does carry jitter
    jittered, jitter_gaps = detect_intervals(raw["datetime"])
    rounded, rounded_gaps = detect_intervals(raw.select(settlement_ts("datetime"))["datetime"])
    assert jittered.to_list() == rounded.to_list()
    assert jitter_gaps.to_list() == rounded_gaps.to_list()
    assert raw.filter(jitter_gaps)["datetime"].dt.round("1m").to_list() == [SOL_8H_AGAIN]


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
    # a shorter interval is a change at once: no settlement moves
    assert interval_changes(hl) == [IntervalChange(HL_FIRST_HOURLY, 8.0, 1.0)]


def test_hyperliquid_irregular_steps_are_gaps_not_intervals(fixtures: Path) -> None:
    hl = with_intervals(hyperliquid_settlements(fixtures))
    gaps = hl.filter("is_gap")
    # 2023-05-23 08:23:53 settled about 24 min late (steps of 8h24m and 7h36m: not whole hours), and the hourly
    # settlement of 2023-07-02 20:00 is missing (a 2 h step after 1 h steps, not followed by another 2 h step)
    assert gaps["ts"].to_list() == [utc(2023, 5, 23, 8, 24), utc(2023, 5, 23, 16), utc(2023, 7, 2, 21)]
    assert gaps["interval_hours"].to_list() == [8.0, 8.0, 1.0]


def test_detection_is_past_only_on_the_real_settlements(fixtures: Path) -> None:
    """Cut anywhere, the settlements before the cut get the intervals the whole record gives them."""
    for series in (binance_sol_settlements(fixtures)["ts"], hyperliquid_settlements(fixtures)["ts"]):
        whole, whole_gaps = detect_intervals(series)
        for cut in range(1, series.len()):
            part, part_gaps = detect_intervals(series.head(cut))
            assert part.to_list() == whole.head(cut).to_list(), cut
            assert part_gaps.to_list() == whole_gaps.head(cut).to_list(), cut


def test_the_first_settlement_takes_the_nominal_interval_its_hour_allows() -> None:
    assert aligned_interval(T0) == 8.0
    assert aligned_interval(T0, 1.0) == 1.0
    assert aligned_interval(T0 + timedelta(hours=12)) == 4.0
    assert aligned_interval(T0 + timedelta(hours=6)) == 2.0
    assert aligned_interval(T0 + timedelta(hours=13)) == 1.0
    assert aligned_interval(T0 + timedelta(hours=8, minutes=24)) == 1.0
    interval, _ = detect_intervals(settlements_at([12, 20, 28]))
    assert interval.to_list() == [4.0, 8.0, 8.0]  # the first step sets the interval, no confirmation needed
    interval, _ = detect_intervals(settlements_at([0, 1, 2]), nominal_hours=1.0)
    assert interval.to_list() == [1.0, 1.0, 1.0]


def test_a_change_right_after_the_assumed_first_interval_can_be_left_out() -> None:
    frame = pl.DataFrame({"ts": settlements_at([12, 20, 28, 30, 32]), "interval_hours": [4.0, 8, 8, 2, 2]})
    assert interval_changes(frame) == [
        IntervalChange(T0 + timedelta(hours=20), 4.0, 8.0),
        IntervalChange(T0 + timedelta(hours=30), 8.0, 2.0),
    ]
    assert interval_changes(frame, skip_first=True) == [IntervalChange(T0 + timedelta(hours=30), 8.0, 2.0)]


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


def test_hyperliquid_panel_2025_window_continues_the_cadence_from_before_the_hole(fixtures: Path) -> None:
    # Hyperliquid has paid hourly since 2023-06-08. After the 788-day hole of the fixture the rate sits at
    # 0.00125 %/h for 44 h before it first changes (2025-08-09 20:00). The whole panel carries the hourly
    # cadence of the last changes before the hole over it: 44 hourly events. The 2025 window alone has no
    # change before that hour to go by: its first row (00:00 UTC) is read at the longest interval its hour
    # allows, 8 h, until the first change shows the hourly cadence (past-only: nothing later is used).
    panel = hyperliquid_panel(fixtures)
    window = pl.col("ts") >= utc(2025, 8, 8)
    first_change = utc(2025, 8, 9, 20)
    whole = recover_from_forward_filled(panel).filter(window)
    before = whole.filter(pl.col("ts") < first_change)
    assert before["ts"].to_list() == [utc(2025, 8, 8) + timedelta(hours=k) for k in range(44)]
    assert set(before["interval_hours"]) == {1.0}
    alone = recover_from_forward_filled(panel.filter(window))
    alone_before = alone.filter(pl.col("ts") < first_change)
    assert alone_before["ts"].to_list() == [utc(2025, 8, 8) + timedelta(hours=8 * k) for k in range(6)]
    assert set(alone_before["interval_hours"]) == {8.0}
    # from the second change on (one gap of 1 h), both read hourly settlements, the same events
    later = pl.col("ts") > first_change
    assert alone.filter(later).to_dicts() == whole.filter(later).to_dicts()
    assert set(whole.filter(later)["interval_hours"]) == {1.0}


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

    # back to 8 h from 2022-11-18 16:00: as of 10:00, 12:00, ... an unchanged rate on the 2 h cadence looks
    # exactly like a 2 h settlement at the same rate, so events go on every 2 h until two 8 h gaps between
    # rate changes (08:00 -> 16:00 -> 00:00) show the longer cadence
    switch_back = events.filter(pl.col("ts").is_between(datetime(2022, 11, 18, 10), datetime(2022, 11, 19)))
    assert switch_back["ts"].to_list() == [datetime(2022, 11, 18, h) for h in range(10, 24, 2)] + [
        datetime(2022, 11, 19)
    ]
    assert switch_back["interval_hours"].to_list() == [2.0] * 7 + [8.0]
    after = events.filter(pl.col("ts") >= datetime(2022, 11, 19))
    assert set(after["interval_hours"]) == {8.0}
    assert set(after["ts"].dt.hour()) <= {0, 8, 16}

    assert_events_sit_on_panel_values(events, panel)


SOL_FINER_TOO_LONG = [datetime(2022, 11, 18, h) for h in (10, 12, 14, 18, 20, 22)]


def test_binance_sol_panel_events_are_real_settlements(fixtures: Path) -> None:
    # every recovered event is a real settlement with the real rate, but for the 2 h events emitted after the
    # switch back to 8 h before a second 8 h gap confirmed it (the documented cost of reading past-only)
    events = recover_from_forward_filled(binance_sol_panel(fixtures))
    real = binance_sol_settlements(fixtures).select(
        pl.col("ts").dt.replace_time_zone(None).cast(pl.Datetime("us")), pl.col("rate").alias("real_rate")
    )
    joined = events.join(real, on="ts", how="left")
    assert joined.filter(pl.col("real_rate").is_null())["ts"].to_list() == SOL_FINER_TOO_LONG
    matched = joined.drop_nulls("real_rate")
    assert (matched["rate"] == matched["real_rate"]).all()


def test_binance_sol_panel_intervals_agree_with_the_real_record(fixtures: Path) -> None:
    # Where the settlement before a recovered event was recovered too (nothing hidden in between), the
    # recovered interval is the real one, except at 2022-11-18 16:00: the first rate change after the switch
    # back to 8 h is still read on the 2 h cadence (one 8 h gap is not yet a cadence).
    events = recover_from_forward_filled(binance_sol_panel(fixtures))
    real = with_intervals(binance_sol_settlements(fixtures)).with_columns(
        pl.col("ts").dt.replace_time_zone(None).cast(pl.Datetime("us")),
        pl.col("ts").shift(1).dt.replace_time_zone(None).cast(pl.Datetime("us")).alias("prev_ts"),
    )
    real = real.with_columns(real_interval=(pl.col("ts") - pl.col("prev_ts")).dt.total_minutes() / 60.0)
    joined = events.join(real.drop("interval_hours"), on="ts", how="inner")
    comparable = joined.filter(pl.col("prev_ts").is_in(events["ts"].implode()))
    assert comparable.height > 100
    wrong = comparable.filter(pl.col("interval_hours") != pl.col("real_interval"))
    assert wrong.select("ts", "interval_hours", "real_interval").to_dicts() == [
        {"ts": datetime(2022, 11, 18, 16), "interval_hours": 2.0, "real_interval": 8.0}
    ]


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
    # everywhere else the events are the ones the intact panel gives: after each hole the cadence of the
    # changes before it goes on
    intact = recover_from_forward_filled(panel)
    assert intact.filter(blank_day).height == 12
    assert events.to_dicts() == intact.filter(~(blank_day | nan_hours)).to_dicts()


def test_empty_or_all_null_panel_gives_no_events() -> None:
    hours = [datetime(2024, 1, 1) + timedelta(hours=k) for k in range(5)]
    blank = pl.DataFrame(
        {"ts": hours, "rate": [None] * 5}, schema={"ts": pl.Datetime("us"), "rate": pl.Float64}
    )
    events = recover_from_forward_filled(blank)
    assert events.is_empty()
    assert events.columns == ["ts", "rate", "interval_hours"]


# --- recovery rules on forward-filled settlement sequences --------------------------------------------


def forward_filled(settlements: list[tuple[float, float]], end_hours: int) -> pl.DataFrame:
    """An hourly panel from ``T0`` to ``T0 + end_hours`` repeating each (hour, rate) settlement until the next."""
    hours = [T0 + timedelta(hours=h) for h in range(end_hours + 1)]
    frame = pl.DataFrame({"ts": hours}, schema={"ts": pl.Datetime("us", "UTC")})
    paid = pl.DataFrame(
        {"ts": [T0 + timedelta(hours=h) for h, _ in settlements], "rate": [r for _, r in settlements]},
        schema={"ts": pl.Datetime("us", "UTC"), "rate": pl.Float64},
    )
    return frame.join_asof(paid, on="ts", strategy="backward")


def event_hours(events: pl.DataFrame) -> list[float]:
    return [(t - T0) / timedelta(hours=1) for t in events["ts"]]


def test_a_finer_cadence_is_read_at_once_a_coarser_one_after_two_gaps() -> None:
    # 8 h, then 2 h from hour 18, then 8 h again from hour 32; every settlement changes the rate
    paid = [0, 8, 16, 18, 20, 22, 24, 32, 40, 48, 56]
    events = recover_from_forward_filled(
        forward_filled([(h, 1e-4 * (k + 1)) for k, h in enumerate(paid)], 63)
    )
    assert event_hours(events) == [0, 8, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 48, 56]
    assert events["interval_hours"].to_list() == [8.0] * 3 + [2.0] * 11 + [8.0] * 3


def test_an_hourly_rate_unchanged_for_a_day_stays_hourly() -> None:
    # an hourly venue paying the same rate for 30 h: the gaps of 1 h before keep the cadence hourly
    paid = [(h, 1e-5 * (h + 1)) for h in range(6)] + [(35, 2e-5), (36, 3e-5), (37, 4e-5)]
    events = recover_from_forward_filled(forward_filled(paid, 40))
    assert event_hours(events) == [float(h) for h in range(41)]
    # the first row (00:00 UTC) is read at the longest interval its hour allows; the first change corrects it
    assert events["interval_hours"].to_list() == [8.0] + [1.0] * 40


SETTLEMENT_STEPS = st.lists(st.sampled_from([1, 2, 4, 8, 16]), min_size=1, max_size=30)


@given(steps=SETTLEMENT_STEPS, same=st.lists(st.booleans(), min_size=30, max_size=30), data=st.data())
@settings(max_examples=60, deadline=None)
def test_recovery_is_past_only_and_keeps_every_rate_change(
    steps: list[int], same: list[bool], data: st.DataObject
) -> None:
    """On any forward-filled sequence of settlements (some at an unchanged rate), the events of the panel cut
    at any hour are the whole panel's events up to that hour, and every change of rate is an event."""
    hours = [0]
    for step in steps:
        hours.append(hours[-1] + step)
    rates, rate = [], 1e-4
    for k in range(len(hours)):
        rate = rate if k and same[k - 1] else rate + 1e-5
        rates.append(rate)
    panel = forward_filled(list(zip(hours, rates, strict=True)), hours[-1] + 8)
    whole = recover_from_forward_filled(panel)
    cut = T0 + timedelta(hours=data.draw(st.integers(0, hours[-1] + 8)))
    part = recover_from_forward_filled(panel.filter(pl.col("ts") <= cut))
    assert part.to_dicts() == whole.filter(pl.col("ts") <= cut).to_dicts()
    changes = [h for k, h in enumerate(hours) if k and rates[k] != rates[k - 1]]
    assert set(changes) <= set(event_hours(whole))


# --- gaps in settlement records ------------------------------------------------------------------------


def settlements_at(hours: list[float]) -> pl.Series:
    return pl.Series("ts", [T0 + timedelta(hours=h) for h in hours], dtype=pl.Datetime("ms", "UTC"))


def test_one_missed_hourly_settlement_is_a_gap_that_keeps_the_hourly_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 4, 5, 6]), nominal_hours=1.0)
    assert interval.to_list() == [1.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]


def test_a_missed_8h_settlement_is_a_gap() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 8, 16, 32, 40, 48]))
    assert interval.to_list() == [8.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]


def test_a_multi_day_hole_is_a_gap_not_a_72h_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 74, 75, 76]), nominal_hours=1.0)
    assert interval.to_list() == [1.0] * 6
    assert is_gap.to_list() == [False, False, False, True, False, False]
    assert interval.max() == 1.0


def test_a_hole_right_after_the_first_settlement_keeps_the_assumed_interval() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 72, 80, 88]))
    assert interval.to_list() == [8.0] * 4
    assert is_gap.to_list() == [False, True, False, False]


def test_a_finer_cadence_is_a_change_at_once_a_coarser_one_on_its_second_step() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 1, 2, 4, 6, 8, 9, 10]), nominal_hours=1.0)
    assert interval.to_list() == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0]
    assert is_gap.to_list() == [False, False, False, True, False, False, False, False]


def test_a_step_off_the_whole_hour_or_off_the_standard_intervals_is_a_gap() -> None:
    interval, is_gap = detect_intervals(settlements_at([0, 8, 16, 24.5, 32, 40]))
    assert interval.to_list() == [8.0] * 6
    assert is_gap.to_list() == [False, False, False, True, True, False]
    # 6 h, 3 h or 5 h is no venue's interval (1, 2, 4, 8 h): irregular settlements, not a new interval
    interval, is_gap = detect_intervals(settlements_at([0, 8, 14, 22, 25, 30, 38]))
    assert interval.to_list() == [8.0] * 7
    assert is_gap.to_list() == [False, False, True, False, True, True, False]


# --- property: settlement sequences ----------------------------------------------------------------------

STANDARD = (1, 2, 4, 8)


@st.composite
def runs(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Runs of equal steps between settlements, each in {1, 2, 4, 8}; a run longer than the one before it
    has at least two steps (one longer step alone reads as missed settlements, see below)."""
    out: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        step = draw(st.sampled_from(STANDARD))
        coarser = bool(out) and step > out[-1][0]
        out.append((step, draw(st.integers(min_value=2 if coarser else 1, max_value=4))))
    return out


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


@given(generating=runs(), start=STARTS)
def test_detect_intervals_returns_the_generating_intervals(
    generating: list[tuple[int, int]], start: datetime
) -> None:
    """Each step is its interval, but for the first step of a longer run: read as a gap (missed settlements)
    keeping the interval before it, until the run's second step confirms the longer interval."""
    steps, expected, gaps = [], [], []
    for k, (step, count) in enumerate(generating):
        for i in range(count):
            pending = k > 0 and i == 0 and step > generating[k - 1][0]
            steps.append(step)
            expected.append(float(generating[k - 1][0] if pending else step))
            gaps.append(pending)
    interval, is_gap = detect_intervals(timestamps(start, steps))
    assert interval.to_list() == [aligned_interval(start), *expected]
    assert is_gap.to_list() == [False, *gaps]


@given(steps=st.lists(st.sampled_from([1, 2, 3, 4, 6, 8, 16, 0.5]), min_size=1, max_size=40), start=STARTS)
@settings(max_examples=60)
def test_detect_intervals_is_past_only(steps: list[float], start: datetime) -> None:
    """Whatever the steps, the intervals of a cut record are the whole record's up to the cut."""
    stamps = pl.Series(
        "ts",
        [start + timedelta(hours=sum(steps[:k])) for k in range(len(steps) + 1)],
        dtype=pl.Datetime("ms", "UTC"),
    )
    whole, whole_gaps = detect_intervals(stamps)
    assert set(whole.to_list()) <= {1.0, 2.0, 4.0, 8.0}
    for cut in range(1, stamps.len() + 1):
        part, part_gaps = detect_intervals(stamps.head(cut))
        assert part.to_list() == whole.head(cut).to_list()
        assert part_gaps.to_list() == whole_gaps.head(cut).to_list()
