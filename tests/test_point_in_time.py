"""Point-in-time, always: a store imported with ``--to T`` answers every question as of T exactly as the full store.

Every fixture source (and the bundled sample) is imported once in full and, for random hours T inside the
fixture windows, again into a fresh store with ``import-source ... --to T`` through the CLI. The scan as of T
(liquidation overlay included) must be the same JSON, and every row known at T the same row. Recovering funding
settlements from a forward-filled panel must likewise give, for a panel cut at any hour, the whole panel's
events up to that hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from levradar.analytics.scan import scan
from levradar.cli import app
from levradar.domain.datasets import CANDLE_INTERVALS, DATASET_NAMES, QUALITY_RECOVERED, QUALITY_VENUE, UTC_TS
from levradar.domain.funding import recover_from_forward_filled
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.jsonio import dumps
from levradar.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES: list[tuple[str, Path | None]] = [
    ("sample", None),
    ("perp-panels", FIXTURES / "perp-panels"),
    ("perp-panels", FIXTURES / "signals-sol-2022"),
    ("multivenue-2025", FIXTURES / "multivenue-2025"),
    ("multivenue-2025", FIXTURES / "okx-2025-12"),
    ("funding-7venues", FIXTURES / "funding-7venues"),
    ("hyperliquid-rest", FIXTURES / "hyperliquid-rest-samples"),
]
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# The fixture windows (tests/fixtures/README.md): Binance and Bybit SOL through the FTX crash (Binance 4h/2h
# settlements, Bybit's rate changing every 2 h from 2022-11-10), the 2025-10-10 cascade across venues with the
# sample's history behind it, Hyperliquid's 8h -> 1h switch, Bybit BTC's OI glitch, OKX BTC in 2026-01.
WINDOWS = [
    (utc(2022, 11, 7), utc(2022, 11, 20)),
    (utc(2025, 10, 8), utc(2025, 10, 12)),
    (utc(2023, 6, 1), utc(2023, 6, 12)),
    (utc(2021, 5, 17), utc(2021, 5, 21)),
    (utc(2026, 1, 3), utc(2026, 1, 7)),
]
runner = CliRunner()


def import_all(data_dir: Path, to: datetime | None = None) -> Store:
    """Every source through ``levradar import-source`` (with ``--to`` when given), then the store, read-only."""
    for name, path in SOURCES:
        args = ["import-source", name, str(path or "."), "--data-dir", str(data_dir), "--json"]
        if to is not None:
            args += ["--to", to.isoformat()]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return Store(data_dir, read_only=True)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with import_all(tmp_path_factory.mktemp("full")) as store:
        yield store


def known_at(store: Store, name: str, t: datetime) -> pl.DataFrame:
    return store.read(name, as_of=t).drop("ts_ingest")


@st.composite
def hours_in_windows(draw: st.DrawFn) -> datetime:
    start, end = draw(st.sampled_from(WINDOWS))
    return start + HOUR * draw(st.integers(0, int((end - start) / HOUR)))


@given(t=hours_in_windows())
@example(
    t=utc(2022, 11, 10, 12)
)  # Bybit SOL's 2 h rate changes begin at 14:00: nothing after 12:00 may count
@example(t=utc(2022, 11, 18, 12))  # SOL back to 8 h: recovered 2 h events after a real settlement are dropped
@example(t=utc(2025, 10, 8))  # the first settlement of every multivenue series: no step before it
@example(t=utc(2023, 6, 8, 1))  # Hyperliquid's first hourly settlement, stamped milliseconds after the hour
@settings(max_examples=5, deadline=None)
def test_a_store_imported_up_to_t_answers_as_the_full_store(
    full: Store, tmp_path_factory: pytest.TempPathFactory, t: datetime
) -> None:
    with import_all(tmp_path_factory.mktemp("cut"), to=t) as cut:
        for name in DATASET_NAMES:  # funding rows <= T included: recovered events, intervals, supersession
            assert_frame_equal(known_at(cut, name, t), known_at(full, name, t), check_exact=True)
        assert cut.read("funding", start=t + timedelta(microseconds=1)).is_empty()
        cut_scan, full_scan = scan(cut, t, liquidation=True), scan(full, t, liquidation=True)
    assert dumps(cut_scan) == dumps(full_scan)


def test_bybit_sol_as_of_the_crash_hours_is_what_the_panel_showed_by_then(full: Store) -> None:
    """The issue's case: Bybit SOL paid -2.5 % at 2022-11-10 08:00 (after 8 h settlements); the panel first
    changes again at 14:00, every 2 h from then on. As of 12:00 nothing shows a shorter cadence yet: the last
    event is 08:00 on 8 h, not the 10:00 and 12:00 events a look at 14:00 would have added."""
    sol = full.read("funding", venues=["bybit"], symbols=["SOLUSDT"], as_of=utc(2022, 11, 10, 12))
    last = sol.row(-1, named=True)
    assert (last["ts"], last["rate"], last["interval_hours"]) == (utc(2022, 11, 10, 8), -0.025, 8.0)
    after = full.read("funding", venues=["bybit"], symbols=["SOLUSDT"], start=utc(2022, 11, 10, 13))
    assert after.row(0, named=True)["ts"] == utc(2022, 11, 10, 14)
    assert set(after.filter(pl.col("ts") <= utc(2022, 11, 18))["interval_hours"]) == {2.0}


# --- open interest valued with a price known at its time ------------------------------------------------


@pytest.fixture(scope="module")
def okx_canonical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OKX BTC 2026-01-03..07 (perp-panels) as canonical files whose OI carries USD only, as OKX reports it."""
    folder = tmp_path_factory.mktemp("okx")
    with Store(folder / "store") as store:
        import_source(store, "perp-panels", FIXTURES / "perp-panels", Filters(venues=frozenset({"okx"})))
        candles = store.read("candles", interval="1h", derived=False).drop("ts_ingest")
        oi = store.read("open_interest", derived=False).drop("ts_ingest", "oi_base", "usd_method")
    candles.write_parquet(folder / "candles.parquet")
    oi.write_parquet(folder / "open_interest.parquet")
    return folder


@pytest.fixture(scope="module")
def okx_full(okx_canonical: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("okx_full")) as store:
        import_source(store, "canonical", okx_canonical, Filters())
        yield store


@given(hour=st.integers(0, 48))
@settings(max_examples=10, deadline=None)
def test_open_interest_is_valued_with_a_price_known_at_its_time(
    okx_canonical: Path, okx_full: Store, tmp_path_factory: pytest.TempPathFactory, hour: int
) -> None:
    """OKX BTC open interest (USD) converted to coin: cut at T, the canonical candles end with the bar that
    closed at T, so only the close of that bar is known at T; every OI row <= T is valued as in the full store
    (the open of the bar starting at T differs from that close at about half of these hours)."""
    t = utc(2026, 1, 5) + HOUR * hour
    with Store(tmp_path_factory.mktemp("okx_cut")) as cut:
        import_source(cut, "canonical", okx_canonical, Filters(end=t))
        assert cut.read("candles")["ts"].max() == t - HOUR  # the bar opening at T has not closed
        rows = known_at(cut, "open_interest", t)
        assert rows.height > 0 and rows["oi_base"].null_count() == 0
        assert_frame_equal(rows, known_at(okx_full, "open_interest", t), check_exact=True)
    closes = okx_full.read("candles").select((pl.col("ts") + HOUR).alias("ts"), "close")
    priced = rows.join(closes, on="ts")
    assert priced.height == rows.height
    assert (priced["oi_base"] - priced["oi_usd"] / priced["close"]).abs().max() < 1e-9  # type: ignore[operator]


# --- --to T: what was known at T --------------------------------------------------------------------------


def test_filters_keep_candles_once_closed_and_other_rows_once_stamped() -> None:
    t = utc(2024, 3, 1, 8)
    stamps = [t - 8 * HOUR, t - HOUR, t, t + timedelta(milliseconds=12), t + timedelta(minutes=1)]
    frame = pl.DataFrame({"ts": stamps}, schema={"ts": UTC_TS})
    until = Filters(end=t)
    # a settlement the venue stamped 12 ms after T is stored at T (on the minute): it is T's
    assert until.window(frame)["ts"].to_list() == stamps[:4]
    assert until.window(frame, bar=HOUR)["ts"].to_list() == stamps[:2]
    assert until.window(frame, bar=8 * HOUR)["ts"].to_list() == stamps[:1]
    # canonical candles carry their interval; one with an unknown interval counts from its stamp (and is rejected)
    candles = frame.with_columns(interval=pl.Series(["8h", "1h", "1h", "zz", "1h"]))
    assert until.window(candles)["ts"].to_list() == [t - 8 * HOUR, t - HOUR]
    assert Filters(start=t).window(frame)["ts"].to_list() == stamps[2:]


# --- recovery from forward-filled panels, on the real fixture panels ---------------------------------------

PANELS = {
    "perp-panels/hourly_panels/binance_SOL_2020-08-11_2026-03-06.parquet": "funding_rate_raw_binance",
    "signals-sol-2022/hourly_panels/bybit_SOL_2021-10-15_2026-03-06.parquet": "funding_rate",
    "perp-panels/hourly_panels/hyperliquid_BTC_2023-01-01_2026-03-07.parquet": "funding_rate_1h_hyperliquid",
    "perp-panels/hourly_panels/bybit_BTC_2020-03-25_2026-03-06.parquet": "funding_rate",
    "perp-panels/hourly_panels/okx_BTC_2018-01-11_2026-03-05.parquet": "funding_rate_raw_okx",
}


def panel_column(file: str) -> pl.DataFrame:
    """``ts`` (UTC; naive panels are UTC) and ``rate`` of one fixture panel's funding column."""
    raw = pl.read_parquet(FIXTURES / file)
    aware = isinstance(raw.schema["timestamp"], pl.Datetime) and raw.schema["timestamp"].time_zone is not None
    stamp = (
        pl.col("timestamp").dt.convert_time_zone("UTC")
        if aware
        else pl.col("timestamp").dt.replace_time_zone("UTC")
    )
    return raw.select(stamp.cast(UTC_TS).alias("ts"), pl.col(PANELS[file]).alias("rate"))


@given(file=st.sampled_from(sorted(PANELS)), share=st.floats(0.0, 1.0))
@settings(max_examples=40, deadline=None)
def test_recovered_events_of_a_cut_panel_are_the_whole_panels(file: str, share: float) -> None:
    panel = panel_column(file)
    cut = panel["ts"][min(int(share * panel.height), panel.height - 1)]
    whole = recover_from_forward_filled(panel)
    part = recover_from_forward_filled(panel.filter(pl.col("ts") <= cut))
    assert part.height > 0
    assert_frame_equal(part, whole.filter(pl.col("ts") <= cut), check_exact=True)


def test_every_cut_of_the_bybit_sol_crash_panel_gives_the_whole_panels_events() -> None:
    """Hour by hour through Bybit SOL's 2022-11-08..13 (the issue's example), not just sampled cuts."""
    panel = panel_column("signals-sol-2022/hourly_panels/bybit_SOL_2021-10-15_2026-03-06.parquet")
    whole = recover_from_forward_filled(panel)
    for cut in panel.filter(pl.col("ts").is_between(utc(2022, 11, 8), utc(2022, 11, 13)))["ts"]:
        part = recover_from_forward_filled(panel.filter(pl.col("ts") <= cut))
        assert_frame_equal(part, whole.filter(pl.col("ts") <= cut), check_exact=True)


# --- supersession of recovered events by real records --------------------------------------------------


def funding_rows(hours: list[int], quality: int) -> pl.DataFrame:
    source = "recovered" if quality == QUALITY_RECOVERED else "detected"
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "SOLUSDT",
            "asset": "SOL",
            "ts": [utc(2022, 11, 18) + HOUR * h for h in hours],
            "rate": [-1e-4 * (h + 1) for h in hours],
            "interval_hours": 2.0 if quality == QUALITY_RECOVERED else 8.0,
            "interval_source": source,
            "ts_venue": [utc(2022, 11, 18) + HOUR * h for h in hours],
            "source": source,
            "quality": quality,
        },
        schema_overrides={"ts": UTC_TS, "ts_venue": UTC_TS, "quality": pl.Int8},
    )


def test_a_recovered_event_is_superseded_only_by_real_records_at_or_before_it(tmp_path: Path) -> None:
    """Real settlements at 08:00 and 16:00; recovered events every 2 h. Those within 8 h after a real settlement
    go (real records say when settlements happen), those before the first real one stay: a real record *after*
    an event does not decide it, so a store cut at any hour keeps the same events up to that hour."""
    recovered, real = (
        funding_rows(list(range(0, 24, 2)), QUALITY_RECOVERED),
        funding_rows([8, 16], QUALITY_VENUE),
    )
    kept: dict[int, list[datetime]] = {}
    for cut in (6, 12, 24):
        with Store(tmp_path / str(cut)) as store:
            limit = utc(2022, 11, 18) + HOUR * cut
            for part in (
                recovered,
                real,
            ):  # recovered first: the stored ones are superseded, not only the staged
                store.write({"funding": part.filter(pl.col("ts") <= limit)})
            kept[cut] = store.read("funding").filter(pl.col("quality") == QUALITY_RECOVERED)["ts"].to_list()
    assert kept[24] == [utc(2022, 11, 18) + HOUR * h for h in (0, 2, 4, 6)]
    for cut in (6, 12):
        assert kept[cut] == [t for t in kept[24] if t <= utc(2022, 11, 18) + HOUR * cut]


@pytest.mark.parametrize("source", ["perp-panels", "multivenue-2025", "hyperliquid-rest"])
def test_to_t_stores_only_closed_bars(tmp_path: Path, source: str) -> None:
    """``--to T`` keeps a candle only once its bar has closed, for every source (hourly panels included)."""
    folder = {
        "perp-panels": FIXTURES / "perp-panels",
        "multivenue-2025": FIXTURES / "multivenue-2025",
        "hyperliquid-rest": FIXTURES / "hyperliquid-rest-samples",
    }[source]
    with Store(tmp_path / "full") as store:
        import_source(store, source, folder)
        candles = store.read("candles")
    assert not candles.is_empty()
    close = pl.col("ts") + pl.col("interval").replace_strict(
        {k: v for k, v in CANDLE_INTERVALS.items()}, return_dtype=pl.Duration("us")
    )
    # a T that cuts through bars of every interval: the middle of the data, half past an hour
    middle = candles.sort("ts")["ts"][candles.height // 2]
    assert isinstance(middle, datetime)
    cut = middle + timedelta(minutes=30)
    with Store(tmp_path / "cut") as store:
        import_source(store, source, folder, Filters(end=cut))
        stored = store.read("candles")
    assert stored.filter(close.alias("close") > cut).is_empty()
    expected = candles.filter(close <= cut).drop("ts_ingest", "quality").sort("venue", "symbol", "interval", "ts")
    got = stored.drop("ts_ingest", "quality").sort("venue", "symbol", "interval", "ts")
    assert got.equals(expected)
