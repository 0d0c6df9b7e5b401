"""Funding settlements: interval detection from timestamps and recovery of events from forward-filled panels.

Both are **past-only**: the interval of a settlement, and every event recovered from a panel, depend only on
data stamped at or before that settlement, so an import cut at any time T gives exactly the rows <= T of the
full import. Venues settle every 1, 2, 4 or 8 hours (``STANDARD_INTERVALS_H``), on UTC hours divisible by the
interval. A finer cadence is accepted at once; a coarser one only once a second step (or gap between rate
changes) confirms it, so a switch back to a longer interval is recognised one settlement late.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

STANDARD_INTERVALS_H = (8, 4, 2, 1)  # the funding intervals venues use, longest first
MAX_INTERVAL_H = 8.0
CADENCE_MEMORY = 2  # rate-change gaps a recovered cadence must divide: a coarser cadence needs two in a row
_MINUTE_TOLERANCE = 1.0 / 60.0
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class IntervalChange:
    ts: datetime
    from_hours: float
    to_hours: float


def settlement_ts(col: str = "ts") -> pl.Expr:
    """Nominal settlement time: venue timestamps carry millisecond jitter; settlements fall on the minute."""
    return pl.col(col).dt.round("1m")


def aligned_interval(ts: datetime, limit: float = MAX_INTERVAL_H) -> float:
    """The longest standard interval, at most ``limit``, whose settlements fall on the hour of ``ts``."""
    if ts.minute or ts.second or ts.microsecond:
        return float(STANDARD_INTERVALS_H[-1])
    return float(next((s for s in STANDARD_INTERVALS_H if s <= limit and ts.hour % s == 0), 1))


def detect_intervals(ts: pl.Series, nominal_hours: float = MAX_INTERVAL_H) -> tuple[pl.Series, pl.Series]:
    """Per-settlement interval in hours from sorted settlement timestamps of one market, past-only.

    The interval is the step since the previous settlement when that step is a standard interval (1, 2, 4,
    8 h within a minute) and agrees with what came before: a shorter step is a change at once; a longer one
    is a gap (missed settlements) that keeps the current interval, until a second equal step confirms the
    longer interval. Any other step (longer than 8 h, not a whole standard number of hours) is a gap. The
    first settlement has no step: it takes the venue's ``nominal_hours`` where its hour of day allows,
    and the first standard step then sets the interval without confirmation.

    Returns ``(interval_hours, is_gap)``; ``is_gap`` marks steps that were data gaps, not intervals.
    """
    stamps = ts.dt.round("1m").to_list()
    steps = (ts.diff().dt.total_milliseconds().cast(pl.Float64) / 3_600_000.0).to_list()
    intervals: list[float | None] = []
    gaps: list[bool] = []
    current: float | None = None  # the interval steps have shown (None: only the prior so far)
    prior: float | None = None
    last: float | None = None  # the previous standard step
    for stamp, step in zip(stamps, steps, strict=True):
        if step is None:
            prior = aligned_interval(stamp, nominal_hours) if stamp is not None else None
            intervals.append(prior)
            gaps.append(False)
            continue
        standard = _standard_step(step)
        gap = standard is None or (current is not None and standard > current and standard != last)
        if not gap:
            current = standard
        intervals.append(current if current is not None else prior)
        gaps.append(gap)
        last = standard
    return (
        pl.Series("interval_hours", intervals, dtype=pl.Float64),
        pl.Series("is_gap", gaps, dtype=pl.Boolean),
    )


def _standard_step(hours: float) -> float | None:
    """``hours`` as a standard interval, or None where it is not one (within a minute)."""
    whole = round(hours)
    return float(whole) if abs(hours - whole) <= _MINUTE_TOLERANCE and whole in STANDARD_INTERVALS_H else None


def interval_changes(frame: pl.DataFrame, skip_first: bool = False) -> list[IntervalChange]:
    """Where the settlement interval of one market changes (``ts``, ``interval_hours`` sorted by ``ts``).

    ``skip_first`` leaves out a change at the second settlement: the first one's interval was assumed, not seen.
    """
    prev = frame["interval_hours"].shift(1)
    mask = (frame["interval_hours"] != prev).fill_null(False)
    if skip_first:
        mask = mask & (pl.int_range(frame.height, eager=True) > 1)
    rows = frame.with_columns(prev.alias("prev")).filter(mask)
    return [
        IntervalChange(r["ts"], float(r["prev"]), float(r["interval_hours"]))
        for r in rows.iter_rows(named=True)
    ]


def recover_from_forward_filled(frame: pl.DataFrame, value: str = "rate") -> pl.DataFrame:
    """Settlement events from an hourly grid whose funding column is forward-filled between settlements.

    Past-only: an event, its rate and its interval depend only on panel rows at or before its own time.

    * A change of value from one hour to the next proves a settlement at that hour. The first row of a
      contiguous block (after a hole or at the start) proves nothing.
    * The cadence at a proven change is the longest standard interval (8, 4, 2, 1 h) that divides its hour
      of day and the last ``CADENCE_MEMORY`` (2) gaps between proven changes. A finer cadence shows at once;
      a coarser one once two gaps in a row agree, so a switch back to a longer interval is seen one change
      late, and events at the finer cadence are emitted until then.
    * Events are emitted at the change and on that cadence until the next change or the end of the block,
      each with ``interval_hours`` = the cadence. A block that starts after a hole continues the cadence of
      the last change before it (on the hours that cadence allows); before the first change of the panel the
      cadence is the longest standard interval the first row's hour of day allows (8 h at 00/08/16 UTC).

    Settlements at an unchanged rate *off* the cadence cannot be seen in such data; importers mark these
    events ``recovered`` so a real settlement record always wins. Returns ``ts, rate, interval_hours``.
    """
    in_type = frame.schema["ts"]
    ts_type = pl.Datetime("us", in_type.time_zone if isinstance(in_type, pl.Datetime) else None)
    empty = pl.DataFrame(schema={"ts": ts_type, "rate": pl.Float64, "interval_hours": pl.Float64})
    obs = (
        frame.select(pl.col("ts").cast(ts_type), pl.col(value).alias("rate"))
        .drop_nulls()
        .filter(pl.col("rate").is_not_nan())
        .sort("ts")
    )
    if obs.is_empty():
        return empty
    segments = _segments(obs)
    segments = segments.with_columns(
        pl.Series("cadence", _cadences(segments["ts"], segments["first"]), dtype=pl.Int64)
    )
    parts = [_events(segments.filter(pl.col("cadence") == step), step) for step in STANDARD_INTERVALS_H]
    events = pl.concat(parts).filter(pl.col("ts").is_not_null())
    return events.with_columns(pl.col("ts").cast(ts_type)).sort("ts") if not events.is_empty() else empty


def _segments(obs: pl.DataFrame) -> pl.DataFrame:
    """Stretches of one rate inside one contiguous block: ``ts`` (start), ``end`` (exclusive), ``rate``,
    ``first`` (the stretch starts a block, so its start is no proven settlement)."""
    blocks = (
        obs.with_columns(first=(pl.col("ts").diff() != _HOUR).fill_null(True))
        .with_columns(block=pl.col("first").cum_sum())
        .with_columns(block_end=pl.col("ts").max().over("block") + _HOUR)
    )
    starts = blocks.filter(pl.col("first") | (pl.col("rate") != pl.col("rate").shift(1)))
    return starts.with_columns(
        end=pl.col("ts").shift(-1).over("block").fill_null(pl.col("block_end"))
    ).select("ts", "end", "rate", "first")


def _cadences(starts: pl.Series, first: pl.Series) -> list[int]:
    """Cadence (hours) of each stretch, from its own start and the rate changes before it only."""
    gaps: deque[int] = deque(maxlen=CADENCE_MEMORY)
    previous: datetime | None = None  # the last rate change in the current block
    cadence: int | None = None  # the cadence of the last rate change, carried over holes
    out: list[int] = []
    for ts, block_start in zip(starts.to_list(), first.to_list(), strict=True):
        if block_start:  # the rows before a hole tell nothing about the settlements inside it
            previous = None
            out.append(cadence if cadence is not None else _cadence(ts.hour, ()))
            continue
        if previous is not None:
            gaps.append(int((ts - previous) / _HOUR))
        previous = ts
        cadence = _cadence(ts.hour, gaps)
        out.append(cadence)
    return out


def _cadence(hour_of_day: int, gaps: Iterable[int]) -> int:
    """Longest standard interval that divides the hour of day and every recent gap between rate changes."""
    recent = list(gaps)
    return next(s for s in STANDARD_INTERVALS_H if hour_of_day % s == 0 and all(g % s == 0 for g in recent))


def _events(segments: pl.DataFrame, step: int) -> pl.DataFrame:
    """Events every ``step`` hours on the UTC grid of that step, from each segment's start to its end."""
    aligned = pl.col("ts").dt.truncate(f"{step}h")
    start = pl.when(aligned < pl.col("ts")).then(aligned + timedelta(hours=step)).otherwise(pl.col("ts"))
    grid = segments.with_columns(start=start).filter(pl.col("start") < pl.col("end"))
    return grid.select(
        pl.datetime_ranges("start", "end", interval=f"{step}h", closed="left").alias("ts"),
        "rate",
        pl.lit(float(step)).alias("interval_hours"),
    ).explode("ts")
