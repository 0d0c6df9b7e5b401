"""Funding settlements: interval detection from timestamps and recovery of events from forward-filled panels.

Interval of a settlement = time since the previous settlement (the period the payment covers). A gap in
the data (a step longer than the longest plausible interval, or not a whole number of hours) is not an
interval: such a settlement takes the interval of the settlement before it (or after it, for the first one)
and is counted as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

MAX_INTERVAL_H = 8.0
_MINUTE_TOLERANCE = 1.0 / 60.0


@dataclass(frozen=True)
class IntervalChange:
    ts: datetime
    from_hours: float
    to_hours: float


def settlement_ts(col: str = "ts") -> pl.Expr:
    """Nominal settlement time: venue timestamps carry millisecond jitter; settlements fall on the minute."""
    return pl.col(col).dt.round("1m")


def detect_intervals(ts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Per-settlement interval in hours from sorted settlement timestamps of one market.

    Returns ``(interval_hours, is_gap)``; ``is_gap`` marks steps that were data gaps, not intervals.
    """
    steps = ts.diff().dt.total_milliseconds().cast(pl.Float64) / 3_600_000.0
    frame = pl.DataFrame({"step": steps})
    whole = (frame["step"] - frame["step"].round(0)).abs() <= _MINUTE_TOLERANCE
    step = frame["step"].round(0)
    valid = whole & (step > 0) & (step <= MAX_INTERVAL_H)
    # a step that is a whole multiple of the cadence on both sides of it is a missed settlement, not a change
    before, after = step.shift(1), step.shift(-1)
    missed = (before == after) & (step > before) & ((step % before) == 0)
    valid = valid & ~missed.fill_null(False)
    interval = (
        frame.with_columns(iv=pl.when(valid).then(pl.col("step").round(0)))
        .select(pl.col("iv").forward_fill().backward_fill())
        .to_series()
    )
    is_gap = (~valid.fill_null(True)) & steps.is_not_null()
    return interval.rename("interval_hours"), is_gap.rename("is_gap")


def interval_changes(frame: pl.DataFrame) -> list[IntervalChange]:
    """Where the settlement interval of one market changes (``ts``, ``interval_hours`` sorted by ``ts``)."""
    prev = frame["interval_hours"].shift(1)
    mask = (frame["interval_hours"] != prev).fill_null(False)
    rows = frame.with_columns(prev.alias("prev")).filter(mask)
    return [
        IntervalChange(r["ts"], float(r["prev"]), float(r["interval_hours"]))
        for r in rows.iter_rows(named=True)
    ]


def recover_from_forward_filled(frame: pl.DataFrame, value: str = "rate") -> pl.DataFrame:
    """Settlement events from an hourly grid whose funding column is forward-filled between settlements.

    A change of value proves a settlement at that hour. Between two changes ``g`` hours apart the venue kept
    a regular cadence: the largest standard interval (8, 4, 2, 1 h) that divides ``g`` and the hour of day
    of the change. A coarse segment between two finer ones is narrowed to the coarser of its neighbours, so
    that an hourly venue that paid the same rate for a while is not read as an 8-hour one. Each contiguous
    block of the panel (no missing hours) is recovered on its own, so a hole never links distant data.
    Settlements are emitted on the recovered cadence at the hours the panel covers; the interval of an event
    is the time since the previous event (the cadence after a hole). Settlements at an unchanged rate *off*
    the recovered cadence cannot be seen in such data; importers mark these events ``recovered`` so a real
    settlement record always wins. Returns ``ts, rate, interval_hours``.
    """
    in_type = frame.schema["ts"]
    ts_type = pl.Datetime("us", in_type.time_zone if isinstance(in_type, pl.Datetime) else None)
    obs = (
        frame.select(pl.col("ts").cast(ts_type), pl.col(value).alias("rate"))
        .drop_nulls()
        .filter(pl.col("rate").is_not_nan())
        .sort("ts")
    )
    if obs.is_empty():
        return pl.DataFrame(schema={"ts": ts_type, "rate": pl.Float64, "interval_hours": pl.Float64})
    blocks = obs.with_columns(block=(pl.col("ts").diff() > timedelta(hours=1)).fill_null(False).cum_sum())
    events = pl.concat(
        [_recover_block(b.drop("block")) for b in blocks.partition_by("block", maintain_order=True)]
    )
    events = (
        events.with_columns(pl.col("ts").cast(ts_type)).sort("ts").join(obs.select("ts"), on="ts", how="semi")
    )
    since_prev = pl.col("ts").diff().dt.total_minutes() / 60.0
    cadence = pl.col("cadence").cast(pl.Float64)
    longest = pl.max_horizontal(cadence, cadence.shift(1))
    return events.select(
        "ts",
        "rate",
        pl.when(since_prev <= longest).then(since_prev).otherwise(cadence).alias("interval_hours"),
    )


def _recover_block(obs: pl.DataFrame) -> pl.DataFrame:
    """Events of one contiguous hourly block: ``ts, rate, cadence``."""
    last_ts = obs["ts"][-1]
    changes = obs.filter((pl.col("rate") != pl.col("rate").shift(1)).fill_null(True)).with_columns(
        end=pl.col("ts").shift(-1).fill_null(last_ts + timedelta(hours=1))
    )
    gap_h = (changes["end"] - changes["ts"]).dt.total_hours().to_list()
    hours = changes["ts"].dt.hour().to_list()
    own = [_cadence(g, h) for g, h in zip(gap_h, hours, strict=True)]
    if len(own) > 1:  # the last segment is cut by the end of the block: keep the cadence before it
        own[-1] = next(s for s in (8, 4, 2, 1) if s <= own[-2] and hours[-1] % s == 0)
    if len(own) > 1:  # the block's first row follows a hole or the start of data: not a proven settlement
        own[0] = own[1]
    cadence = [min(c, _neighbour_cadence(own, i)) for i, c in enumerate(own)]
    changes = changes.with_columns(pl.Series("cadence", cadence, dtype=pl.Int64))
    first = pl.int_range(pl.len()) == 0
    parts = []
    for step in sorted(set(cadence)):
        seg = changes.with_columns(first.alias("first")).filter(pl.col("cadence") == step)
        aligned = pl.col("ts").dt.truncate(f"{step}h")
        start = pl.when(pl.col("first") & (aligned < pl.col("ts"))).then(aligned + timedelta(hours=step))
        seg = seg.with_columns(start=start.otherwise(pl.col("ts"))).filter(pl.col("start") < pl.col("end"))
        grid = seg.select(
            pl.datetime_ranges(pl.col("start"), pl.col("end"), interval=f"{step}h", closed="left").alias(
                "ts"
            ),
            "rate",
            "cadence",
        )
        parts.append(grid.explode("ts"))
    return pl.concat(parts)


def _neighbour_cadence(own: list[int], i: int) -> int:
    """The coarser of the two neighbouring cadences: only an isolated coarse segment is narrowed."""
    around = own[max(i - 1, 0) : i] + own[i + 1 : i + 2]
    return max(around) if around else own[i]


def _cadence(gap_hours: int, hour_of_day: int) -> int:
    """Largest standard cadence aligned with the hour of day that fits the segment.

    A long segment (over two 8-hour periods) may end off-cadence where the venue changed its interval.
    """
    for step in (8, 4, 2, 1):
        fits = gap_hours % step == 0 or gap_hours > 2 * MAX_INTERVAL_H
        if fits and hour_of_day % step == 0:
            return step
    return 1
