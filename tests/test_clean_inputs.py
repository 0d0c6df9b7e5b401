"""Clean inputs: no NaN/inf stored, strict JSON, the importer's quality, reported conflicts, plausible ranges.

Every bad value is injected into *real* rows: a slice exported from a store built from tests/fixtures (perp-panels,
multivenue-2025 and the long/short rows), written back as a canonical file with one cell changed.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from levradar.cli import app
from levradar.domain.datasets import (
    DATASETS,
    FUTURE_TOLERANCE,
    QUALITY_AGGREGATE,
    QUALITY_RECOVERED,
    QUALITY_VENUE,
)
from levradar.domain.records import Liquidation
from levradar.ingest.files import export_frame, load_file, write_frame
from levradar.ingest.normalize import Batch, InputError
from levradar.ingest.record import Recorder
from levradar.ingest.report import ImportReport
from levradar.ingest.run import import_source, write_batch
from levradar.ingest.sources import Filters
from levradar.ingest.sync import summary_dict, sync
from levradar.store import Store, StoreError
from tests.conftest import add_long_short_rows, add_position_rows, add_predicted_funding_rows
from tests.http_replay import JsonHandler, serve

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 3, 8, tzinfo=UTC)  # just after the newest fixture row: "now" for every time rule here
FLOATS = {name: [c for c, t in ds.columns.items() if t == pl.Float64()] for name, ds in DATASETS.items()}
BAD_ROW = 3  # the data row (from 1) that gets the bad value


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses the NaN / Infinity tokens Python's encoder would write."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store of real fixture rows in every dataset (read-only for the tests)."""
    data_dir = tmp_path_factory.mktemp("source")
    with Store(data_dir) as store:
        for name in ("perp-panels", "multivenue-2025"):
            import_source(store, name, FIXTURES / name, Filters())
        add_long_short_rows(store)
        add_predicted_funding_rows(store)
        add_position_rows(store)
        assert all(store.counts().values())
    with Store(data_dir, read_only=True) as store:
        yield store


def real_rows(source: Store, name: str, n: int = 5, where: pl.Expr | None = None) -> pl.DataFrame:
    """``n`` consecutive real rows of ``name`` as ``export`` writes them (optionally those matching ``where``)."""
    frame = export_frame(source, name, venues=None, symbols=None, start=None, end=None)
    if name == "mark_index":  # rows with a mark price
        frame = frame.filter(pl.col("mark").is_not_null())
    return (frame if where is None else frame.filter(where)).head(n)


def with_value(frame: pl.DataFrame, column: str, value: Any, row: int = BAD_ROW) -> pl.DataFrame:
    """``frame`` with ``column`` of data row ``row`` (from 1) set to ``value``."""
    dtype = frame.schema[column]
    new = pl.lit(value, dtype=dtype) if not isinstance(value, pl.Expr) else value
    at = pl.int_range(pl.len()) == row - 1
    return frame.with_columns(pl.when(at).then(new).otherwise(pl.col(column)).alias(column))


def write(frame: pl.DataFrame, path: Path) -> Path:
    write_frame(frame, path.suffix.lstrip("."), path)
    return path


def import_file(store: Store, name: str, path: Path, *, now: datetime = NOW) -> ImportReport:
    return write_batch(store, load_file(name, path), "import", now=now)


def tables(store: Store) -> dict[str, pl.DataFrame]:
    return {n: store.read(n, derived=False).sort(list(DATASETS[n].key)) for n in DATASETS}


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"COLUMNS": "10000", "LEVRADAR_DATA_DIR": None}
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


# -- the rules are declared for every float column ----------------------------------------------------------


def test_every_float_column_has_a_plausible_range() -> None:
    for name, cols in FLOATS.items():
        bounded = set(DATASETS[name].bounds) | {c.column for c in DATASETS[name].checks}
        assert set(cols) <= bounded, (name, set(cols) - bounded)


# -- NaN and infinity -------------------------------------------------------------------------------------

NON_FINITE = [(name, col) for name, cols in FLOATS.items() for col in cols]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("name", "column"), NON_FINITE, ids=[f"{n}.{c}" for n, c in NON_FINITE])
def test_nan_or_inf_in_any_float_column_is_an_error_naming_row_and_column(
    source: Store, tmp_path: Path, name: str, column: str, value: float
) -> None:
    path = write(with_value(real_rows(source, name), column, value), tmp_path / f"{name}.parquet")
    with Store(tmp_path / "s") as store, pytest.raises(InputError) as info:
        import_file(store, name, path)
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), BAD_ROW, column)
    assert "finite number" in err.problem and f"got {value!r}" in err.problem


@pytest.mark.parametrize("token", ["NaN", "inf", "-Infinity"])
def test_csv_nan_and_inf_spellings_are_refused(source: Store, tmp_path: Path, token: str) -> None:
    """An *optional* column (volume_quote) is checked like a required one."""
    path = write(real_rows(source, "candles"), tmp_path / "candles.csv")
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    cells = lines[BAD_ROW].split(",")
    cells[head.index("volume_quote")] = token
    lines[BAD_ROW] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("import", "candles", path, "--data-dir", tmp_path / "s")
    assert code == 2 and out == ""
    assert err.count("\n") == 1  # one line
    assert f"row {BAD_ROW} (line {BAD_ROW + 1}), column 'volume_quote': must be a finite number" in err


def test_perp_panels_nan_means_missing_and_is_counted(tmp_path: Path) -> None:
    """The panels document missing data as NaN: converted to empty at the importer's boundary, and counted."""
    src = FIXTURES / "perp-panels" / "hourly_panels" / "binance_BTC_2020-01-01_2026-03-06.parquet"
    panels = tmp_path / "pp" / "hourly_panels"
    panels.mkdir(parents=True)
    frame = pl.read_parquet(src)
    volume = "volume_perp_binance"
    holed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 4).then(float("nan")).otherwise(pl.col(volume)).alias(volume)
    )
    holed.write_parquet(panels / src.name)
    with Store(tmp_path / "s") as store:
        report = import_source(store, "perp-panels", tmp_path / "pp", Filters())
        candles = store.read("candles", derived=False).sort("ts")
    assert (
        report.nan_as_missing == 4 + frame.select(pl.col(pl.Float64).is_nan().sum()).sum_horizontal().item()
    )
    assert any("NaN values read as missing" in a for a in report.assumptions)
    first = candles.filter(pl.col("ts") == holed["timestamp"].dt.replace_time_zone("UTC").min())
    assert first["volume_base"].to_list() == [None]  # empty, never NaN
    for col in FLOATS["candles"]:
        assert not candles[col].is_nan().any()


# -- plausible ranges ---------------------------------------------------------------------------------------

# (dataset, column, value or expression, a fragment of the rule quoted in the error)
RANGE_CASES: list[tuple[str, str, Any, str]] = [
    ("funding", "rate", 1e6, "|rate| / interval_hours must be <= 0.05 per hour"),
    (
        "funding",
        "rate",
        -0.5,
        "|rate| / interval_hours must be <= 0.05 per hour",
    ),  # 6.25 %/h on an 8 h period
    ("funding", "interval_hours", 24.0, "must be >= 1 and <= 8"),
    ("funding", "interval_hours", 0.5, "must be >= 1 and <= 8"),
    ("candles", "close", 0.0, "must be >= 1e-12 and <= 1e+09"),
    ("candles", "open", 2e9, "must be >= 1e-12 and <= 1e+09"),
    ("candles", "high", pl.col("low") * 0.5, "must not be below low"),
    ("candles", "volume_base", -1.0, "must be >= 0"),
    ("candles", "volume_quote", 2e12, "<= 1e+12"),
    ("candles", "interval", "2h", "must be one of 1m, 5m, 15m, 1h, 4h, 8h, 1d"),
    ("open_interest", "oi_usd", -1.0, "must be >= 0 and <= 1e+12"),
    ("open_interest", "oi_usd", 5e12, "must be >= 0 and <= 1e+12"),
    ("open_interest", "raw_value", -5.0, "must be >= 0"),
    ("open_interest", "raw_unit", "lots", "must be one of coin, usd, contracts"),
    ("liquidations", "notional_usd", 2e10, "must be > 0 and <= 1e+10"),
    ("liquidations", "notional_usd", pl.col("price") * pl.col("qty_base") * 1.5, "within 1%"),
    ("liquidations", "qty_base", 0.0, "must be > 0"),
    ("liquidations", "price", 2e9, "must be >= 1e-12 and <= 1e+09"),
    ("mark_index", "mark", -3.0, "must be >= 1e-12"),
    ("mark_index", "index", 1e10, "<= 1e+09"),
    ("long_short_ratio", "ratio", 0.0, "must be > 0 and <= 10000"),
    ("long_short_ratio", "ratio", 2e4, "must be > 0 and <= 10000"),
    ("long_short_ratio", "long_share", 1.5, "must be >= 0 and <= 1"),
    ("long_short_ratio", "kind", "everyone", "must be one of accounts, top_accounts, top_positions"),
]


@pytest.mark.parametrize(
    ("name", "column", "value", "rule"), RANGE_CASES, ids=[f"{c[0]}.{c[1]}={c[2]}" for c in RANGE_CASES]
)
def test_a_value_outside_its_plausible_range_is_refused(
    source: Store, tmp_path: Path, name: str, column: str, value: Any, rule: str
) -> None:
    rows = real_rows(source, name)
    path = write(with_value(rows, column, value), tmp_path / f"{name}.csv")
    with Store(tmp_path / "s") as store, pytest.raises(InputError) as info:
        import_file(store, name, path)
    assert (info.value.row, info.value.column) == (BAD_ROW, column)
    assert rule in info.value.problem
    ok = write(rows, tmp_path / f"ok-{name}.csv")  # the same real rows without the bad value import fine
    with Store(tmp_path / "ok") as store:
        assert import_file(store, name, ok).datasets[name].inserted == rows.height


def test_funding_of_1e6_per_period_names_the_rate_and_the_interval(source: Store, tmp_path: Path) -> None:
    path = write(with_value(real_rows(source, "funding"), "rate", 1e6), tmp_path / "funding.csv")
    code, _, err = cli("import", "funding", path, "--data-dir", tmp_path / "s")
    assert code == 2
    assert f"{path}, row 3 (line 4), column 'rate': |rate| / interval_hours must be <= 0.05 per hour" in err
    assert "got rate=1000000.0, interval_hours=8.0" in err


@pytest.mark.parametrize(
    ("ts", "limit"),
    [
        (datetime(2030, 1, 1, tzinfo=UTC), "must not be after now + 15 min (2026-03-08T00:15:00Z)"),
        (
            datetime(2286, 11, 20, 17, 46, 39, tzinfo=UTC),
            "must not be after now + 15 min",
        ),  # epoch 9999999999
        (datetime(1970, 1, 1, tzinfo=UTC), "must not be before 2009-01-03T00:00:00Z"),
        (datetime(1653, 6, 1, tzinfo=UTC), "must not be before 2009-01-03T00:00:00Z"),
        (datetime(2009, 1, 2, 23, 59, tzinfo=UTC), "must not be before 2009-01-03T00:00:00Z"),
    ],
    ids=["2030", "2286", "1970", "1653", "day-before-genesis"],
)
def test_absurd_timestamps_are_refused(source: Store, tmp_path: Path, ts: datetime, limit: str) -> None:
    rows = with_value(real_rows(source, "candles", where=pl.col("venue") == "binance"), "ts", ts)
    path = write(rows, tmp_path / "candles.csv")
    with Store(tmp_path / "s") as store, pytest.raises(InputError) as info:
        import_file(store, "candles", path)
    assert (info.value.row, info.value.column) == (BAD_ROW, "ts")
    assert limit in info.value.problem
    assert f"got {ts:%Y-%m-%dT%H:%M}" in info.value.problem


def test_the_future_limit_is_now_plus_the_tolerance(source: Store, tmp_path: Path) -> None:
    """A row stamped just inside the tolerance is stored, just outside it is refused ("now" injected)."""
    rows = real_rows(source, "candles", n=1)
    ts = rows["ts"][0]
    path = write(rows, tmp_path / "candles.csv")
    with Store(tmp_path / "s") as store:
        inside = ts - FUTURE_TOLERANCE + timedelta(seconds=1)
        assert import_file(store, "candles", path, now=inside).datasets["candles"].inserted == 1
        with pytest.raises(InputError, match="must not be after now"):
            import_file(store, "candles", path, now=ts - FUTURE_TOLERANCE - timedelta(seconds=1))


def test_a_2030_candle_stops_the_import_with_one_line_and_writes_nothing(
    source: Store, tmp_path: Path
) -> None:
    """The observed failure: one future candle moved the radar's default time. Now the import stops, naming file,
    row, column, value and limit, and the store is exactly as before (a canonical folder: every file checked)."""
    data_dir = tmp_path / "s"
    folder = tmp_path / "canon"
    folder.mkdir()
    for name in ("funding", "open_interest"):
        write(real_rows(source, name, n=50), folder / f"{name}.parquet")
    year_2099 = datetime(2099, 1, 1, tzinfo=UTC)  # the CLI uses the real clock
    write(with_value(real_rows(source, "candles", n=50), "ts", year_2099), folder / "candles.parquet")
    with Store(data_dir) as store:
        write_batch(
            store, load_file("candles", write(real_rows(source, "candles"), tmp_path / "c.csv")), "import"
        )
        before, counts, logged = tables(store), store.counts(), store.imports().height
    code, out, err = cli("import-source", "canonical", folder, "--data-dir", data_dir)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"candles.parquet, row {BAD_ROW}, column 'ts': must not be after now + 15 min" in err
    assert "got 2099-01-01T00:00:00Z" in err
    with Store(data_dir, read_only=True) as store:
        assert store.counts() == counts and store.imports().height == logged
        after = tables(store)
    for name in DATASETS:
        assert_frame_equal(after[name], before[name], check_exact=True)


def test_negative_open_interest_is_refused_and_nothing_is_written(source: Store, tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        import_file(store, "open_interest", write(real_rows(source, "open_interest"), tmp_path / "ok.csv"))
        before = tables(store)
        bad = write(
            with_value(real_rows(source, "open_interest", n=8), "oi_base", -1.0), tmp_path / "bad.csv"
        )
        with pytest.raises(InputError) as info:
            import_file(store, "open_interest", bad)
        assert info.value.column == "oi_base" and "must be >= 0" in info.value.problem
        assert "got -1.0" in info.value.problem
        after = tables(store)
    for name in DATASETS:
        assert_frame_equal(after[name], before[name], check_exact=True)


# -- quality is the importer's --------------------------------------------------------------------------------


def test_a_file_quality_column_is_ignored_and_reported(source: Store, tmp_path: Path) -> None:
    rows = real_rows(source, "candles", where=pl.col("quality") == QUALITY_AGGREGATE)  # panel bars
    assert rows.height == 5
    path = write(rows.with_columns(quality=pl.lit(99, pl.Int8)), tmp_path / "candles.csv")
    with Store(tmp_path / "s") as store:
        report = import_file(store, "candles", path)
        stored = store.read("candles", derived=False)
        assert set(stored["quality"]) == {QUALITY_VENUE}
        assert any("column 'quality' ignored" in s for s in report.skipped)
        # pinning is impossible: a venue record with other values replaces the rows (an equal-quality correction)
        fixed = write(with_value(rows, "close", pl.col("close") * 1.01), tmp_path / "fixed.csv")
        again = import_file(store, "candles", fixed)
        assert again.datasets["candles"].corrected == 1
        assert store.read("candles", derived=False)["close"].to_list() == fixed_closes(fixed)


def fixed_closes(path: Path) -> list[float]:
    return [float(v) for v in pl.read_csv(path, infer_schema=False)["close"]]


def test_recovered_funding_from_a_file_stays_below_a_real_settlement(source: Store, tmp_path: Path) -> None:
    """A canonical file's `recovered` funding rows get QUALITY_RECOVERED: real settlement records replace them."""
    recovered = export_frame(source, "funding", venues=None, symbols=None, start=None, end=None).filter(
        pl.col("interval_source") == "recovered"
    )
    rows = recovered.head(4).with_columns(quality=pl.lit(QUALITY_VENUE, pl.Int8))  # the file claims 3
    path = write(rows, tmp_path / "funding.csv")
    real = rows.with_columns(
        interval_source=pl.lit("detected"), rate=pl.col("rate") + 1e-5, source=pl.lit("venue")
    ).drop("quality")
    with Store(tmp_path / "s") as store:
        import_file(store, "funding", path)
        assert set(store.read("funding", derived=False)["quality"]) == {QUALITY_RECOVERED}
        report = import_file(store, "funding", write(real, tmp_path / "real.csv"))
        stored = store.read("funding", derived=False).sort("ts")
    assert report.datasets["funding"].corrected == 0  # a better record, not a correction
    assert set(stored["quality"]) == {QUALITY_VENUE}
    assert stored["rate"].to_list() == real.sort("ts")["rate"].to_list()


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_export_then_import_gives_the_same_rows_with_the_importers_quality(
    source: Store, tmp_path: Path, name: str, fmt: str
) -> None:
    out = tmp_path / f"{name}.{fmt}"
    assert cli("export", name, "--format", fmt, "--out", out, "--data-dir", source.data_dir)[0] == 0
    assert cli("import", name, out, "--data-dir", tmp_path / "s")[0] == 0
    with Store(tmp_path / "s", read_only=True) as store:
        copy = store.read(name, derived=False).drop("ts_ingest").sort(list(DATASETS[name].key))
    original = source.read(name, derived=False).drop("ts_ingest").sort(list(DATASETS[name].key))
    assert_frame_equal(copy.drop("quality"), original.drop("quality"), check_exact=True)
    recovered = pl.col("interval_source") == "recovered" if name == "funding" else pl.lit(False)
    expected = original.with_columns(
        quality=pl.when(recovered).then(QUALITY_RECOVERED).otherwise(QUALITY_VENUE).cast(pl.Int8)
    )
    assert copy["quality"].to_list() == expected["quality"].to_list()


def test_the_bundled_sample_keeps_its_quality_ranks_and_reimports_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        import_source(store, "sample", Path("."), Filters())
        funding = store.read("funding", derived=False)
        recovered = funding.filter(pl.col("interval_source") == "recovered")
        assert recovered.height > 0 and set(recovered["quality"]) == {QUALITY_RECOVERED}
        assert set(funding.filter(pl.col("interval_source") != "recovered")["quality"]) == {QUALITY_VENUE}
        for name in ("candles", "mark_index", "open_interest", "liquidations"):
            assert set(store.read(name, derived=False)["quality"]) == {QUALITY_VENUE}, name
        report = import_source(store, "sample", Path("."), Filters())
    for name, rep in report.datasets.items():
        assert (rep.inserted, rep.updated, rep.corrected) == (0, 0, 0), name
    assert report.conflicts == [] and report.corrections == []


# -- duplicates and corrections -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "column"), [("candles", "close"), ("funding", "rate")])
def test_conflicting_duplicates_in_a_file_are_reported_with_both_values_and_the_rule(
    source: Store, tmp_path: Path, name: str, column: str
) -> None:
    rows = real_rows(source, name, n=3, where=pl.col("venue") == "binance")
    first = rows.row(0, named=True)[column]
    other = first * 1.5
    twin = rows.head(1).with_columns(pl.lit(other).alias(column))
    same = rows.slice(1, 1)  # an identical duplicate: counted, not a conflict
    path = write(pl.concat([rows, twin, same]), tmp_path / f"{name}.csv")
    with Store(tmp_path / "s") as store:
        report = import_file(store, name, path)
        stored = store.read(name, derived=False).sort("ts")
    rep = report.datasets[name]
    assert rep.rows == 3 and rep.duplicates_dropped == 2 and rep.conflicts == 1
    (line,) = report.conflicts
    r = rows.row(0, named=True)
    assert line.startswith(f"{name} binance {r['symbol']}")
    assert f"{r['ts']:%Y-%m-%dT%H:%M}" in line
    assert f"{column} {first!r} ({name}.csv row 1) vs {other!r} ({name}.csv row 4)" in line
    assert line.endswith(f"kept {name}.csv row 4: equal quality 3: the last one read wins")
    assert stored[column][0] == other  # the last one read


def test_a_duplicate_of_lower_quality_loses_whatever_its_place(source: Store, tmp_path: Path) -> None:
    recovered = export_frame(source, "funding", venues=None, symbols=None, start=None, end=None).filter(
        pl.col("interval_source") == "recovered"
    )
    row = recovered.head(1)
    real = row.with_columns(interval_source=pl.lit("detected"), rate=pl.col("rate") * 2)
    path = write(pl.concat([real, row]), tmp_path / "funding.csv")  # the real one first
    with Store(tmp_path / "s") as store:
        report = import_file(store, "funding", path)
        stored = store.read("funding", derived=False)
    (line,) = report.conflicts
    assert line.endswith("kept funding.csv row 1: higher quality wins (3 over 1)")
    assert stored["rate"].to_list() == real["rate"].to_list() and stored["quality"].to_list() == [
        QUALITY_VENUE
    ]


def test_an_equal_quality_correction_against_the_store_lists_old_and_new(
    source: Store, tmp_path: Path
) -> None:
    rows = real_rows(
        source, "open_interest", n=6, where=(pl.col("venue") == "bybit") & pl.col("oi_usd").is_not_null()
    )
    with Store(tmp_path / "s") as store:
        import_file(store, "open_interest", write(rows, tmp_path / "oi.csv"))
        old = rows.row(BAD_ROW - 1, named=True)["oi_usd"]
        corrected = with_value(rows, "oi_usd", pl.col("oi_usd") + 1000.0)
        report = import_file(store, "open_interest", write(corrected, tmp_path / "oi2.csv"))
        stored = store.read("open_interest", derived=False).sort("ts")
    rep = report.datasets["open_interest"]
    assert (rep.inserted, rep.updated, rep.corrected, rep.unchanged) == (0, 1, 1, rows.height - 1)
    (line,) = report.corrections
    r = rows.row(BAD_ROW - 1, named=True)
    assert line.startswith(f"open_interest bybit {r['symbol']} {r['ts']:%Y-%m-%d %H:%M:%S} UTC: ")
    assert f"oi_usd {old!r} -> {old + 1000.0!r}" in line and "equal quality 3" in line
    assert stored["oi_usd"][BAD_ROW - 1] == old + 1000.0


# -- the store's own guard and the JSON export --------------------------------------------------------------------


def test_the_store_refuses_non_finite_floats_naming_dataset_column_and_key(
    source: Store, tmp_path: Path
) -> None:
    frame = source.read("mark_index", derived=False).head(3).drop("ts_ingest")
    frame = with_value(frame, "index", math.inf, row=2)
    with Store(tmp_path / "s") as store:
        with pytest.raises(StoreError) as info:
            store.write({"mark_index": frame})
        assert store.counts()["mark_index"] == 0
    r = frame.row(1, named=True)
    message = str(info.value)
    assert message.startswith("mark_index: column 'index' holds inf at key (venue=")
    assert f"symbol={r['symbol']}" in message and str(r["ts"]) in message


@pytest.mark.parametrize("name", list(DATASETS))
def test_json_export_is_strict_json(source: Store, tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.json"
    code, _, err = cli("export", name, "--format", "json", "--out", out, "--data-dir", source.data_dir)
    assert code == 0, err
    rows = strict_json(out.read_text())
    assert len(rows) == source.counts()[name] > 0


def test_json_export_of_a_store_holding_nan_writes_null(source: Store, tmp_path: Path) -> None:
    """A store written by an older levradar may hold NaN: the export is still strict JSON (null)."""
    data_dir = tmp_path / "s"
    shutil.copytree(source.data_dir, data_dir)
    with Store(data_dir) as store:
        store.con.execute("UPDATE candles SET volume_base = 'NaN'::DOUBLE, volume_quote = 'Infinity'::DOUBLE")
    code, out, _ = cli("export", "candles", "--format", "json", "--data-dir", data_dir)
    assert code == 0
    rows = strict_json(out)
    assert rows and {r["volume_base"] for r in rows} == {None} and {r["volume_quote"] for r in rows} == {None}


# -- live paths: rows set aside, the rest stored ----------------------------------------------------------------


def test_sync_sets_aside_a_bad_row_and_stores_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Hyperliquid fundingHistory page with one rate made 1e6: sync goes on, the row is counted and named."""
    doc = yaml.safe_load(
        (FIXTURES / "hyperliquid-rest-samples" / "test_get_funding_history[None].yaml").read_text()
    )
    body = next(
        i["response"]["body"]["string"]
        for i in doc["interactions"]
        if "fundingHistory" in i["request"]["body"]
    )
    page = json.loads(body)[:40]
    page[10] = {**page[10], "fundingRate": "1000000.0"}

    class Hyperliquid(JsonHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if request.get("type") == "fundingHistory":
                start = request.get("startTime", 0)
                return self.send_json([p for p in page if p["time"] >= start])
            return self.send_json([])

    since, until = datetime(2023, 5, 12, tzinfo=UTC), datetime(2023, 7, 18, tzinfo=UTC)
    with serve(Hyperliquid, monkeypatch, "hyperliquid"), Store(tmp_path / "s") as store:
        (summary,) = sync(store, ["hyperliquid"], ["BTC"], since, until, sleep=lambda s: None)
        funding = store.read("funding", derived=False)
    assert summary.ok and summary.rows["funding"] == len(page) - 1 == funding.height
    out = summary_dict(summary)
    assert out["set_aside"] == 1
    (reason,) = out["set_aside_reasons"]
    assert "funding BTC: column 'rate': |rate| / interval_hours must be <= 0.05 per hour" in reason
    assert "rate=1000000.0" in reason
    assert funding["rate"].abs().max() < 0.05


def test_record_keeps_a_future_dated_fill_aside_with_the_reason(source: Store, tmp_path: Path) -> None:
    fills = source.read("liquidations", venues=["okx"]).head(2)
    records = [
        Liquidation(r["venue"], r["symbol"], r["ts"], r["liquidated_side"], r["price"], r["qty_base"])
        for r in fills.iter_rows(named=True)
    ]
    future = datetime.now(UTC) + timedelta(days=400)
    bad = Liquidation("okx", fills["symbol"][0], future, "long", fills["price"][0], fills["qty_base"][0])
    with Store(tmp_path / "s") as store:
        recorder = Recorder(store, ["okx"], ["BTC"])
        for record in (records[0], bad, records[1]):
            recorder.pending.add(record)
        recorder.flush()
        stored = store.read("liquidations", derived=False)
    assert stored.height == 2 and stored["ts"].max() < datetime.now(UTC)
    assert recorder.stats["okx"].set_aside == 1 and recorder.written["liquidations"] == 2
    (line,) = (tmp_path / "s" / "rejected" / "okx.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert kept["reason"].startswith("liquidations: column 'ts': must not be after now + 15 min")
    assert strict_json(kept["raw"])["ts"].startswith(f"{future:%Y-%m-%dT%H:%M}")


# -- property: nothing non-finite is ever stored -----------------------------------------------------------------

ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 1e300, 5e-324]),
)
CELLS = st.sampled_from(NON_FINITE)


@pytest.fixture(scope="module")
def base_rows(source: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    return {name: real_rows(source, name, n=3) for name in DATASETS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell=CELLS, value=ANY_FLOAT, live=st.booleans(), fmt=st.sampled_from(["parquet", "csv"]))
def test_whatever_float_lands_in_a_column_nothing_non_finite_is_stored(
    base_rows: dict[str, pl.DataFrame], cell: tuple[str, str], value: float, live: bool, fmt: str
) -> None:
    name, column = cell
    frame = with_value(base_rows[name], column, value, row=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = write(frame, Path(tmp) / f"{name}.{fmt}")
        with Store(Path(tmp) / "s") as store:
            try:
                report = write_batch(store, load_file(name, path), "import", now=NOW, live=live)
            except InputError as exc:
                assert not live  # a live path sets rows aside, it never stops
                assert exc.column is not None and exc.row == 2
                assert store.counts()[name] == 0
                return
            stored = store.read(name, derived=False)
    for col in FLOATS[name]:
        values = stored[col].drop_nulls()
        assert values.is_finite().all(), (col, values.to_list())
    if not math.isfinite(value):
        assert live and report.datasets[name].set_aside == 1 and stored.height == frame.height - 1


def test_a_live_batch_with_only_bad_rows_stores_nothing_and_reports_each(
    source: Store, tmp_path: Path
) -> None:
    rows = real_rows(source, "mark_index", n=3).with_columns(mark=pl.lit(math.nan))
    batch = Batch(ImportReport("sync:test", "memory"))
    batch.add("mark_index", rows.drop("rate_1h", "basis", strict=False))
    with Store(tmp_path / "s") as store:
        report = write_batch(store, batch, "sync", now=NOW, live=True)
        assert store.counts()["mark_index"] == 0
    assert report.datasets["mark_index"].set_aside == 3 and len(report.set_aside_lines()) == 3
    assert all("column 'mark': must be a finite number" in line for line in report.set_aside_lines())
