"""Source importers on the real fixture slices: what lands in the store, and what the report says.

Every expectation below is checked against the fixture files themselves (read here with polars or the csv
module), not against the importers' own helpers.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from levradar.domain.funding import interval_changes
from levradar.domain.venues import CONTRACT_SIZES
from levradar.ingest.normalize import InputError
from levradar.ingest.report import ImportReport
from levradar.ingest.run import UnknownSourceError, import_source
from levradar.ingest.sources import Filters
from levradar.ingest.sources.canonical import sample_dir
from levradar.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
PANELS = FIXTURES / "perp-panels"
HOURLY = PANELS / "hourly_panels"
MULTIVENUE = FIXTURES / "multivenue-2025"
FUNDING7 = FIXTURES / "funding-7venues"
HL_REST = FIXTURES / "hyperliquid-rest-samples"
DATASETS = ("candles", "funding", "open_interest", "liquidations", "mark_index")
SAMPLE_ASSETS = ("BTC", "DOGE", "ETH", "SOL", "XRP")
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def round_minute(ts: datetime) -> datetime:
    base = ts.replace(second=0, microsecond=0)
    return base + timedelta(minutes=1) if ts - base >= timedelta(seconds=30) else base


def panel(name: str) -> pl.DataFrame:
    """A fixture panel with its timestamp as UTC microseconds (naive panels are UTC)."""
    frame = pl.read_parquet(HOURLY / name)
    ts = frame.schema["timestamp"]
    col = pl.col("timestamp")
    utc_ts = (
        col.dt.convert_time_zone("UTC")
        if isinstance(ts, pl.Datetime) and ts.time_zone
        else col.dt.replace_time_zone("UTC")
    )
    return frame.with_columns(utc_ts.cast(pl.Datetime("us", "UTC")).alias("ts"))


def price_known_at(bars: pl.DataFrame, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """``ts, price`` from 1h bars (``ts, open, close``): the close of the bar ending at ``ts``, else the open of
    the bar starting then (what OI is valued at: a price known at the OI time)."""
    closes = bars.select(*by, (pl.col("ts") + HOUR).alias("ts"), pl.col("close").alias("price"))
    opens = bars.select(*by, "ts", pl.col("open").alias("price"))
    return pl.concat([closes, opens]).unique([*by, "ts"], keep="first", maintain_order=True)


def copy_file(src: Path, dst: Path) -> Path:
    """Copy without the fixture's read-only mode bits."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def assert_empty(store: Store) -> None:
    assert set(store.counts().values()) == {0}
    assert store.imports().is_empty()
    assert store.instruments().is_empty()


def _imported(
    tmp: Path, name: str, path: Path, filters: Filters | None = None
) -> Iterator[tuple[Store, ImportReport]]:
    with Store(tmp) as store:
        report = import_source(store, name, path, filters or Filters())
        yield store, report


@pytest.fixture(scope="module")
def panels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ImportReport]]:
    yield from _imported(tmp_path_factory.mktemp("panels"), "perp-panels", PANELS)


@pytest.fixture(scope="module")
def funding7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ImportReport]]:
    yield from _imported(tmp_path_factory.mktemp("funding7"), "funding-7venues", FUNDING7)


@pytest.fixture(scope="module")
def multivenue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ImportReport]]:
    yield from _imported(tmp_path_factory.mktemp("multivenue"), "multivenue-2025", MULTIVENUE)


@pytest.fixture(scope="module")
def hl_rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ImportReport]]:
    yield from _imported(tmp_path_factory.mktemp("hlrest"), "hyperliquid-rest", HL_REST)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ImportReport]]:
    yield from _imported(tmp_path_factory.mktemp("sample"), "sample", Path("."))


# --------------------------------------------------------------------------------------------------------
# perp-panels
# --------------------------------------------------------------------------------------------------------


def test_perp_panels_flags_the_bybit_oi_glitch(panels: tuple[Store, ImportReport]) -> None:
    _, report = panels
    glitch = [a for a in report.anomalies if "2021-05-19 15:00 UTC" in a]
    assert len(glitch) == 1
    assert glitch[0].startswith("bybit BTCUSDT open interest +149% in one step")
    # the glitch is flagged, not dropped: the row is still there with the raw value
    store, _ = panels
    row = store.read("open_interest", venues=["bybit"], start=utc(2021, 5, 19, 15), end=utc(2021, 5, 19, 15))
    hourly = pl.read_parquet(PANELS / "bybit_oi_hourly" / "BTCUSDT.parquet")
    raw = hourly.filter(pl.col("datetime") == utc(2021, 5, 19, 15))["open_interest"].item()
    assert row["raw_value"].to_list() == [raw]


def test_perp_panels_bybit_oi_is_coin_valued_at_the_bybit_price(panels: tuple[Store, ImportReport]) -> None:
    store, report = panels
    oi = store.read("open_interest", venues=["bybit"])
    assert oi.height == pl.read_parquet(PANELS / "bybit_oi_hourly" / "BTCUSDT.parquet").height
    assert set(oi["raw_unit"]) == {"coin"}
    # Bybit counts both sides: stored one-sided, the venue's figure kept in raw_value
    assert set(oi["raw_sides"]) == {2}
    assert (oi["oi_base"] == oi["raw_value"] / 2).all()
    assert any("bybit counts both sides" in a for a in report.assumptions)

    # by hand: 2021-05-19 15:00, OI 13,677.566 BTC (both sides) / 2 × the open of Bybit's 15:00 bar in the panel
    bybit = panel("bybit_BTC_2020-03-25_2026-03-06.parquet")
    open_15 = bybit.filter(pl.col("ts") == utc(2021, 5, 19, 15))["open"].item()
    assert open_15 == 37409.5
    row = oi.filter(pl.col("ts") == utc(2021, 5, 19, 15)).row(0, named=True)
    assert row["oi_base"] == 13677.566 / 2
    assert row["oi_usd"] == pytest.approx(13677.566 / 2 * open_15, rel=1e-12)
    assert row["usd_method"] == "coin_x_price_at_ts"

    # every row: the open of the bar starting at ts, else the close of the bar ending at ts; nothing older
    opens = dict(zip(bybit["ts"].to_list(), bybit["open"].to_list(), strict=True))
    closes = {t + HOUR: c for t, c in zip(bybit["ts"].to_list(), bybit["close"].to_list(), strict=True)}
    unpriced = 0
    for r in oi.iter_rows(named=True):
        price = opens.get(r["ts"], closes.get(r["ts"]))
        if price is None:
            unpriced += 1
            assert r["oi_usd"] is None
            assert r["usd_method"] == "unpriced"
        else:
            assert r["usd_method"] == "coin_x_price_at_ts"
            assert r["oi_usd"] == pytest.approx(r["oi_base"] * price, rel=1e-12)
    assert unpriced > 0  # the OI file runs 2021-05-15..25, the panel only 05-17..21
    assert f"open interest: {unpriced} rows had no perp price at their time" in " ".join(report.anomalies)


def test_perp_panels_empty_binance_oi_columns_are_reported_not_imported(
    panels: tuple[Store, ImportReport],
) -> None:
    store, report = panels
    assert store.read("open_interest", venues=["binance"]).is_empty()
    for name in ("binance_BTC_2020-01-01_2026-03-06.parquet", "binance_SOL_2020-08-11_2026-03-06.parquet"):
        assert f"{name}: open-interest column open_interest_usd_binance holds no values" in report.skipped


def test_perp_panels_binance_oi_is_usd_converted_to_coin(tmp_path: Path, store: Store) -> None:
    """The fixture's Binance OI column is empty; a copy with USD values shows the USD path."""
    name = "binance_BTC_2020-01-01_2026-03-06.parquet"
    frame = pl.read_parquet(HOURLY / name)
    usd = 8.0e9 + pl.int_range(pl.len(), eager=False).cast(pl.Float64) * 1.0e6
    frame = frame.with_columns(usd.alias("open_interest_usd_binance"))
    (tmp_path / "pp" / "hourly_panels").mkdir(parents=True)
    frame.write_parquet(tmp_path / "pp" / "hourly_panels" / name)

    import_source(store, "perp-panels", tmp_path / "pp", Filters())
    oi = store.read("open_interest")
    candles = store.read("candles", interval="1h").select("ts", "open", "close")
    assert oi.height == frame.height
    assert set(oi["venue"]) == {"binance"} and set(oi["symbol"]) == {"BTCUSDT"}
    assert set(oi["raw_unit"]) == {"usd"} and set(oi["usd_method"]) == {"venue"}
    assert (oi["oi_usd"] == oi["raw_value"]).all()
    joined = oi.join(price_known_at(candles), on="ts")
    assert joined.height == oi.height
    for r in joined.iter_rows(named=True):
        assert r["oi_base"] == pytest.approx(r["oi_usd"] / r["price"], rel=1e-12)


def test_perp_panels_okx_oi_is_usd_as_reported(panels: tuple[Store, ImportReport]) -> None:
    store, _ = panels
    oi = store.read("open_interest", venues=["okx"])
    raw = panel("okx_BTC_2018-01-11_2026-03-05.parquet").filter(pl.col("open_interest_usd_okx").is_not_null())
    assert oi.height == raw.height > 0
    assert set(oi["raw_unit"]) == {"usd"} and set(oi["usd_method"]) == {"venue"}
    bars = panel("okx_BTC_2018-01-11_2026-03-05.parquet").select(
        "ts", pl.col("open_perp_okx").alias("open"), pl.col("close_perp_okx").alias("close")
    )
    joined = oi.join(raw.select("ts", "open_interest_usd_okx"), on="ts").join(price_known_at(bars), on="ts")
    assert joined.height == oi.height
    assert (joined["oi_usd"] == joined["open_interest_usd_okx"]).all()
    for r in joined.iter_rows(named=True):
        assert r["oi_base"] == pytest.approx(r["oi_usd"] / r["price"], rel=1e-12)


def test_perp_panels_hyperliquid_repeated_8h_candles_are_stored_once_as_8h(
    panels: tuple[Store, ImportReport],
) -> None:
    store, report = panels
    raw = panel("hyperliquid_BTC_2023-01-01_2026-03-07.parquet")
    candles = store.read("candles", venues=["hyperliquid"])
    eight = candles.filter(pl.col("interval") == "8h")
    window = eight.filter(pl.col("ts") >= utc(2025, 8, 8))
    # seven full 8h bars, then the 08:00 bar of 2025-08-10 of which the panel repeats only six rows before its
    # true hourly bars begin at 14:00: still one 8h bar, not six copies of it as 1h bars
    assert window["ts"].to_list() == [utc(2025, 8, 8) + i * timedelta(hours=8) for i in range(8)]
    # each 8h bar carries the values of its repeated rows, volume counted once
    for r in window.iter_rows(named=True):
        rows = raw.filter(pl.col("ts").is_between(r["ts"], min(r["ts"] + 7 * HOUR, utc(2025, 8, 10, 13))))
        assert rows.height == (6 if r["ts"] == utc(2025, 8, 10, 8) else 8)
        for col, src in (
            ("open", "open_perp"),
            ("high", "high_perp"),
            ("low", "low_perp"),
            ("close", "close_perp"),
        ):
            assert rows[src].n_unique() == 1
            assert r[col] == rows[src][0]
        assert r["volume_base"] == rows["volume_perp"][0]
    # no 1h bar hides inside those 8h bars
    hourly = candles.filter(pl.col("interval") == "1h")
    assert hourly.filter(pl.col("ts").is_between(utc(2025, 8, 8), utc(2025, 8, 10, 7))).is_empty()
    # the 2023 window (8h funding era) is 8h bars too, three a day
    early = eight.filter(pl.col("ts") < utc(2024, 1, 1))
    assert early["ts"].to_list() == [utc(2023, 6, 1) + i * timedelta(hours=8) for i in range(33)]
    assert any("8h candles were repeated over 8 hourly rows" in a for a in report.anomalies)


def test_perp_panels_hyperliquid_real_1h_bars_after_the_switch_are_1h(
    panels: tuple[Store, ImportReport],
) -> None:
    store, _ = panels
    raw = panel("hyperliquid_BTC_2023-01-01_2026-03-07.parquet").filter(pl.col("ts") >= utc(2025, 8, 10, 14))
    hourly = store.read("candles", venues=["hyperliquid"], interval="1h", start=utc(2025, 8, 10, 14))
    assert hourly.height == raw.height == 35
    assert hourly["ts"].to_list() == raw["ts"].to_list()
    assert hourly["open"].to_list() == raw["open_perp"].to_list()
    assert hourly["close"].to_list() == raw["close_perp"].to_list()
    assert hourly["volume_base"].to_list() == raw["volume_perp"].to_list()
    assert store.read("candles", venues=["hyperliquid"], interval="8h", start=utc(2025, 8, 10, 9)).is_empty()


def test_perp_panels_hyperliquid_no_repeated_rows_stored_as_1h_bars(
    panels: tuple[Store, ImportReport],
) -> None:
    """The 8h bar of 2025-08-10 08:00 is repeated over only 6 rows (08:00-13:00) before real 1h bars start
    at 14:00. Those six identical rows are not 1h bars either: storing them as 1h bars gives six 1h candles
    with the whole 8h range (high 119,198 / low 117,664) and six times the 8h volume."""
    store, _ = panels
    hourly = store.read("candles", venues=["hyperliquid"], interval="1h").sort("ts")
    values = ["open", "high", "low", "close", "volume_base"]
    same = pl.all_horizontal([pl.col(c) == pl.col(c).shift(1) for c in values])
    repeated = hourly.filter(same & (pl.col("ts").diff() == HOUR))
    assert repeated["ts"].to_list() == []


def test_perp_panels_okx_volume_is_converted_from_contracts(panels: tuple[Store, ImportReport]) -> None:
    store, report = panels
    raw = panel("okx_BTC_2018-01-11_2026-03-05.parquet")
    okx = store.read("candles", venues=["okx"]).join(
        raw.select("ts", "volume_perp_okx", "vwap_perp_okx"), on="ts"
    )
    assert okx.height == raw.height
    assert set(okx["interval"]) == {"1h"} and set(okx["symbol"]) == {"BTC-USDT-SWAP"}
    for r in okx.iter_rows(named=True):
        assert r["volume_base"] == pytest.approx(r["volume_perp_okx"] * 0.01, rel=1e-12)
        assert r["volume_quote"] == pytest.approx(r["vwap_perp_okx"] * r["volume_perp_okx"] * 0.01, rel=1e-12)
    assert any("0.01 BTC/contract" in a for a in report.assumptions)


def test_perp_panels_recovered_funding_is_marked_and_low_quality(panels: tuple[Store, ImportReport]) -> None:
    store, _ = panels
    for venue, file in (
        ("okx", "okx_BTC_2018-01-11_2026-03-05.parquet"),
        ("bybit", "bybit_BTC_2020-03-25_2026-03-06.parquet"),
        ("hyperliquid", "hyperliquid_BTC_2023-01-01_2026-03-07.parquet"),
    ):
        funding = store.read("funding", venues=[venue])
        assert funding.height > 0
        assert set(funding["quality"]) == {1}
        assert set(funding["interval_source"]) == {"recovered"}
        assert set(funding["source"]) == {f"perp-panels:{file}"}
        # every recovered event carries the panel's rate at that hour
        rate_col = {"okx": "funding_rate_raw_okx", "bybit": "funding_rate"}.get(
            venue, "funding_rate_1h_hyperliquid"
        )
        joined = funding.join(panel(file).select("ts", rate_col), on="ts")
        assert joined.height == funding.height
        assert (joined["rate"] == joined[rate_col]).all()
    okx = store.read("funding", venues=["okx"])
    assert set(okx["interval_hours"]) == {8.0}
    assert set(okx["ts"].dt.hour()) == {0, 8, 16}


@pytest.mark.parametrize("coin", ["BTC", "SOL"])
def test_perp_panels_real_settlements_outrank_recovered_events(
    panels: tuple[Store, ImportReport], coin: str
) -> None:
    """docs/data.md: recovered events (quality 1) are always replaced by a real settlement for the same time.
    Both come in the same import here (panel + binance_funding)."""
    store, _ = panels
    real = pl.read_parquet(PANELS / "binance_funding" / f"{coin}USDT.parquet")
    stored = store.read("funding", venues=["binance"], symbols=[f"{coin}USDT"])
    by_ts = {r["ts"]: r for r in stored.iter_rows(named=True)}
    wrong = []
    for rate, ts in real.select("funding_rate", "datetime").iter_rows():
        row = by_ts[round_minute(ts)]
        if row["quality"] != 3 or row["interval_source"] != "detected" or row["rate"] != rate:
            wrong.append(f"{round_minute(ts):%Y-%m-%d %H:%M} {row['interval_source']} q{row['quality']}")
    assert wrong == []


@pytest.mark.parametrize("settlements_first", [False, True])
def test_real_settlements_outrank_recovered_events_across_imports(
    tmp_path: Path, store: Store, settlements_first: bool
) -> None:
    """The same two files imported one after the other (either order): the store's quality rank decides."""
    name = "binance_SOL_2020-08-11_2026-03-06.parquet"
    copy_file(HOURLY / name, tmp_path / "panel" / "hourly_panels" / name)
    copy_file(
        PANELS / "binance_funding" / "SOLUSDT.parquet",
        tmp_path / "real" / "binance_funding" / "SOLUSDT.parquet",
    )
    order = ["real", "panel"] if settlements_first else ["panel", "real"]
    for folder in order:
        import_source(store, "perp-panels", tmp_path / folder, Filters())
    real = pl.read_parquet(PANELS / "binance_funding" / "SOLUSDT.parquet")
    stored = store.read("funding", venues=["binance"], symbols=["SOLUSDT"])
    by_ts = {r["ts"]: r for r in stored.iter_rows(named=True)}
    for rate, ts in real.select("funding_rate", "datetime").iter_rows():
        row = by_ts[round_minute(ts)]
        assert (row["quality"], row["rate"]) == (3, rate), ts
    assert by_ts[utc(2022, 11, 10, 8)]["interval_hours"] == 2.0


def test_perp_panels_report_funding_interval_changes(panels: tuple[Store, ImportReport]) -> None:
    _, report = panels
    for line in (
        "binance SOLUSDT: funding interval 8h -> 4h at 2022-11-09 20:00 UTC",
        "binance SOLUSDT: funding interval 4h -> 2h at 2022-11-10 06:00 UTC",
        "hyperliquid BTC: funding interval 8h -> 1h at 2023-06-08 01:00 UTC",
    ):
        assert any(change.startswith(line) for change in report.interval_changes), line
    # changes seen only in a forward-filled panel say so
    assert (
        "hyperliquid BTC: funding interval 8h -> 1h at 2023-06-08 01:00 UTC (recovered from a forward-filled panel)"
        in (report.interval_changes)
    )


def test_perp_panels_sol_intervals_follow_the_real_settlements(panels: tuple[Store, ImportReport]) -> None:
    """Binance SOLUSDT settled every 2 h from 2022-11-10 06:00 to 2022-11-18 08:00 (the settlement file says
    so); a recovered 4h event at 2022-11-10 08:00 must not replace the real 2h settlement, or rate_8h is off
    by a factor of two and the report lists changes that never happened."""
    store, report = panels
    sol = [c for c in report.interval_changes if c.startswith("binance SOLUSDT") and "recovered" not in c]
    assert sol == [
        "binance SOLUSDT: funding interval 8h -> 4h at 2022-11-09 20:00 UTC",
        "binance SOLUSDT: funding interval 4h -> 2h at 2022-11-10 06:00 UTC",
        # past-only: the first 8 h step (to 2022-11-18 16:00) may be missed 2 h settlements; the second confirms
        "binance SOLUSDT: funding interval 2h -> 8h at 2022-11-19 00:00 UTC",
    ]
    row = store.read("funding", venues=["binance"], symbols=["SOLUSDT"], start=utc(2022, 11, 10, 8)).row(
        0, named=True
    )
    assert row["ts"] == utc(2022, 11, 10, 8)
    assert row["interval_hours"] == 2.0
    assert row["rate_8h"] == pytest.approx(-0.02 / 2 * 8)
    # what is stored: the real record's settlements wherever it covers the panel, so the stored series changes
    # interval exactly where the venue did — no recovered event is left between two real settlements
    stored = store.read("funding", venues=["binance"], symbols=["SOLUSDT"])
    changes = [
        (c.ts, c.from_hours, c.to_hours) for c in interval_changes(stored.select("ts", "interval_hours"))
    ]
    assert changes == [
        (utc(2022, 11, 9, 20), 8.0, 4.0),
        (utc(2022, 11, 10, 6), 4.0, 2.0),
        (utc(2022, 11, 19), 2.0, 8.0),
    ]
    assert stored.filter(pl.col("interval_source") == "recovered").is_empty()


def test_perp_panels_bybit_oi_file_outranks_the_panel(panels: tuple[Store, ImportReport]) -> None:
    """bybit_oi_hourly rows are the venue's record (quality 3); the panel's OI column (quality 2) holds the
    same hours and must not win in the same import."""
    store, _ = panels
    oi = store.read("open_interest", venues=["bybit"])
    from_panel = oi.filter(pl.col("quality") != 3)
    assert from_panel["ts"].to_list() == []
    assert all(s.startswith("perp-panels:bybit_oi_hourly/") for s in oi["source"])


def test_perp_panels_report_counts_match_the_store(panels: tuple[Store, ImportReport]) -> None:
    store, report = panels
    assert report.files == 9
    counts = store.counts()
    for name, rep in report.datasets.items():
        assert rep.rows == counts[name] + rep.superseded and counts[name] == rep.inserted
        assert rep.updated == 0 and rep.unchanged == 0
    # the six 2 h events recovered from the SOL panel after the switch back to 8 h (2022-11-18 10:00..22:00,
    # before a second 8 h gap confirmed it) lie within 8 h after a real settlement: superseded, never stored
    assert report.datasets["funding"].superseded == 6
    assert counts["liquidations"] == 0
    assert store.imports()["source"].to_list() == ["perp-panels"]


# --------------------------------------------------------------------------------------------------------
# funding-7venues
# --------------------------------------------------------------------------------------------------------


def _csv_rows(venue: str) -> list[tuple[datetime, float]]:
    (file,) = FUNDING7.glob(f"BTC-USDT_{venue}_*_funding_history.csv")
    with file.open(newline="") as fh:
        return [
            (datetime.fromisoformat(r["Date"]).replace(tzinfo=UTC), float(r["Funding Rate"]))
            for r in csv.DictReader(fh)
        ]


def test_funding7_first_binance_settlement_is_midnight_utc(funding7: tuple[Store, ImportReport]) -> None:
    store, _ = funding7
    assert _csv_rows("binance")[0][0] == utc(2020, 1, 1, 3)
    first = store.read("funding", venues=["binance"]).row(0, named=True)
    assert first["ts"] == utc(2020, 1, 1, 0)
    assert first["rate"] == -0.00012359


@pytest.mark.parametrize(
    ("venue", "shift_h"), [("binance", 3), ("bybit", 3), ("htx", 3), ("gate", 0), ("dydx", 0)]
)
def test_funding7_timestamps_and_values(
    funding7: tuple[Store, ImportReport], venue: str, shift_h: int
) -> None:
    store, report = funding7
    expected = [(ts - timedelta(hours=shift_h), rate) for ts, rate in _csv_rows(venue)]
    stored = store.read("funding", venues=[venue])
    assert set(stored["asset"]) == {"BTC"}
    assert stored["ts_venue"].to_list() == [ts for ts, _ in expected]
    assert stored["ts"].to_list() == [round_minute(ts) for ts, _ in expected]
    assert stored["rate"].to_list() == [rate for _, rate in expected]
    shifted = f"{venue} timestamps in funding-7venues are UTC+3 and were shifted by -3 h to UTC"
    assert (shifted in report.assumptions) == (shift_h == 3)


def test_funding7_intervals(funding7: tuple[Store, ImportReport]) -> None:
    store, report = funding7
    funding = store.read("funding")
    intervals = {v: set(part["interval_hours"]) for (v,), part in funding.group_by("venue")}
    assert intervals == {"binance": {8.0}, "bybit": {8.0}, "htx": {8.0}, "gate": {8.0}, "dydx": {1.0}}
    assert set(funding["interval_source"]) == {"detected"}
    assert set(funding["quality"]) == {3}
    assert report.interval_changes == []
    assert report.datasets["funding"].rows == 300 and report.datasets["funding"].markets == 5


# --------------------------------------------------------------------------------------------------------
# multivenue-2025
# --------------------------------------------------------------------------------------------------------


def test_multivenue_okx_liquidation_sides(multivenue: tuple[Store, ImportReport]) -> None:
    store, _ = multivenue
    raw = pl.read_parquet(MULTIVENUE / "liquidations_fadd49d.parquet").filter(pl.col("venue") == "okx")
    # OKX size_usd is contracts × price: the coin amount is size_usd / price × the contract value; coins whose
    # contract value levradar does not know (HYPE here) are not imported
    known = raw.filter(pl.col("coin").is_in([a for (v, a) in CONTRACT_SIZES if v == "okx"]))
    assert 0 < known.height < raw.height
    expected = sorted(
        (ts, coin, {"sell": "long", "buy": "short"}[side], price, size * CONTRACT_SIZES[("okx", coin)])
        for ts, coin, side, price, size in known.select(
            "timestamp", "coin", "side", "price", "size_usd"
        ).iter_rows()
    )
    liq = store.read("liquidations")
    got = sorted(liq.select("ts", "asset", "liquidated_side", "price", "notional_usd").iter_rows())
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    assert [g[4] for g in got] == pytest.approx([e[4] for e in expected], rel=1e-12)
    assert set(liq["venue"]) == {"okx"}
    assert set(liq["sampled"]) == {True}
    for r in liq.iter_rows(named=True):
        assert r["qty_base"] == pytest.approx(r["notional_usd"] / r["price"], rel=1e-12)
    sides = dict(liq.group_by("liquidated_side").len().iter_rows())
    assert sides == {
        "long": known.filter(pl.col("side") == "sell").height,
        "short": known.filter(pl.col("side") == "buy").height,
    }


def test_multivenue_hyperliquid_fills_with_undocumented_side_are_skipped(
    multivenue: tuple[Store, ImportReport],
) -> None:
    store, report = multivenue
    raw = pl.read_parquet(MULTIVENUE / "liquidations_fadd49d.parquet").filter(
        pl.col("venue") == "hyperliquid"
    )
    assert set(raw["side"]) == {"S"} and raw.height == 150
    assert store.read("liquidations", venues=["hyperliquid"]).is_empty()
    (line,) = [s for s in report.skipped if "hyperliquid with side code" in s]
    assert "150 liquidation fills on hyperliquid with side code(s) S" in line
    assert "not imported" in line


def test_multivenue_liquidation_volume_is_skipped(multivenue: tuple[Store, ImportReport]) -> None:
    _, report = multivenue
    assert "liquidation_volume.parquet: aggregates with no canonical table (not imported)" in report.skipped
    assert report.files == 4


def test_multivenue_identical_fills_stay_separate(tmp_path: Path, store: Store) -> None:
    raw = pl.read_parquet(MULTIVENUE / "liquidations_fadd49d.parquet")
    known_coins = [a for (v, a) in CONTRACT_SIZES if v == "okx"]
    twin = raw.filter((pl.col("venue") == "okx") & pl.col("coin").is_in(known_coins)).head(1)
    assert twin.height == 1
    (tmp_path / "mv").mkdir()
    pl.concat([raw, twin]).write_parquet(tmp_path / "mv" / "liquidations_fadd49d.parquet")

    first = import_source(store, "multivenue-2025", tmp_path / "mv", Filters())
    okx_known = [a for (v, a) in CONTRACT_SIZES if v == "okx"]
    okx_rows = raw.filter((pl.col("venue") == "okx") & pl.col("coin").is_in(okx_known)).height
    assert first.datasets["liquidations"].inserted == okx_rows + 1
    same = store.read("liquidations").filter(
        (pl.col("ts") == twin["timestamp"][0]) & (pl.col("price") == twin["price"][0])
    )
    assert same.height == 2
    assert sorted(same["seq"].to_list()) == [0, 1]
    again = import_source(store, "multivenue-2025", tmp_path / "mv", Filters())
    rep = again.datasets["liquidations"]
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, okx_rows + 1)
    assert store.counts()["liquidations"] == okx_rows + 1


def test_multivenue_funding_intervals(multivenue: tuple[Store, ImportReport]) -> None:
    store, _ = multivenue
    funding = store.read("funding")
    for venue in ("hyperliquid", "kraken", "lighter"):
        assert set(funding.filter(pl.col("venue") == venue)["interval_hours"]) == {1.0}
    binance = funding.filter(pl.col("venue") == "binance")
    per_asset = {a: set(p["interval_hours"]) for (a,), p in binance.group_by("asset")}
    for asset in ("BTC", "ETH", "SOL", "DOGE"):
        assert per_asset[asset] == {8.0}, asset
    assert set(funding.filter(pl.col("venue") == "bybit")["interval_hours"]) == {8.0}
    raw = pl.read_parquet(MULTIVENUE / "funding_rates.parquet")
    assert funding.height == raw.height


def test_multivenue_oi_without_a_price_is_left_unconverted(multivenue: tuple[Store, ImportReport]) -> None:
    store, report = multivenue
    oi = store.read("open_interest")
    raw = pl.read_parquet(MULTIVENUE / "open_interest.parquet")
    assert oi.height == raw.height
    assert set(oi["venue"]) == {"hyperliquid"} and set(oi["raw_unit"]) == {"usd"}
    assert (oi["oi_usd"] == oi["raw_value"]).all()
    assert oi["oi_base"].null_count() == oi.height  # the fixture's candles are two months earlier
    assert f"open interest: {raw.height} rows had no perp price at their time" in " ".join(report.anomalies)


def test_multivenue_usd_oi_is_converted_to_coin_with_a_stored_candle_price(
    tmp_path: Path, store: Store
) -> None:
    """Hyperliquid 1h candles already in the store (from the bundled sample) price the USD OI snapshots."""
    candles = pl.read_parquet(sample_dir() / "candles.parquet").filter(
        (pl.col("venue") == "hyperliquid")
        & (pl.col("interval") == "1h")
        & pl.col("ts").is_between(utc(2025, 12, 6), utc(2025, 12, 10))
    )
    (tmp_path / "canon").mkdir()
    candles.write_parquet(tmp_path / "canon" / "candles.parquet")
    import_source(store, "canonical", tmp_path / "canon", Filters())

    report = import_source(store, "multivenue-2025", MULTIVENUE, Filters())
    oi = store.read("open_interest").join(
        price_known_at(candles.select("symbol", "ts", "open", "close"), ("symbol",)),
        on=["symbol", "ts"],
        how="left",
    )
    priced = oi.filter(pl.col("asset") != "HYPE")  # the sample has no HYPE
    assert priced.height == 4 * 38 and priced["price"].null_count() == 0
    assert set(priced["usd_method"]) == {"venue"}
    for r in priced.iter_rows(named=True):
        assert r["oi_usd"] == r["raw_value"]
        assert r["oi_base"] == pytest.approx(r["oi_usd"] / r["price"], rel=1e-12)
    btc = priced.filter((pl.col("asset") == "BTC") & (pl.col("ts") == utc(2025, 12, 7, 12))).row(
        0, named=True
    )
    assert 10_000 < btc["oi_base"] < 30_000  # ~$1.97bn at ~$90k
    hype = oi.filter(pl.col("asset") == "HYPE")
    assert hype["oi_base"].null_count() == hype.height == 38
    assert "open interest: 38 rows had no perp price at their time" in " ".join(report.anomalies)


# --------------------------------------------------------------------------------------------------------
# hyperliquid-rest
# --------------------------------------------------------------------------------------------------------


def test_hyperliquid_rest_funding_switches_from_8h_to_1h(hl_rest: tuple[Store, ImportReport]) -> None:
    store, report = hl_rest
    funding = store.read("funding")
    assert set(funding["symbol"]) == {"BTC"}
    switch = utc(2023, 6, 8, 1)
    # the first settlement has no step before it: it takes Hyperliquid's nominal interval (1 h, hourly since
    # 2023-06-08); the next step sets 8 h at once (past-only, nothing after a settlement decides its interval)
    assert funding.row(0, named=True)["interval_hours"] == 1.0
    assert set(funding.filter(pl.col("ts") < switch)["interval_hours"][1:]) == {8.0}
    assert set(funding.filter(pl.col("ts") >= switch)["interval_hours"]) == {1.0}
    assert funding.filter(pl.col("ts") >= switch)["ts"][0] == switch
    assert report.interval_changes == ["hyperliquid BTC: funding interval 8h -> 1h at 2023-06-08 01:00 UTC"]
    # ts is the settlement on the minute; ts_venue keeps Hyperliquid's millisecond stamp
    assert (funding["ts"] == funding["ts_venue"].dt.round("1m")).all()
    assert (funding["ts_venue"] != funding["ts"]).any()


def test_hyperliquid_rest_meta_fills_instruments(hl_rest: tuple[Store, ImportReport]) -> None:
    store, _ = hl_rest
    metas = [
        json.loads(i["response"]["body"]["string"])
        for file in sorted(HL_REST.glob("*.yaml"))
        for i in yaml.safe_load(file.read_text())["interactions"]
        if json.loads(i["request"]["body"]).get("type") == "meta"
    ]
    assert metas
    names = {a["name"] for m in metas for a in m["universe"]}
    instruments = store.instruments()
    assert {"BTC", "ETH", "SOL", "kPEPE"} <= set(instruments["symbol"])
    assert set(instruments["symbol"]) == names
    assert set(instruments["venue"]) == {"hyperliquid"} and set(instruments["quote"]) == {"USDC"}
    kpepe = instruments.filter(pl.col("symbol") == "kPEPE").row(0, named=True)
    assert kpepe["asset"] == "kPEPE"


def test_hyperliquid_rest_candles(hl_rest: tuple[Store, ImportReport]) -> None:
    store, _ = hl_rest
    candles = store.read("candles")
    assert candles.height == 24
    assert set(candles["symbol"]) == {"kPEPE"} and set(candles["interval"]) == {"1h"}
    assert (candles["ts"].diff().drop_nulls() == HOUR).all()
    assert (candles["high"] >= candles["low"]).all()


# --------------------------------------------------------------------------------------------------------
# the bundled sample
# --------------------------------------------------------------------------------------------------------


def test_sample_covers_five_assets_on_four_venues(sample: tuple[Store, ImportReport]) -> None:
    store, report = sample
    assert report.source == "sample"
    start, end = utc(2025, 7, 1), utc(2025, 12, 31, 23)
    hours = int((end - start) / HOUR) + 1
    candles = store.read("candles", interval="1h", start=start, end=end)
    for venue in ("binance", "bybit", "okx"):
        for asset in SAMPLE_ASSETS:
            part = candles.filter((pl.col("venue") == venue) & (pl.col("asset") == asset))
            assert part.height == hours, (venue, asset)
    # Hyperliquid: 8h bars until 2025-08-10, hourly after
    hl = store.read("candles", venues=["hyperliquid"], start=start, end=end)
    for asset in SAMPLE_ASSETS:
        part = hl.filter(pl.col("asset") == asset)
        assert part.filter(pl.col("interval") == "8h")["ts"].min() == start
        assert part.filter(pl.col("interval") == "1h")["ts"].max() == end
    funding = store.read("funding", start=start, end=end)
    oi = store.read("open_interest", start=start, end=end)
    for venue in ("binance", "bybit", "okx", "hyperliquid"):
        for asset in SAMPLE_ASSETS:
            part = funding.filter((pl.col("venue") == venue) & (pl.col("asset") == asset))
            assert part["ts"].min() == start and part["ts"].max() >= utc(2025, 12, 31, 16), (venue, asset)
    for asset in SAMPLE_ASSETS:
        part = oi.filter((pl.col("venue") == "bybit") & (pl.col("asset") == asset))
        assert part["ts"].min() == start and part["ts"].max() == end
        assert set(part["raw_unit"]) == {"coin"}
    assert set(store.read("open_interest", venues=["hyperliquid"])["asset"]) >= {"BTC", "ETH", "SOL", "DOGE"}


def test_sample_includes_the_2025_10_10_cascade_day(sample: tuple[Store, ImportReport]) -> None:
    store, _ = sample
    day = store.read("candles", interval="1h", start=utc(2025, 10, 10), end=utc(2025, 10, 10, 23))
    counts = dict(
        day.group_by("venue", "asset").len().select(pl.concat_str("venue", "asset"), "len").iter_rows()
    )
    assert counts == {
        f"{v}{a}": 24 for v in ("binance", "bybit", "okx", "hyperliquid") for a in SAMPLE_ASSETS
    }
    btc = day.filter((pl.col("venue") == "binance") & (pl.col("asset") == "BTC"))
    assert btc["low"].min() < btc["open"][0] * 0.9  # the crash: more than 10 % below the day's open


def test_sample_bybit_btc_oi_drop_is_flagged(sample: tuple[Store, ImportReport]) -> None:
    store, report = sample
    oi = store.read("open_interest", venues=["bybit"], symbols=["BTCUSDT"], start=utc(2025, 10, 10, 21))
    before, after = oi["oi_base"][0], oi["oi_base"][1]
    assert oi["ts"][:2].to_list() == [utc(2025, 10, 10, 21), utc(2025, 10, 10, 22)]
    assert after / before - 1 < -0.20
    flagged = [a for a in report.anomalies if a.startswith("bybit BTCUSDT open interest")]
    assert any("in one step at 2025-10-10 22:00 UTC" in a and "-26%" in a for a in flagged)


def test_sample_counts_match_its_files(sample: tuple[Store, ImportReport]) -> None:
    store, report = sample
    assert report.files == 5
    for name in DATASETS:
        assert store.counts()[name] == pl.read_parquet(sample_dir() / f"{name}.parquet").height
        assert report.datasets[name].inserted == store.counts()[name]


# --------------------------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------------------------


def _markets(store: Store) -> set[tuple[str, str, str]]:
    return {
        (name, v, s)
        for name in DATASETS
        for v, s in store.read(name).select("venue", "symbol").unique().iter_rows()
    }


def test_filters_assets_and_venues_on_perp_panels(store: Store) -> None:
    report = import_source(
        store, "perp-panels", PANELS, Filters(assets=frozenset({"BTC"}), venues=frozenset({"bybit"}))
    )
    assert report.files == 2  # the Bybit panel and bybit_oi_hourly
    assert {(v, s) for _, v, s in _markets(store)} == {("bybit", "BTCUSDT")}
    assert store.counts()["open_interest"] > 0 and store.counts()["candles"] > 0


def test_filters_asset_only_on_perp_panels(store: Store) -> None:
    import_source(store, "perp-panels", PANELS, Filters(assets=frozenset({"SOL"})))
    assert {(v, s) for _, v, s in _markets(store)} == {("binance", "SOLUSDT")}


def test_filters_time_window_on_perp_panels(store: Store) -> None:
    start, end = utc(2025, 10, 9), utc(2025, 10, 10, 12)
    import_source(store, "perp-panels", PANELS, Filters(start=start, end=end))
    for name in DATASETS:
        frame = store.read(name)
        if not frame.is_empty():
            assert frame["ts"].min() >= start and frame["ts"].max() <= end, name
    assert {(v, s) for _, v, s in _markets(store)} == {("binance", "BTCUSDT")}
    # an 8h bar is known once it has closed: the bar of 2025-10-10 08:00 closes at 16:00, after --to
    assert store.read("candles", interval="8h")["ts"].to_list() == [
        utc(2025, 10, 9) + i * timedelta(hours=8) for i in range(4)
    ]


def test_filters_on_multivenue(store: Store) -> None:
    filters = Filters(assets=frozenset({"SOL"}), venues=frozenset({"okx", "binance", "hyperliquid"}))
    report = import_source(store, "multivenue-2025", MULTIVENUE, filters)
    assert _markets(store) == {
        ("candles", "binance", "SOLUSDT"),
        ("funding", "binance", "SOLUSDT"),
        ("funding", "hyperliquid", "SOL"),
        ("open_interest", "hyperliquid", "SOL"),
        ("liquidations", "okx", "SOL-USDT-SWAP"),
    }
    raw = pl.read_parquet(MULTIVENUE / "liquidations_fadd49d.parquet")
    assert (
        store.counts()["liquidations"]
        == raw.filter((pl.col("venue") == "okx") & (pl.col("coin") == "SOL")).height
    )
    assert any("34 liquidation fills on hyperliquid" in s for s in report.skipped)


def test_filters_that_exclude_every_liquidation_fill_on_multivenue(store: Store) -> None:
    """The fixture's fills are OKX and Hyperliquid only: keeping Binance and Bybit leaves the liquidation
    file with no rows, which must import nothing from it, not crash."""
    filters = Filters(assets=frozenset({"BTC", "ETH"}), venues=frozenset({"binance", "bybit"}))
    import_source(store, "multivenue-2025", MULTIVENUE, filters)
    markets = _markets(store)
    assert {(v, s) for _, v, s in markets} == {
        ("binance", "BTCUSDT"),
        ("binance", "ETHUSDT"),
        ("bybit", "BTCUSDT"),
        ("bybit", "ETHUSDT"),
    }
    assert {n for n, _, _ in markets} == {"candles", "funding"}


def test_filters_on_funding7_and_hyperliquid_rest(store: Store) -> None:
    import_source(store, "funding-7venues", FUNDING7, Filters(venues=frozenset({"gate", "dydx"})))
    assert set(store.read("funding")["venue"]) == {"gate", "dydx"}
    start = utc(2023, 6, 1)
    import_source(store, "hyperliquid-rest", HL_REST, Filters(start=start))
    hl = store.read("funding", venues=["hyperliquid"])
    assert hl.height > 0 and hl["ts"].min() >= start
    assert store.read("candles").is_empty()  # the recorded candles are from May 2023


def test_filters_on_the_sample(store: Store) -> None:
    start, end = utc(2025, 10, 10), utc(2025, 10, 11)
    filters = Filters(assets=frozenset({"ETH"}), venues=frozenset({"okx"}), start=start, end=end)
    import_source(store, "sample", Path("."), filters)
    assert {(v, s) for _, v, s in _markets(store)} == {("okx", "ETH-USDT-SWAP")}
    candles = store.read("candles")  # --to: only bars closed by then (the 1h bar opening at `end` is not)
    assert candles.height == 24 and candles["ts"].min() == start and candles["ts"].max() == end - HOUR


# --------------------------------------------------------------------------------------------------------
# malformed input: one error naming file, row and column; nothing written
# --------------------------------------------------------------------------------------------------------


def test_panel_without_timestamp_column(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "pp"
    name = "binance_BTC_2020-01-01_2026-03-06.parquet"
    bad = root / "hourly_panels" / name
    bad.parent.mkdir(parents=True)
    pl.read_parquet(HOURLY / name).rename({"timestamp": "time"}).write_parquet(bad)
    copy_file(PANELS / "bybit_oi_hourly" / "BTCUSDT.parquet", root / "bybit_oi_hourly" / "BTCUSDT.parquet")
    with pytest.raises(InputError) as info:
        import_source(store, "perp-panels", root, Filters())
    assert info.value.file == str(bad)
    assert info.value.column == "timestamp"
    assert str(bad) in str(info.value) and "'timestamp'" in str(info.value)
    assert_empty(store)


def test_funding7_csv_with_a_non_number_rate(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "f7"
    (src,) = FUNDING7.glob("BTC-USDT_gate_*.csv")
    lines = src.read_text().splitlines()
    header, data = lines[0], lines[1:]
    fields = data[4].split(",")  # data row 5, line 6 of the file
    fields[2] = "abc"
    data[4] = ",".join(fields)
    bad = root / src.name
    root.mkdir()
    bad.write_text("\n".join([header, *data]) + "\n")
    (good,) = FUNDING7.glob("BTC-USDT_binance_*.csv")
    copy_file(good, root / good.name)
    with pytest.raises(InputError) as info:
        import_source(store, "funding-7venues", root, Filters())
    err = info.value
    assert err.file == str(bad)
    assert err.column == "Funding Rate"
    assert err.row == 5  # data rows count from 1; a CSV also names the line (the header is line 1)
    assert str(err) == f"{bad}, row 5 (line 6), column 'Funding Rate': not a number: 'abc'"
    assert_empty(store)


@pytest.mark.parametrize(
    ("source", "relative", "original"),
    [
        (
            "perp-panels",
            "hourly_panels/bybit_BTC_2020-03-25_2026-03-06.parquet",
            HOURLY / "bybit_BTC_2020-03-25_2026-03-06.parquet",
        ),
        ("perp-panels", "binance_funding/SOLUSDT.parquet", PANELS / "binance_funding" / "SOLUSDT.parquet"),
        ("multivenue-2025", "open_interest.parquet", MULTIVENUE / "open_interest.parquet"),
    ],
)
def test_truncated_parquet(tmp_path: Path, store: Store, source: str, relative: str, original: Path) -> None:
    root = tmp_path / "src"
    bad = root / relative
    bad.parent.mkdir(parents=True)
    data = original.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    if source == "multivenue-2025":  # a good file next to it: nothing of it may land either
        copy_file(MULTIVENUE / "funding_rates.parquet", root / "funding_rates.parquet")
    with pytest.raises(InputError) as info:
        import_source(store, source, root, Filters())
    assert info.value.file == str(bad)
    assert "not a readable Parquet" in str(info.value)
    assert_empty(store)


def test_multivenue_missing_column(tmp_path: Path, store: Store) -> None:
    (tmp_path / "mv").mkdir()
    bad = tmp_path / "mv" / "candles.parquet"
    pl.read_parquet(MULTIVENUE / "candles.parquet").drop("c").write_parquet(bad)
    with pytest.raises(InputError) as info:
        import_source(store, "multivenue-2025", tmp_path / "mv", Filters())
    assert info.value.file == str(bad) and info.value.column == "c"
    assert_empty(store)


def test_error_after_a_good_import_leaves_the_store_as_it_was(tmp_path: Path, store: Store) -> None:
    import_source(store, "funding-7venues", FUNDING7, Filters())
    before = store.read("funding").drop("ts_ingest")
    root = tmp_path / "pp" / "hourly_panels"
    root.mkdir(parents=True)
    (root / "okx_BTC_x.parquet").write_bytes(b"PAR1 not really parquet")
    copy_file(
        PANELS / "bybit_oi_hourly" / "BTCUSDT.parquet",
        tmp_path / "pp" / "bybit_oi_hourly" / "BTCUSDT.parquet",
    )
    with pytest.raises(InputError):
        import_source(store, "perp-panels", tmp_path / "pp", Filters())
    assert store.read("funding").drop("ts_ingest").equals(before)
    assert store.counts()["open_interest"] == 0
    assert store.imports().height == 1


def test_unknown_source_and_empty_folders(tmp_path: Path, store: Store) -> None:
    with pytest.raises(UnknownSourceError, match="unknown source 'nope'"):
        import_source(store, "nope", tmp_path, Filters())
    for name in ("perp-panels", "multivenue-2025", "funding-7venues", "hyperliquid-rest", "canonical"):
        with pytest.raises(InputError) as info:
            import_source(store, name, tmp_path, Filters())
        assert info.value.file == str(tmp_path)
    assert_empty(store)
