"""The notebook API (``import levradar as lr; lr.open(dir)``) over the bundled real sample: the same answers as the
CLI's --json for the same as-of, as polars frames and frozen dataclasses, read-only unless asked."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import levradar as lr
from levradar.analytics.scan import history
from levradar.analytics.scenario import MAX_MOVE
from levradar.cli import _move, app
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.journal import entries
from levradar.radar import Radar, RadarError, asset_row, check_move
from levradar.store import Store, StoreError

AS_OF = "2025-10-11T02:00Z"  # hours after the 2025-10-10 cascade
WHEN = datetime(2025, 10, 11, 2, tzinfo=UTC)
ASSETS = {"BTC", "DOGE", "ETH", "SOL", "XRP"}
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("python-api")
    with Store(path) as store:
        import_source(store, "sample", Path("."), Filters())
    return path


@pytest.fixture(scope="module")
def radar(data_dir: Path) -> Iterator[Radar]:
    with lr.open(data_dir) as r:
        yield r


def cli_json(*args: str | Path) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_levradar_stays_light_and_open_loads_on_demand() -> None:
    probe = (
        "import sys, levradar\n"
        "print(sorted(m for m in ('polars', 'duckdb', 'levradar.radar') if m in sys.modules))\n"
        "levradar.open\n"
        "print('levradar.radar' in sys.modules, levradar.open.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["[]", "True levradar.radar"]
    with pytest.raises(AttributeError, match="no attribute 'scan'"):
        lr.scan  # noqa: B018 - the module's lazy __getattr__ refuses other names


def test_open_refuses_a_missing_or_empty_store_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*levradar\.duckdb; import data first") as missing:
        lr.open(tmp_path / "nowhere")
    assert "\n" not in str(missing.value) and not (tmp_path / "nowhere").exists()  # nothing created
    Store(tmp_path / "empty").close()  # a store with the schema and no rows
    with pytest.raises(StoreError, match="holds no candles"):
        lr.open(tmp_path / "empty")


def test_open_without_a_folder_reads_the_environments_store(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEVRADAR_DATA_DIR", str(data_dir))
    with lr.open() as radar:
        assert radar.data_dir == data_dir and radar.assets() == sorted(ASSETS)


def test_scan_is_the_cli_scan_as_frames(radar: Radar, data_dir: Path) -> None:
    result = radar.scan(as_of=AS_OF)
    cli = cli_json("scan", "--as-of", AS_OF, "--json", "--data-dir", data_dir)
    assert result.to_json()["assets"] == cli["assets"]
    assert result.as_of == WHEN and set(result.assets["asset"]) == ASSETS
    frame = result.assets
    assert frame["lsi"].to_list() == sorted(frame["lsi"].to_list(), reverse=True)  # sorted by LSI as the CLI
    for read in cli["assets"]:
        row = frame.row(by_predicate=pl.col("asset") == read["asset"], named=True)
        assert row["rate_8h"] == read["funding"]["rate_8h"] and row["apr"] == read["funding"]["apr"]
        assert row["oi_usd"] == read["oi"]["usd"] and row["lsi"] == read["scores"]["lsi"]
        assert row["liq_below_price"] == (read["liquidation"]["nearest_below"] or {}).get("price")
        assert row["coverage"] == read["coverage"]["status"]
    assert frame.schema["data_time"] == pl.Datetime("us", "UTC") and (frame["data_time"] <= WHEN).all()
    # the frame's names are history()'s where both have the column: one vocabulary for a notebook
    hist = radar.history("BTC", WHEN - timedelta(hours=3), WHEN)
    shared = set(frame.columns) & set(hist.columns)
    assert {"rate_8h", "apr", "oi_usd", "lsi", "liq_below_pct", "liq_proximity"} <= shared
    row = frame.filter(pl.col("asset") == "BTC").select(sorted(shared - {"t"})).row(0, named=True)
    hour = hist.filter(pl.col("t") == WHEN).select(sorted(shared - {"t"})).row(0, named=True)
    measured = ["price", "ret_24h", "rate_8h", "apr", "oi_usd", "oi_roc_4h", "oi_roc_24h", "rv_24h", "rv_7d"]
    assert [row[k] for k in measured] == pytest.approx(
        [hour[k] for k in measured], rel=2e-4
    )  # JSON rounds (rv: 4 places)
    assert result.read("btc") == next(r for r in cli["assets"] if r["asset"] == "BTC")


def test_venue_rows_carry_unified_symbols_beside_the_venue_symbols(radar: Radar) -> None:
    venues = radar.scan(as_of=AS_OF, assets=["BTC"]).venues
    pairs = dict(
        zip(venues["venue"], zip(venues["symbol"], venues["symbol_unified"], strict=True), strict=True)
    )
    assert pairs == {
        "binance": ("BTCUSDT", "BTC/USDT:USDT"),
        "bybit": ("BTCUSDT", "BTC/USDT:USDT"),
        "okx": ("BTC-USDT-SWAP", "BTC/USDT:USDT"),
        "hyperliquid": ("BTC", "BTC/USDC:USDC"),
    }
    read = radar.scan(as_of=AS_OF, assets=["BTC"]).read("BTC")
    assert [v["symbol_unified"] for v in read["venues"]] == venues["symbol_unified"].to_list()


def test_bad_questions_are_one_clear_error(radar: Radar) -> None:
    with pytest.raises(
        RadarError,
        match=r"unknown asset BTCC \(did you mean BTC\?\); the store has: BTC, DOGE, ETH, SOL, XRP",
    ):
        radar.scan(assets=["BTCC"])
    with pytest.raises(
        RadarError, match=r"as_of 2031-01-01 00:00 UTC is after the newest data in the store \("
    ):
        radar.scan(as_of="2031-01-01")
    with pytest.raises(ValueError, match="'yesterday' is not an ISO 8601 time"):
        radar.memo("BTC", as_of="yesterday")
    with pytest.raises(RadarError, match=r"start 2025-10-12 00:00 UTC is after the end 2025-10-11 02:00 UTC"):
        radar.history("BTC", "2025-10-12", AS_OF)
    with pytest.raises(RadarError, match=r"a move must be non-zero and within ±50 % \(got \+5000 %\)"):
        radar.scenario("BTC", moves=[-0.02, 50.0])  # +5000 %: outside the CLI's --move range too
    with pytest.raises(RadarError, match=r"a move must be non-zero and within ±50 % \(got \+0 %\)"):
        radar.scenario("BTC", moves=[0.0])
    with pytest.raises(
        RadarError, match="no radar read as of 2020-01-01 00:00 UTC: no price history before it"
    ):
        radar.scan(as_of=datetime(2020, 1, 1))  # a naive datetime is UTC


def test_history_is_the_cli_history(radar: Radar, data_dir: Path) -> None:
    frame = radar.history("eth", "2025-10-10T12:00Z", AS_OF)
    with Store(data_dir, read_only=True) as store:
        expected = history(store, "ETH", datetime(2025, 10, 10, 12, tzinfo=UTC), WHEN)
    assert frame.equals(expected) and frame.height == 15
    assert frame["t"].min() == datetime(2025, 10, 10, 12, tzinfo=UTC) and frame["t"].max() == WHEN
    cli = cli_json(
        "history", "ETH", "--from", "2025-10-10T12:00Z", "--to", AS_OF, "--json", "--data-dir", data_dir
    )
    assert [h["lsi"] for h in cli["hours"]] == frame["lsi"].to_list()


def test_heatmap_is_the_cli_heatmap_with_frames(radar: Radar, data_dir: Path) -> None:
    hm = radar.heatmap("BTC", as_of=AS_OF, days=30, grid=True)
    cli = cli_json("heatmap", "BTC", "--as-of", AS_OF, "--days", "30", "--json", "--data-dir", data_dir)
    assert hm.to_json() == cli
    assert hm.buckets.height == len(cli["buckets"]) and hm.buckets["long_usd"].sum() == pytest.approx(
        sum(b["long_usd"] for b in cli["buckets"])
    )
    assert hm.cumulative["range_pct"].to_list() == [0.5, 1.0, 2.0, 5.0, 10.0]
    assert hm.cumulative["below_long_usd"].is_sorted()  # cumulative outward
    assert hm.nearest_below is not None and hm.nearest_below["price"] < hm.price
    assert hm.nearest_above is not None and hm.nearest_above["price"] > hm.price
    grid = hm.grid
    assert grid is not None and grid.columns == ["t", "price", "close", "long_usd", "short_usd"]
    assert grid["t"].max() == WHEN and grid["t"].min() >= WHEN - timedelta(days=30)
    assert grid.height == grid["t"].n_unique() * grid["price"].n_unique()
    last = grid.filter(pl.col("t") == WHEN)
    assert last["close"].unique().to_list() == [hm.price]
    with pytest.raises(FrozenInstanceError):
        hm.price = 0.0  # type: ignore[misc]


def test_scenario_is_the_cli_scenario(radar: Radar, data_dir: Path) -> None:
    result = radar.scenario("SOL", moves=[-0.02, 0.01], as_of=AS_OF)
    cli = cli_json(
        "scenario", "SOL", "--move", "-2%", "--move", "1%", "--as-of", AS_OF, "--json", "--data-dir", data_dir
    )
    assert result.to_json() == cli
    table = result.table
    assert table["move_pct"].to_list() == pytest.approx([-2.0, 1.0])
    assert table["forced_usd"].to_list() == [s["forced_usd"] for s in cli["scenarios"]]
    assert table["target_price"].to_list() == pytest.approx([result.price * 0.98, result.price * 1.01])


def test_memo_is_read_only_unless_asked(radar: Radar, data_dir: Path) -> None:
    def journal_rows() -> int:
        with radar._writable() as store:  # the radar's own connection is read-only
            return entries(store).height

    before = journal_rows()
    memo = radar.memo("BTC", as_of=AS_OF)
    assert memo.journal_id is None and journal_rows() == before
    cli = cli_json("memo", "BTC", "--as-of", AS_OF, "--no-journal", "--json", "--data-dir", data_dir)
    assert memo.to_json() == cli and memo.text == cli["text"] and memo.side == cli["side"]
    assert set(memo.findings["view"]) == {"derivatives", "structure", "risk", "execution"}
    assert memo.findings.filter(pl.col("id") == "funding")["text"].to_list()[0] in memo.text
    kept = radar.memo("BTC", as_of=AS_OF, journal=True)
    assert kept.journal_id is not None and journal_rows() == before + 1
    assert radar.scan(as_of=AS_OF, assets=["BTC"]).assets.height == 1  # the radar reads on after the write


def test_evaluate_returns_frames_and_saves_no_model_unless_asked(radar: Radar, data_dir: Path) -> None:
    result = radar.evaluate(["BTC"], "2025-08-01", "2025-11-01")
    assert not (data_dir / "models" / "squeeze.json").exists()
    assert result.result["model"]["models_file"] == "not written (read-only run)"
    assert result.assets == ("BTC",) and result.period[1] == datetime(2025, 11, 1, tzinfo=UTC)
    assert {"state", "group", "outcome", "effect", "low", "high", "p", "q"} <= set(result.states.columns)
    assert result.states.height == len(result.result["states"]["rows"]) > 0
    assert "2025-10-10 cascade" in result.events["event"].to_list()
    assert result.markdown().startswith("#")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hours=st.integers(min_value=0, max_value=24 * 150))
def test_any_hour_reads_point_in_time_and_the_frame_is_the_reads(radar: Radar, hours: int) -> None:
    """For any hour of the sample: nothing after it is read, and every frame row is its read, flattened."""
    when = datetime(2025, 10, 1, tzinfo=UTC) + timedelta(hours=hours)
    result = radar.scan(as_of=when)
    assert result.as_of == when and (result.assets["data_time"] <= when).all()
    assert result.assets.to_dicts() == [asset_row(result.reads[a]) for a in result.assets["asset"]]
    assert result.venues.height == sum(len(r["venues"]) for r in result.reads.values())
    assert (result.venues["symbol_unified"].str.split("/").list.first() == result.venues["asset"]).all()


@given(move=st.floats(min_value=-2.0, max_value=20.0, allow_nan=False))
def test_the_api_and_the_cli_accept_the_same_moves(move: float) -> None:
    inside = -MAX_MOVE <= move <= MAX_MOVE and move != 0
    cli_ok = api_ok = True
    try:
        _move(repr(move))
    except ValueError:
        cli_ok = False
    try:
        assert check_move(move) == move
    except RadarError:
        api_ok = False
    assert cli_ok == api_ok == inside
