"""The DuckDB store: schema versioning, idempotent quality-ranked upserts, point-in-time reads, crash safety."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from levradar.domain.datasets import (
    CANDLE_INTERVALS,
    DATASETS,
    QUALITY_RECOVERED,
    QUALITY_VENUE,
)
from levradar.domain.symbols import canonical_market
from levradar.ingest.files import load_file
from levradar.ingest.run import import_source, write_batch
from levradar.ingest.sources import Filters
from levradar.store import Store, StoreError, UpsertCounts
from levradar.store.db import DB_FILENAME
from levradar.store.schema import SCHEMA_VERSION
from tests.conftest import add_long_short_rows, add_position_rows, add_predicted_funding_rows

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
SOURCES = ("perp-panels", "multivenue-2025")
NON_CANDLE = ("funding", "open_interest", "liquidations", "mark_index")
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers ---------------------------------------------------------------------------------------------


def by_key(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``Store.read`` orders by market and time only: same-millisecond liquidation fills tie. Sort fully."""
    return frame.sort(list(DATASETS[name].key))


def tables(store: Store, *, ingest: bool = True) -> dict[str, pl.DataFrame]:
    """Every dataset table as stored (no derived columns), in key order; without ``ts_ingest`` unless asked."""
    out = {}
    for name in DATASETS:
        frame = by_key(name, store.read(name, derived=False))
        out[name] = frame if ingest else frame.drop("ts_ingest")
    return out


def assert_tables_equal(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        try:
            assert_frame_equal(a[name], b[name], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"table {name} differs: {exc}") from None


def version_rows(path: Path) -> list[tuple[int, datetime]]:
    con = duckdb.connect(str(path / DB_FILENAME), read_only=True)
    try:
        return [
            (int(v), t) for v, t in con.execute("SELECT * FROM schema_version ORDER BY version").fetchall()
        ]
    finally:
        con.close()


def known_at(name: str) -> pl.Expr:
    """When a row becomes known: a candle when its bar closes, anything else at its timestamp."""
    if name == "candles":
        seconds = pl.col("interval").replace_strict(
            {k: int(v.total_seconds()) for k, v in CANDLE_INTERVALS.items()}, return_dtype=pl.Int64
        )
        return pl.col("ts") + pl.duration(seconds=seconds)
    return pl.col("ts")


def import_all(data_dir: Path, sources: tuple[str, ...] = SOURCES) -> None:
    with Store(data_dir) as store:
        for name in sources:
            import_source(store, name, FIXTURES / name, Filters())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Both real fixture sets imported; the importing connection stays open for reads."""
    with Store(tmp_path_factory.mktemp("loaded")) as store:
        for name in SOURCES:
            import_source(store, name, FIXTURES / name, Filters())
        add_long_short_rows(store)
        add_predicted_funding_rows(store)
        add_position_rows(store)
        yield store


# -- canonical frame strategies --------------------------------------------------------------------------

MARKETS = [(v, a) for v in ("binance", "bybit", "okx") for a in ("BTC", "ETH")]
HOURS_2025 = 365 * 24
START_2025 = datetime(2025, 1, 1, tzinfo=UTC)
prices = st.floats(min_value=1e-4, max_value=1e6, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=-0.05, max_value=0.05, allow_nan=False, allow_infinity=False)
qualities = st.sampled_from([1, 2, 3])


@st.composite
def funding_frames(draw: st.DrawFn) -> pl.DataFrame:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(MARKETS), st.integers(0, HOURS_2025 - 1)),
            min_size=1,
            max_size=25,
            unique=True,
        )
    )
    rows = []
    for (venue, asset), hour in keys:
        m = canonical_market(venue, asset)
        ts = START_2025 + timedelta(hours=hour)
        jitter = draw(st.one_of(st.none(), st.integers(0, 999)))
        rows.append(
            {
                "venue": m.venue,
                "symbol": m.symbol,
                "asset": m.asset,
                "ts": ts,
                "rate": draw(rates),
                "interval_hours": draw(st.sampled_from([1.0, 4.0, 8.0])),
                "interval_source": draw(st.sampled_from([None, "file", "detected"])),
                "ts_venue": None if jitter is None else ts + timedelta(milliseconds=jitter),
                "source": "hypothesis",
                "quality": draw(qualities),
            }
        )
    return pl.DataFrame(rows, schema=DATASETS["funding"].columns)


@st.composite
def candle_frames(draw: st.DrawFn) -> pl.DataFrame:
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(MARKETS), st.sampled_from(["1h", "4h", "8h"]), st.integers(0, HOURS_2025 - 1)
            ),
            min_size=1,
            max_size=25,
            unique=True,
        )
    )
    rows = []
    for (venue, asset), interval, hour in keys:
        m = canonical_market(venue, asset)
        ohlc = [draw(prices) for _ in range(4)]
        volume = draw(st.one_of(st.none(), st.floats(0, 1e9, allow_nan=False)))
        rows.append(
            {
                "venue": m.venue,
                "symbol": m.symbol,
                "asset": m.asset,
                "interval": interval,
                "ts": START_2025 + timedelta(hours=hour),
                "open": ohlc[0],
                "high": max(ohlc),
                "low": min(ohlc),
                "close": ohlc[3],
                "volume_base": volume,
                "volume_quote": None if volume is None else volume * ohlc[3],
                "source": "hypothesis",
                "quality": draw(qualities),
            }
        )
    return pl.DataFrame(rows, schema=DATASETS["candles"].columns)


def frames_of(name: str) -> st.SearchStrategy[pl.DataFrame]:
    return funding_frames() if name == "funding" else candle_frames()


def funding_row(rate: float, quality: int, source: str) -> pl.DataFrame:
    ts = datetime(2025, 10, 10, 8, tzinfo=UTC)
    return pl.DataFrame(
        [
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "asset": "BTC",
                "ts": ts,
                "rate": rate,
                "interval_hours": 8.0,
                "interval_source": "detected",
                "ts_venue": ts,
                "source": source,
                "quality": quality,
            }
        ],
        schema=DATASETS["funding"].columns,
    )


# -- (1) schema ------------------------------------------------------------------------------------------


def test_new_store_is_at_current_schema_version(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.counts() == dict.fromkeys(DATASETS, 0)
    assert (tmp_path / "s" / DB_FILENAME).is_file()
    assert [v for v, _ in version_rows(tmp_path / "s")] == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    from levradar.store.schema import MIGRATIONS

    tmp_path.mkdir(exist_ok=True)
    con = duckdb.connect(str(tmp_path / DB_FILENAME))  # a store written by levradar at schema version 1
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    for stmt in MIGRATIONS[0][1]:
        con.execute(stmt)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute(
        "INSERT INTO funding (venue, symbol, asset, ts, rate, interval_hours, quality, ts_ingest) "
        "VALUES ('binance', 'BTCUSDT', 'BTC', '2025-01-01', 0.0001, 8, 3, now())"
    )
    con.close()
    with pytest.raises(StoreError, match="open it once writable"):
        Store(tmp_path, read_only=True)
    with Store(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 7
        assert store.read("predicted_funding").is_empty()  # migration 5: the table exists, empty
        journal = store.query("SELECT * FROM journal")  # migration 6: an alert's delivery and its error
        assert journal.columns[-2:] == ["delivery", "delivery_error"]
        assert store.read("funding")["rate"].to_list() == [0.0001]
        assert store.read("long_short_ratio").is_empty()


def test_a_version_3_store_gets_one_sided_open_interest(tmp_path: Path) -> None:
    """Migration 4: Bybit's two-sided OI (real values of 2025-10-10 22:00) is halved, Binance's kept; raw kept."""
    from levradar.store.schema import MIGRATIONS

    tmp_path.mkdir(exist_ok=True)
    con = duckdb.connect(str(tmp_path / DB_FILENAME))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    for version, statements in MIGRATIONS[:3]:
        for stmt in statements:
            con.execute(stmt)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    con.execute(
        "INSERT INTO open_interest (venue, symbol, asset, ts, oi_base, oi_usd, raw_value, raw_unit, quality,"
        " ts_ingest) VALUES ('bybit', 'BTCUSDT', 'BTC', '2025-10-10 22:00', 52000.5, 5.9e9, 52000.5, 'coin', 3,"
        " now()), ('binance', 'BTCUSDT', 'BTC', '2025-10-10 22:00', 78000, 8.9e9, 8.9e9, 'usd', 2, now())"
    )
    con.close()
    with Store(tmp_path) as store:
        oi = store.read("open_interest").sort("venue")
    assert oi["venue"].to_list() == ["binance", "bybit"]
    assert oi["raw_sides"].to_list() == [1, 2]
    assert oi["oi_base"].to_list() == [78000, 26000.25]
    assert oi["oi_usd"].to_list() == [8.9e9, 2.95e9]
    assert oi["raw_value"].to_list() == [8.9e9, 52000.5]


def test_reopening_applies_no_migration(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        store.write({"funding": funding_row(0.0001, QUALITY_VENUE, "first")})
    before = version_rows(tmp_path / "s")
    with Store(tmp_path / "s") as store:
        assert store.migrate() == SCHEMA_VERSION
    with Store(tmp_path / "s", read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION
    assert version_rows(tmp_path / "s") == before  # same rows, same applied_at: nothing re-applied


def test_reopened_store_can_be_read(tmp_path: Path) -> None:
    """Every CLI command re-opens the store and then reads it."""
    row = funding_row(0.0001, QUALITY_VENUE, "first")
    with Store(tmp_path / "s") as store:
        store.write({"funding": row})
    with Store(tmp_path / "s") as store:
        assert store.read("funding", derived=False).drop("ts_ingest").equals(row)
    with Store(tmp_path / "s", read_only=True) as store:
        assert store.read("funding", derived=False).drop("ts_ingest").equals(row)


def test_read_after_counts(store: Store) -> None:
    row = funding_row(0.0001, QUALITY_VENUE, "first")
    store.write({"funding": row})
    assert store.counts()["funding"] == 1
    assert store.read("funding").height == 1
    assert store.status().height == 1


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
def test_store_from_newer_levradar_is_refused(tmp_path: Path, read_only: bool) -> None:
    with Store(tmp_path / "s") as store:
        store.write({"funding": funding_row(0.0001, QUALITY_VENUE, "first")})
    con = duckdb.connect(str(tmp_path / "s" / DB_FILENAME))
    con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "s", read_only=read_only)
    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "newer" in message
    assert str(tmp_path / "s" / DB_FILENAME) in message
    del info
    assert max(v for v, _ in version_rows(tmp_path / "s")) == SCHEMA_VERSION + 1  # left as it was


def test_read_only_open_of_missing_store_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreError, match="no store at"):
        Store(missing, read_only=True)
    assert not missing.exists()  # a read must not create the folder


def test_unmigrated_database_needs_a_writable_open(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    duckdb.connect(str(tmp_path / "s" / DB_FILENAME)).close()
    with pytest.raises(StoreError, match="migrate"):
        Store(tmp_path / "s", read_only=True)
    with Store(tmp_path / "s") as store:
        assert store.schema_version() == SCHEMA_VERSION
    with Store(tmp_path / "s", read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION


# -- (2) idempotent imports ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_reimporting_a_real_source_changes_nothing(tmp_path: Path, source: str) -> None:
    with Store(tmp_path / "s") as store:
        first = import_source(store, source, FIXTURES / source, Filters())
        assert any(rep.inserted for rep in first.datasets.values())
        before = tables(store)
        instruments = store.instruments()
        logged = store.imports().height
        second = import_source(store, source, FIXTURES / source, Filters())
        assert second.datasets.keys() == first.datasets.keys()
        for name, rep in second.datasets.items():
            # recovered funding events a real settlement covers are dropped again (superseded), never stored
            assert (rep.inserted, rep.updated, rep.unchanged + rep.superseded) == (0, 0, rep.rows), name
        assert_tables_equal(tables(store), before)  # ts_ingest included: not even rewritten
        assert_frame_equal(store.instruments(), instruments)
        assert store.imports().height == logged + 1


def test_reimporting_both_sources_changes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        for source in SOURCES:
            import_source(store, source, FIXTURES / source, Filters())
        before = tables(store)
        for source in SOURCES:
            report = import_source(store, source, FIXTURES / source, Filters())
            for name, rep in report.datasets.items():
                assert (rep.inserted, rep.updated) == (0, 0), (source, name)
        assert_tables_equal(tables(store), before)


@PROPERTY
@given(data=st.data(), name=st.sampled_from(["funding", "candles"]))
def test_writing_a_frame_twice_equals_writing_it_once(data: st.DataObject, name: str) -> None:
    frame = data.draw(frames_of(name))
    order = data.draw(st.permutations(list(range(frame.height))))
    shuffled = frame[order]
    n = frame.height
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "once") as once:
            assert once.write({name: frame})[name] == UpsertCounts(n, n, 0, 0)
            expected = once.read(name).drop("ts_ingest")
        with Store(Path(tmp) / "twice") as twice:
            twice.write({name: frame})
            after_first = twice.read(name)
            assert twice.write({name: frame})[name] == UpsertCounts(n, 0, 0, n)
            assert twice.write({name: shuffled})[name] == UpsertCounts(n, 0, 0, n)
            after_all = twice.read(name)
    assert_frame_equal(after_all, after_first, check_exact=True)  # ts_ingest untouched too
    assert_frame_equal(after_all.drop("ts_ingest"), expected, check_exact=True)
    stored = expected.drop([c for c in expected.columns if c not in frame.columns])
    assert_frame_equal(stored, frame.sort(list(DATASETS[name].key)), check_exact=True)


# -- (3) quality ranking ---------------------------------------------------------------------------------


def test_recovered_funding_never_overwrites_a_venue_record(store: Store) -> None:
    venue = funding_row(0.0001, QUALITY_VENUE, "venue")
    store.write({"funding": venue})
    counts = store.write({"funding": funding_row(-0.02, QUALITY_RECOVERED, "recovered")})
    assert counts["funding"] == UpsertCounts(1, 0, 0, 1)
    assert store.read("funding", derived=False).drop("ts_ingest").equals(venue)


def test_venue_funding_replaces_a_recovered_row(store: Store) -> None:
    store.write({"funding": funding_row(-0.02, QUALITY_RECOVERED, "recovered")})
    venue = funding_row(0.0001, QUALITY_VENUE, "venue")
    counts = store.write({"funding": venue})
    assert counts["funding"] == UpsertCounts(1, 0, 1, 0)
    assert store.read("funding", derived=False).drop("ts_ingest").equals(venue)


@PROPERTY
@given(
    writes=st.lists(st.tuples(qualities, rates), min_size=1, max_size=6, unique_by=lambda w: w[0]),
    data=st.data(),
)
def test_best_quality_wins_whatever_the_order(writes: list[tuple[int, float]], data: st.DataObject) -> None:
    order = data.draw(st.permutations(writes))
    best_quality, best_rate = max(writes)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s") as store:
        for quality, rate in order:
            store.write({"funding": funding_row(rate, quality, f"q{quality}")})
        final = store.read("funding", derived=False)
    assert final.height == 1
    assert final.row(0, named=True)["quality"] == best_quality
    assert final.row(0, named=True)["rate"] == best_rate
    assert final.row(0, named=True)["source"] == f"q{best_quality}"


@pytest.fixture(scope="module")
def both_orders(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pl.DataFrame], ...]:
    out = []
    for order in (SOURCES, tuple(reversed(SOURCES))):
        with Store(tmp_path_factory.mktemp("order")) as store:
            for source in order:
                import_source(store, source, FIXTURES / source, Filters())
            out.append(tables(store, ingest=False))
    return tuple(out)


@pytest.mark.parametrize("name", ["funding", "candles"])
def test_import_order_does_not_change_the_tables(
    both_orders: tuple[dict[str, pl.DataFrame], ...], name: str
) -> None:
    """perp-panels then multivenue-2025, or the reverse: the same rows, values, qualities and intervals.

    Only ``source`` may differ, and only where two sources of equal quality hold identical values: such a row
    is "unchanged" for the second import, so it keeps the first importer's name (docs/data.md: order does
    not matter *across* quality levels).
    """
    forward, backward = both_orders
    assert forward[name].height > 0
    assert_frame_equal(forward[name].drop("source"), backward[name].drop("source"), check_exact=True)
    differs = (
        forward[name]
        .join(backward[name], on=list(DATASETS[name].key), suffix="_b")
        .filter(pl.col("source") != pl.col("source_b"))
    )
    # a recovered or panel row never survives in one order only: provenance differs only between venue records
    assert (differs["quality"] == QUALITY_VENUE).all()


@pytest.mark.parametrize("name", ["funding", "candles"])
@pytest.mark.parametrize("qualities", [(3, 1), (1, 3)], ids=["venue-first", "venue-last"])
def test_better_quality_wins_within_one_import(tmp_path: Path, name: str, qualities: tuple[int, int]) -> None:
    """Two rows for one key in the same batch, as two importers rank them (a venue record and a recovered or
    panel row): the better-ranked one is kept, wherever it comes in the batch. Files cannot set their quality."""
    from levradar.ingest.normalize import Batch
    from levradar.ingest.report import ImportReport

    ts = datetime(2025, 10, 10, 8, tzinfo=UTC)
    market = {"venue": "binance", "symbol": "BTCUSDT", "asset": "BTC", "ts": ts}
    values = (
        {3: {"rate": 0.0001, "interval_hours": 8.0}, 1: {"rate": -0.02, "interval_hours": 8.0}}
        if name == "funding"
        else {
            3: {"interval": "1h", "open": 100.0, "high": 110.0, "low": 90.0, "close": 105.0},
            1: {"interval": "1h", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5},
        }
    )
    batch = Batch(ImportReport("test", "two importers"))
    for quality in qualities:
        extra = {"interval_source": "recovered" if quality == 1 else "venue"} if name == "funding" else {}
        batch.add(name, pl.DataFrame([{**market, **values[quality], **extra, "quality": quality}]))
    with Store(tmp_path / "s") as store:
        write_batch(store, batch, "import")
        stored = store.read(name, derived=False)
    assert stored.height == 1
    assert stored["quality"].to_list() == [QUALITY_VENUE]
    assert stored["close" if name == "candles" else "rate"].to_list() == [
        105.0 if name == "candles" else 0.0001
    ]


@pytest.mark.parametrize("name", ["funding", "candles"])
def test_duplicate_keys_in_one_file_are_counted(tmp_path: Path, name: str) -> None:
    head, row = (
        ("venue,symbol,ts,rate,interval_hours", "binance,BTCUSDT,2025-10-10T08:00:00Z,{v},8")
        if name == "funding"
        else (
            "venue,symbol,interval,ts,open,high,low,close",
            "binance,BTCUSDT,1h,2025-10-10T08:00:00Z,1,2,0.5,{v}",
        )
    )
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([head, row.format(v="0.0001"), row.format(v="0.0002")]) + "\n")
    with Store(tmp_path / "s") as store:
        report = write_batch(store, load_file(name, path), "import")
        assert store.counts()[name] == 1
    assert report.datasets[name].rows == 1
    assert report.datasets[name].duplicates_dropped == 1


def test_venue_settlement_history_outranks_recovered_settlements_of_the_same_import(tmp_path: Path) -> None:
    """perp-panels holds Binance's own settlement history and panels whose funding is recovered (quality 1)."""
    with Store(tmp_path / "s") as store:
        import_source(store, "perp-panels", FIXTURES / "perp-panels", Filters())
        stored = store.read("funding", venues=["binance"], derived=False)
    for symbol in ("BTCUSDT", "SOLUSDT"):
        venue = pl.read_parquet(FIXTURES / "perp-panels" / "binance_funding" / f"{symbol}.parquet").select(
            pl.col("datetime").cast(pl.Datetime("us", "UTC")).dt.round("1m").alias("ts"),
            pl.col("funding_rate").alias("rate"),
            pl.col("datetime").cast(pl.Datetime("us", "UTC")).alias("ts_venue"),
        )
        got = stored.filter(pl.col("symbol") == symbol).join(venue.select("ts"), on="ts", how="semi")
        assert got.height == venue.height
        displaced = got.filter(pl.col("quality") != QUALITY_VENUE)
        assert displaced.is_empty(), (
            f"{symbol}: {displaced.height} venue settlements stored as lower-quality rows, e.g. "
            f"{displaced.select('ts', 'source', 'quality').head(3).to_dicts()}"
        )
        assert_frame_equal(got.select("ts", "rate", "ts_venue"), venue.sort("ts"), check_exact=True)
        assert set(got["source"]) == {f"perp-panels:binance_funding/{symbol}.parquet"}


# -- (4) point in time -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def as_of_times(loaded: Store) -> st.SearchStrategy[datetime]:
    """Any instant from 2021 to 2026, or exactly at / one microsecond around a row becoming known."""
    edges: list[datetime] = []
    for name in DATASETS:
        frame = loaded.read(name, derived=False).select(known_at(name).alias("k"))
        edges.extend(frame["k"].unique().sort().to_list())
    anywhere = st.datetimes(datetime(2021, 5, 1), datetime(2026, 3, 10), timezones=st.just(UTC))
    near_edge = st.builds(
        lambda i, d: edges[i] + timedelta(microseconds=d),
        st.integers(0, len(edges) - 1),
        st.sampled_from([-1, 0, 1]),
    )
    return st.one_of(anywhere, near_edge)


@pytest.mark.parametrize("name", list(DATASETS))
def test_as_of_never_sees_the_future(
    loaded: Store, as_of_times: st.SearchStrategy[datetime], name: str
) -> None:
    full = loaded.read(name)
    assert full.height > 0

    @PROPERTY
    @given(as_of=as_of_times)
    def check(as_of: datetime) -> None:
        got = loaded.read(name, as_of=as_of)
        if not got.is_empty():
            assert got.select(known_at(name).max()).item() <= as_of
        if name != "candles":
            assert (got["ts"] <= as_of).all()
        assert_frame_equal(
            by_key(name, got), by_key(name, full.filter(known_at(name) <= as_of)), check_exact=True
        )

    check()


def test_as_of_of_one_interval_is_that_intervals_closed_bars(
    loaded: Store, as_of_times: st.SearchStrategy[datetime]
) -> None:
    """With ``interval`` the point-in-time condition is a plain bound ``ts <= as_of - interval`` (filtered inside
    DuckDB's scan): the same rows as every interval's closed bars filtered to that interval."""
    full = loaded.read("candles")
    intervals = sorted(set(full["interval"]))
    assert len(intervals) > 1

    @PROPERTY
    @given(as_of=as_of_times, interval=st.sampled_from(intervals))
    def check(as_of: datetime, interval: str) -> None:
        got = loaded.read("candles", interval=interval, as_of=as_of)
        assert (got["ts"] + CANDLE_INTERVALS[interval] <= as_of).all()
        assert_frame_equal(
            got,
            loaded.read("candles", as_of=as_of).filter(pl.col("interval") == interval),
            check_exact=True,
        )

    check()


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("candles", ["venue", "symbol", "ts", "close", "volume_quote"]),
        ("funding", ["venue", "symbol", "ts", "rate", "interval_hours"]),
        ("open_interest", ["ts", "oi_usd"]),
    ],
)
def test_a_read_of_some_columns_is_those_columns_of_the_full_read(
    loaded: Store, name: str, columns: list[str]
) -> None:
    """``columns`` reads only those (funding's derived rates come with its rate and interval); ``ordered=False``
    the same rows in the order DuckDB returns them; nothing found: an empty frame of those columns."""
    window = {"start": datetime(2025, 10, 9, tzinfo=UTC), "as_of": datetime(2026, 1, 8, tzinfo=UTC)}
    whole = loaded.read(name, **window)
    derived = ["rate_1h", "rate_8h", "apr"] if name == "funding" else []
    some = loaded.read(name, **window, columns=columns)
    assert whole.height > 0 and some.columns == columns + derived
    assert_frame_equal(some, whole.select(columns + derived), check_exact=True)
    unordered = loaded.read(name, **window, columns=columns, ordered=False)
    assert_frame_equal(unordered.sort(columns), some.sort(columns), check_exact=True)
    nothing = loaded.read(name, venues=["nowhere"], columns=columns, derived=False)
    assert nothing.is_empty() and nothing.schema == some.select(columns).schema


def test_candle_is_known_only_once_its_bar_has_closed(loaded: Store) -> None:
    bar = loaded.read("candles", venues=["binance"], symbols=["BTCUSDT"], interval="8h").row(0, named=True)
    close = bar["ts"] + CANDLE_INTERVALS["8h"]
    visible = loaded.read("candles", venues=["binance"], symbols=["BTCUSDT"], interval="8h", as_of=close)
    hidden = loaded.read(
        "candles",
        venues=["binance"],
        symbols=["BTCUSDT"],
        interval="8h",
        as_of=close - timedelta(microseconds=1),
    )
    assert bar["ts"] in visible["ts"].to_list()
    assert bar["ts"] not in hidden["ts"].to_list()


def test_as_of_matches_a_store_that_only_ever_saw_the_past(
    loaded: Store, as_of_times: st.SearchStrategy[datetime]
) -> None:
    full = {name: loaded.read(name, derived=False).drop("ts_ingest") for name in NON_CANDLE}

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(as_of=as_of_times)
    def check(as_of: datetime) -> None:
        past = {name: frame.filter(pl.col("ts") <= as_of) for name, frame in full.items()}
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "past") as only_past:
            only_past.write(past)
            for name in NON_CANDLE:
                assert_frame_equal(
                    by_key(name, loaded.read(name, as_of=as_of).drop("ts_ingest")),
                    by_key(name, only_past.read(name, as_of=as_of).drop("ts_ingest")),
                    check_exact=True,
                )

    check()


# -- (5) crash safety with a real kill -------------------------------------------------------------------


def _cli_env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEVRADAR_FAULT", "LEVRADAR_DATA_DIR")}
    env["COLUMNS"] = "200"
    if fault:
        env["LEVRADAR_FAULT"] = fault
    return env


def _import_cmd(source: str, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "levradar.cli",
        "import-source",
        source,
        str(FIXTURES / source),
        "--data-dir",
        str(data_dir),
    ]


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            raise AssertionError(f"{needle!r} not seen within {timeout}s; stderr: {''.join(seen)}") from None
        if line is None:
            raise AssertionError(f"exited with {proc.wait()} before {needle!r}; stderr: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return seen


def test_killed_import_leaves_committed_data_intact(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    first = subprocess.run(
        _import_cmd("perp-panels", data_dir), env=_cli_env(), capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    with Store(data_dir, read_only=True) as store:
        committed = tables(store)
        imports = store.imports()
    assert committed["funding"].height > 0 and committed["liquidations"].is_empty()

    proc = subprocess.Popen(
        _import_cmd("multivenue-2025", data_dir),
        env=_cli_env("before-commit:30"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(proc, "fault point before-commit reached", timeout=60)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    with Store(data_dir) as store:  # opens (and recovers) after the kill
        assert_tables_equal(tables(store), committed)
        assert store.read("liquidations").is_empty()
        assert_frame_equal(store.imports(), imports)

    again = subprocess.run(
        _import_cmd("multivenue-2025", data_dir), env=_cli_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "reference"
    import_all(reference)
    with Store(data_dir, read_only=True) as store, Store(reference, read_only=True) as ref:
        landed = tables(store, ingest=False)
        assert landed["liquidations"].height > 0
        assert_tables_equal(landed, tables(ref, ingest=False))
        assert store.imports()["source"].to_list() == list(SOURCES)


def test_a_predicted_rate_names_a_coming_settlement(tmp_path: Path) -> None:
    """settles_at lies in the future by nature (up to a funding interval ahead): stored, where any other time
    column in the future is refused; a settlement more than a day after its quote is set aside with the reason."""
    from levradar.domain.records import PredictedFunding, records_frame
    from levradar.ingest.normalize import Batch
    from levradar.ingest.report import ImportReport

    now = datetime.now(UTC)
    quotes = [
        PredictedFunding("binance", "BTCUSDT", now, 0.0001, now + timedelta(hours=8)),
        PredictedFunding("okx", "BTC-USDT-SWAP", now, 0.0001, now + timedelta(days=3), 8.0),
    ]
    batch = Batch(ImportReport("record", "websocket"))
    batch.add("predicted_funding", records_frame(quotes, source="record"))
    with Store(tmp_path) as store:
        report = write_batch(store, batch, "record", live=True)
        stored = store.read("predicted_funding")
    assert stored["venue"].to_list() == ["binance"] and stored["rate_8h"].to_list() == [
        None
    ]  # interval unknown
    (aside,) = report.set_aside
    assert aside["venue"] == "okx" and "coming settlement" in aside["reason"]
