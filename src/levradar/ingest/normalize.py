"""From parsed frames to canonical, validated, de-duplicated datasets — shared by every importer."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from levradar.domain.datasets import (
    CANDLE_INTERVALS,
    DATASETS,
    EARLIEST_TS,
    FUTURE_TOLERANCE,
    UTC_TS,
    Dataset,
)
from levradar.domain.funding import MAX_INTERVAL_H, detect_intervals, interval_changes, settlement_ts
from levradar.domain.symbols import canonical_market
from levradar.domain.units import one_sided_oi_expr
from levradar.domain.venues import VENUES
from levradar.ingest.report import ImportReport
from levradar.store import Store

ROW = "_row"
FILE = "_file"
ANOMALY_Z = 10.0  # robust z-score (MAD units) beyond which a one-step change is flagged for review
MAX_ANOMALY_LINES = 12
MAX_CONFLICT_LINES = 12  # conflicting duplicates listed per dataset (all are counted)


class InputError(ValueError):
    """Malformed input, pointing at the file, row and column that are wrong."""

    def __init__(self, file: str, row: int | None, column: str | None, problem: str) -> None:
        where = file
        if row is not None:  # rows count data rows from 1; a CSV also gets its line number (header = line 1)
            where += f", row {row}" + (f" (line {row + 1})" if file.lower().endswith(".csv") else "")
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}")
        self.file, self.row, self.column, self.problem = file, row, column, problem


@dataclass
class Batch:
    """Everything one import produces, written to the store in one transaction."""

    report: ImportReport
    parts: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: defaultdict(list))
    instruments: list[dict[str, Any]] = field(default_factory=list)

    def add(self, dataset: str, frame: pl.DataFrame) -> None:
        if not frame.is_empty():
            self.parts[dataset].append(frame)

    def add_instrument(self, **fields: Any) -> None:
        self.instruments.append(fields)


def with_market(frame: pl.DataFrame, venue: str, raw_symbol: str) -> pl.DataFrame:
    """Add ``venue``, ``symbol`` and ``asset`` for one market."""
    m = canonical_market(venue, raw_symbol)
    return frame.with_columns(venue=pl.lit(m.venue), symbol=pl.lit(m.symbol), asset=pl.lit(m.asset))


def with_markets(frame: pl.DataFrame, venue_col: str, symbol_col: str, file: str) -> pl.DataFrame:
    """Resolve ``venue``/``symbol``/``asset`` for a long-format frame with several markets."""
    if frame.is_empty():
        return frame.with_columns(
            venue=pl.lit(None, pl.String), symbol=pl.lit(None, pl.String), asset=pl.lit(None, pl.String)
        )
    pairs = frame.select(venue_col, symbol_col).unique()
    rows = []
    for venue, raw in pairs.iter_rows():
        if venue is None or raw is None:
            bad = frame.filter(pl.col(venue_col).is_null() | pl.col(symbol_col).is_null()).head(1)
            row = int(bad[ROW][0]) if ROW in bad.columns and not bad.is_empty() else None
            raise InputError(file, row, venue_col if venue is None else symbol_col, "missing venue or symbol")
        try:
            m = canonical_market(str(venue), str(raw))
        except ValueError as exc:
            bad = frame.filter((pl.col(venue_col) == venue) & (pl.col(symbol_col) == raw)).head(1)
            row = int(bad[ROW][0]) if ROW in bad.columns else None
            raise InputError(file, row, venue_col, str(exc)) from exc
        rows.append((venue, raw, m.venue, m.symbol, m.asset))
    lookup = pl.DataFrame(
        rows, schema=[venue_col, symbol_col, "venue_", "symbol_", "asset_"], orient="row"
    ).with_columns(
        pl.col(venue_col).cast(frame.schema[venue_col]), pl.col(symbol_col).cast(frame.schema[symbol_col])
    )
    out = frame.join(lookup, on=[venue_col, symbol_col], how="left")
    drop = [c for c in ("venue", "symbol", "asset") if c in out.columns]
    return out.drop(drop).rename({"venue_": "venue", "symbol_": "symbol", "asset_": "asset"})


def to_utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A datetime column as UTC microseconds; naive timestamps are taken to be UTC already."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return expr.dt.convert_time_zone("UTC").cast(UTC_TS)
    return expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def conform(ds: Dataset, frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and cast everything to the canonical types."""
    extra = [c for c in (ROW, FILE) if c in frame.columns]
    exprs = []
    for col, dtype in ds.columns.items():
        if col not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(to_utc(pl.col(col), frame.schema[col]).alias(col))
        else:
            exprs.append(pl.col(col).cast(dtype, strict=False).alias(col))
    return frame.select([*exprs, *[pl.col(c) for c in extra]])


@dataclass(frozen=True)
class Rule:
    """One rule a stored row obeys: ``bad`` is true where a row breaks it (null: nothing to check)."""

    column: str  # the column an error names
    bad: pl.Expr
    problem: str
    shows: tuple[str, ...] = ()  # the values an error quotes (default: the column's own)


def rules(ds: Dataset, now: datetime) -> list[Rule]:
    """Every rule of ``ds``, in the order they are checked: presence, finiteness, time, range, values, rows."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    out = []
    for col in ds.required:
        missing = pl.col(col).is_null()
        if ds.columns[col] == pl.Float64():
            missing = missing | ~pl.col(col).is_finite()
        out.append(Rule(col, missing, "required value is missing or not a finite number"))
    latest = now + FUTURE_TOLERANCE
    for col, dtype in ds.columns.items():
        if dtype == pl.Float64():
            out.append(
                Rule(col, ~pl.col(col).is_finite(), "must be a finite number (leave it empty if missing)")
            )
        if isinstance(dtype, pl.Datetime):
            out.append(
                Rule(
                    col,
                    pl.col(col) < EARLIEST_TS,
                    f"must not be before {_show(EARLIEST_TS)} (Bitcoin's genesis block: no market is older)",
                )
            )
            if col in ds.ahead:  # a coming event (a settlement): bounded by the dataset's own checks instead
                continue
            out.append(
                Rule(
                    col,
                    pl.col(col) > latest,
                    f"must not be after now + {FUTURE_TOLERANCE.total_seconds() / 60:g} min "
                    f"({_show(latest.replace(microsecond=0))}): rows stamped in the future are refused",
                )
            )
    out += [Rule(col, bound.bad(col), bound.rule) for col, bound in ds.bounds.items()]
    out += [
        Rule(col, ~pl.col(col).is_in(list(allowed)), f"must be one of {', '.join(allowed)}")
        for col, allowed in ds.choices.items()
    ]
    out += [Rule(c.column, c.bad, c.rule, c.shows) for c in ds.checks]
    return out


def _show(value: Any) -> str:
    """A value as an error quotes it: times in ISO 8601 UTC, everything else as its repr."""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        return text.removesuffix(".000000").removesuffix("+00:00") + "Z"
    return repr(value)


def _got(rule: Rule, row: dict[str, Any]) -> str:
    if not rule.shows:
        return _show(row.get(rule.column))
    return ", ".join(f"{c}={_show(row.get(c))}" for c in rule.shows)


def _first_bad(frame: pl.DataFrame, rule: Rule, file: str) -> None:
    """Raise :class:`InputError` at the first row that breaks ``rule`` (file, row, column, value, rule)."""
    bad = frame.filter(rule.bad)
    if bad.is_empty():
        return
    first = bad.row(0, named=True)
    row = first.get(ROW)
    src = first.get(FILE) or file
    more = f" ({bad.height} rows in all)" if bad.height > 1 else ""
    raise InputError(
        str(src),
        int(row) if row is not None else None,
        rule.column,
        f"{rule.problem}, got {_got(rule, first)}{more}",
    )


def validate(ds: Dataset, frame: pl.DataFrame, file: str, *, now: datetime | None = None) -> None:
    """Raise :class:`InputError` at the first row that breaks a rule of the dataset (file and source imports)."""
    checks = rules(ds, now or datetime.now(UTC))
    if (
        frame.is_empty()
        or not frame.select(pl.any_horizontal([r.bad.fill_null(False) for r in checks]).any()).item()
    ):
        return
    for rule in checks:
        _first_bad(frame, rule, file)


def set_aside(
    ds: Dataset, frame: pl.DataFrame, *, now: datetime | None = None
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Live paths (sync, record): the rows that obey every rule, and the others with the first rule they break."""
    checks = rules(ds, now or datetime.now(UTC))
    first = pl.coalesce([pl.when(r.bad.fill_null(False)).then(pl.lit(i)) for i, r in enumerate(checks)])
    marked = frame.with_columns(first.alias("_rule"))
    aside = []
    for row in marked.filter(pl.col("_rule").is_not_null()).iter_rows(named=True):
        rule = checks[row.pop("_rule")]
        row = {k: v for k, v in row.items() if k not in (ROW, FILE)}
        aside.append(
            {
                "dataset": ds.name,
                "venue": row.get("venue"),
                "symbol": row.get("symbol"),
                "ts": row.get("ts"),
                "column": rule.column,
                "reason": f"column '{rule.column}': {rule.problem}, got {_got(rule, row)}",
                "row": row,
            }
        )
    return marked.filter(pl.col("_rule").is_null()).drop("_rule"), aside


def nan_to_null(frame: pl.DataFrame, report: ImportReport, file: str | Path) -> pl.DataFrame:
    """For a source whose documented format writes a missing value as NaN: NaN becomes null, counted."""
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    if not floats:
        return frame
    count = int(frame.select(pl.sum_horizontal([pl.col(c).is_nan().sum() for c in floats])).item())
    if count:
        report.nan_as_missing += count
        report.assume(
            f"{Path(file).name}: {count} NaN values read as missing (the set documents NaN as missing)"
        )
    return frame.with_columns([pl.col(c).fill_nan(None) for c in floats])


def finalize(
    batch: Batch, store: Store | None = None, *, now: datetime | None = None, live: bool = False
) -> dict[str, pl.DataFrame]:
    """Canonical frames ready to write, with the report filled in (rows, ranges, gaps, anomalies).

    Every row is checked against its dataset's rules (:func:`rules`, ``now`` bounding the time): a file or source
    import stops at the first bad row (:class:`InputError`); a ``live`` path (sync, record) sets such rows aside in
    the report and keeps the others.
    """
    now = now or datetime.now(UTC)
    out: dict[str, pl.DataFrame] = {}
    report = batch.report
    candles = None
    unknown = set(batch.parts) - set(DATASETS)
    if unknown:  # never dropped in silence
        raise ValueError(f"no such dataset: {', '.join(sorted(unknown))}")
    for name in DATASETS:  # candles first: open interest is valued with them
        if name not in batch.parts:
            continue
        ds = DATASETS[name]
        frame = conform(ds, pl.concat([conform(ds, p) for p in batch.parts[name]], how="diagonal_relaxed"))
        if name == "funding":  # same-source duplicates go here: their conflicts are reported first
            _report_conflicts(ds, frame.with_columns(ts=settlement_ts("ts")), report)
            frame = _funding_intervals(frame, report)
        if name == "liquidations":
            frame = _liquidation_seq(frame)
        if name == "open_interest":
            frame = one_sided(_value_open_interest(frame, candles, store, report), report)
        frame = _checked(ds, frame, report, now, live)
        frame, dropped = _dedupe(ds, frame, report, conflicts=name != "funding")
        rep = report.dataset(name)
        rep.duplicates_dropped += dropped
        frame = frame.drop([c for c in (ROW, FILE) if c in frame.columns]).sort(list(ds.key))
        _describe(ds, frame, report)
        if name == "candles":
            _flag_ohlc(frame, report)
            candles = frame
        if name == "open_interest":
            _flag_jumps(frame, "oi_base", "open interest", report)
        out[name] = frame
    return out


def _checked(
    ds: Dataset, frame: pl.DataFrame, report: ImportReport, now: datetime, live: bool
) -> pl.DataFrame:
    """The rows to store: all of them or an :class:`InputError`; on a live path, those obeying every rule."""
    if not live:
        validate(ds, frame, report.path, now=now)
        return frame
    kept, aside = set_aside(ds, frame, now=now)
    report.dataset(ds.name).set_aside += len(aside)
    report.set_aside.extend(aside)
    return kept


def _report_conflicts(ds: Dataset, frame: pl.DataFrame, report: ImportReport) -> None:
    """Keys read more than once with different numbers: both values and the rule that chose one, per pair."""
    measures = [c for c, t in ds.columns.items() if t == pl.Float64() and c not in ds.key]
    key = list(ds.key)
    rows = frame.with_row_index("_order").filter(pl.len().over(key) > 1)
    if rows.is_empty() or not measures:
        return
    kept = rows.sort("quality", "_order").unique(subset=key, keep="last")
    pairs = rows.join(kept, on=key, suffix="_kept").filter(pl.col("_order") != pl.col("_order_kept"))
    pairs = pairs.filter(
        pl.any_horizontal([(pl.col(c) != pl.col(f"{c}_kept")).fill_null(False) for c in measures])
    )
    if pairs.is_empty():
        return
    report.dataset(ds.name).conflicts += pairs.height
    for r in pairs.sort([*key, "_order"]).head(MAX_CONFLICT_LINES).iter_rows(named=True):
        report.conflicts.append(_conflict_line(ds, r, measures))
    if pairs.height > MAX_CONFLICT_LINES:
        report.conflicts.append(
            f"{ds.name}: ... and {pairs.height - MAX_CONFLICT_LINES} more keys read twice with different values"
        )


def _conflict_line(ds: Dataset, r: dict[str, Any], measures: list[str]) -> str:
    def where(suffix: str) -> str:
        file, row = r.get(FILE + suffix), r.get(ROW + suffix)
        return f"{Path(str(file)).name} row {row}" if file and row else f"item {r['_order' + suffix] + 1}"

    extra = "".join(
        f" {k}={r[k] if isinstance(r[k], str) else _show(r[k])}"
        for k in ds.key
        if k not in ("venue", "symbol", "ts")
    )
    diffs = "; ".join(
        f"{c} {_show(r[c])} ({where('')}) vs {_show(r[c + '_kept'])} ({where('_kept')})"
        for c in measures
        if r[c] is not None and r[c + "_kept"] is not None and r[c] != r[c + "_kept"]
    )
    q, q_kept = r["quality"], r["quality_kept"]
    rule = (
        f"higher quality wins ({q_kept} over {q})"
        if q != q_kept
        else f"equal quality {q}: the last one read wins"
    )
    return f"{ds.name} {r['venue']} {r['symbol']}{extra} {_show(r['ts'])}: {diffs}; kept {where('_kept')}: {rule}"


def _dedupe(
    ds: Dataset, frame: pl.DataFrame, report: ImportReport, *, conflicts: bool = True
) -> tuple[pl.DataFrame, int]:
    """One row per key: the highest quality wins; among equals, the last one read (conflicts reported)."""
    if conflicts:
        _report_conflicts(ds, frame, report)
    ranked = frame.with_row_index("_order").sort("quality", "_order").drop("_order")
    unique = ranked.unique(subset=list(ds.key), keep="last", maintain_order=True)
    return unique, frame.height - unique.height


def _funding_intervals(frame: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
    """Settlement times on the minute; intervals detected per market *and source* where not given.

    Detection is past-only (``detect_intervals``); the first settlement of a series takes the venue's nominal
    interval, so a change right after it is an assumption corrected, not a change, and is not reported.
    """
    frame = frame.with_columns(ts_venue=pl.coalesce("ts_venue", "ts")).with_columns(ts=settlement_ts("ts"))
    parts = []
    for (venue, symbol, _source), part in frame.group_by(["venue", "symbol", "source"], maintain_order=True):
        rows = part.height
        part = part.sort("ts", "quality", maintain_order=True).unique(
            subset=["ts"], keep="last", maintain_order=True
        )
        report.dataset("funding").duplicates_dropped += rows - part.height
        if part["interval_hours"].is_null().any():
            detected, gaps = detect_intervals(part["ts"], _nominal_interval(str(venue)))
            part = part.with_columns(
                interval_source=pl.when(pl.col("interval_hours").is_null())
                .then(pl.lit("detected"))
                .otherwise(pl.col("interval_source")),
                interval_hours=pl.coalesce(pl.col("interval_hours"), detected),
            )
            report.dataset("funding").gaps += int(gaps.sum())
        how = " (recovered from a forward-filled panel)" if part["interval_source"][0] == "recovered" else ""
        for change in interval_changes(part.select("ts", "interval_hours"), skip_first=True):
            report.interval_changes.append(
                f"{venue} {symbol}: funding interval {change.from_hours:g}h -> {change.to_hours:g}h "
                f"at {change.ts:%Y-%m-%d %H:%M} UTC{how}"
            )
        parts.append(part)
    return pl.concat(parts) if parts else frame


def _nominal_interval(venue: str) -> float:
    """The venue's documented default funding interval (8 h where the venue is unknown)."""
    info = VENUES.get(venue)
    return float(info.nominal_funding_interval_h) if info else MAX_INTERVAL_H


def _liquidation_seq(frame: pl.DataFrame) -> pl.DataFrame:
    """Fills identical in every field (same millisecond, price, size) are separate fills: number them."""
    if frame["seq"].null_count() == 0:  # numbered already (the recorder's fills): nothing to number
        return frame.with_columns(pl.col("seq").cast(pl.Int32))
    ident = ["venue", "symbol", "ts", "liquidated_side", "price", "qty_base"]
    return frame.with_columns(seq=pl.coalesce("seq", pl.int_range(pl.len()).over(ident)).cast(pl.Int32))


def _price_points(candles: pl.DataFrame | None, store: Store | None, markets: pl.DataFrame) -> pl.DataFrame:
    """Price known at an instant: the close of the 1h bar ending then, else the open of the bar starting then.

    The close comes first: that bar has closed by the instant, so a store cut there holds it too.
    """
    frames = []
    if candles is not None:
        frames.append(
            candles.filter(pl.col("interval") == "1h").join(markets, on=["venue", "symbol"], how="semi")
        )
    if store is not None:
        for venue, symbol in markets.iter_rows():
            frames.append(store.read("candles", venues=[venue], symbols=[symbol], interval="1h"))
    frames = [f.select("venue", "symbol", "ts", "open", "close") for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame(
            schema={"venue": pl.String, "symbol": pl.String, "ts": UTC_TS, "price": pl.Float64}
        )
    bars = pl.concat(frames).unique(subset=["venue", "symbol", "ts"], keep="first")
    opens = bars.select("venue", "symbol", "ts", pl.col("open").alias("price"))
    closes = bars.select(
        "venue", "symbol", (pl.col("ts") + timedelta(hours=1)).alias("ts"), pl.col("close").alias("price")
    )
    return (
        pl.concat([closes, opens])
        .unique(subset=["venue", "symbol", "ts"], keep="first")
        .sort("venue", "symbol", "ts")
    )


def _value_open_interest(
    frame: pl.DataFrame, candles: pl.DataFrame | None, store: Store | None, report: ImportReport
) -> pl.DataFrame:
    """Fill ``oi_base``/``oi_usd`` where the venue gave only one of them, with the price known at the OI time
    (``_price_points``): a store cut at T values every row before T (and at T, where a bar ends then) as the full
    store does."""
    need = frame.filter(pl.col("oi_usd").is_null() | pl.col("oi_base").is_null())
    if need.is_empty():
        return frame.with_columns(usd_method=pl.coalesce("usd_method", pl.lit("venue")))
    markets = need.select("venue", "symbol").unique()
    points = _price_points(candles, store, markets)
    priced = frame.join(points, on=["venue", "symbol", "ts"], how="left", maintain_order="left")
    priced = priced.with_columns(
        oi_base=pl.coalesce(
            "oi_base",
            pl.when(pl.col("raw_unit") == "coin").then(pl.col("raw_value")),
            pl.when(pl.col("raw_unit") == "usd").then(pl.col("raw_value") / pl.col("price")),
        ),
    ).with_columns(
        usd_method=pl.coalesce(
            "usd_method",
            pl.when(pl.col("oi_usd").is_not_null()).then(pl.lit("venue")),
            pl.when(pl.col("price").is_not_null()).then(pl.lit("coin_x_price_at_ts")),
            pl.lit("unpriced"),
        ),
        oi_usd=pl.coalesce("oi_usd", pl.col("oi_base") * pl.col("price")),
    )
    unpriced = priced.filter(pl.col("oi_usd").is_null() | pl.col("oi_base").is_null()).height
    report.assume(
        "open interest reported in coin is valued in USD at the perp price known at the OI timestamp (the close of "
        "the 1h bar ending then, else the open of the bar starting then); USD-reported OI is converted to coin the "
        "same way"
    )
    if unpriced:
        report.anomalies.append(
            f"open interest: {unpriced} rows had no perp price at their time: the missing side (coin or USD) left empty"
        )
    return priced.drop("price")


def one_sided(frame: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
    """Canonical one-sided ``oi_base``/``oi_usd``: rows without ``raw_sides`` hold the venue's own count, which
    is divided by the venue's documented side count (``VenueInfo.oi_sides``); rows with it (levradar's exports)
    are one-sided already."""
    sides = {name: info.oi_sides for name, info in VENUES.items()}
    as_reported = pl.col("raw_sides").is_null()
    frame = frame.with_columns(
        raw_sides=pl.coalesce(
            "raw_sides", pl.col("venue").replace_strict(sides, default=1, return_dtype=pl.Int8)
        ).cast(pl.Int8),
        _as_reported=as_reported,
    )
    halve = pl.col("_as_reported")
    frame = frame.with_columns(
        oi_base=pl.when(halve).then(one_sided_oi_expr("oi_base")).otherwise(pl.col("oi_base")),
        oi_usd=pl.when(halve).then(one_sided_oi_expr("oi_usd")).otherwise(pl.col("oi_usd")),
    )
    two = frame.filter(halve & (pl.col("raw_sides") == 2))["venue"].unique().sort().to_list()
    if two:
        report.assume(
            f"open interest of {', '.join(two)} counts both sides (venue documentation, docs/data.md): stored "
            "one-sided (halved) in oi_base/oi_usd; raw_value keeps the venue's figure, raw_sides = 2"
        )
    return frame.drop("_as_reported")


def _describe(ds: Dataset, frame: pl.DataFrame, report: ImportReport) -> None:
    rep = report.dataset(ds.name)
    rep.rows += frame.height
    if frame.is_empty():
        return
    first, last = frame["ts"].min(), frame["ts"].max()
    rep.first = first if rep.first is None else min(rep.first, first)  # type: ignore[type-var,assignment]
    rep.last = last if rep.last is None else max(rep.last, last)  # type: ignore[type-var,assignment]
    rep.markets += frame.select("venue", "symbol").n_unique()
    if ds.name in ("candles", "open_interest", "mark_index"):
        by = ["venue", "symbol", "interval"] if ds.name == "candles" else ["venue", "symbol"]
        cadence_s = (
            pl.col("interval").replace_strict({k: v.total_seconds() for k, v in CANDLE_INTERVALS.items()})
            if ds.name == "candles"
            else pl.lit(3600.0)
        )
        steps = frame.with_columns(step=pl.col("ts").diff().over(by).dt.total_seconds(), cadence=cadence_s)
        rep.gaps += steps.filter(pl.col("step") > pl.col("cadence") * 1.5).height


def _robust_z(x: pl.Expr) -> pl.Expr:
    med = x.median()
    mad = (x - med).abs().median() * 1.4826
    return (x - med) / pl.when(mad > 0).then(mad)


def _flag_jumps(frame: pl.DataFrame, col: str, label: str, report: ImportReport) -> None:
    """Flag one-step changes far outside the series' own distribution of changes (robust z-score)."""
    steps = (
        frame.filter(pl.col(col) > 0)
        .with_columns(chg=(pl.col(col) / pl.col(col).shift(1).over("venue", "symbol")).log())
        .with_columns(z=_robust_z(pl.col("chg")).over("venue", "symbol"))
        .filter(pl.col("z").abs() >= ANOMALY_Z)
        .sort(pl.col("z").abs(), descending=True)
    )
    for r in steps.head(MAX_ANOMALY_LINES).sort("venue", "symbol", "ts").iter_rows(named=True):
        pct = (2.718281828459045 ** r["chg"] - 1) * 100
        report.anomalies.append(
            f"{r['venue']} {r['symbol']} {label} {pct:+.0f}% in one step at {r['ts']:%Y-%m-%d %H:%M} UTC "
            f"(robust z {r['z']:+.0f}); check before trusting it"
        )
    if steps.height > MAX_ANOMALY_LINES:
        report.anomalies.append(
            f"... and {steps.height - MAX_ANOMALY_LINES} more {label} jumps beyond z {ANOMALY_Z:g}"
        )


def _flag_ohlc(frame: pl.DataFrame, report: ImportReport) -> None:
    bad = frame.filter(
        (pl.col("high") < pl.max_horizontal("open", "close", "low"))
        | (pl.col("low") > pl.min_horizontal("open", "close"))
    )
    if not bad.is_empty():
        first = bad.row(0, named=True)
        report.anomalies.append(
            f"candles: {bad.height} bars with high/low not enclosing open/close (first {first['venue']} "
            f"{first['symbol']} {first['ts']:%Y-%m-%d %H:%M} UTC); kept as reported"
        )
