"""A store with only coarse candles (Binance's real 8h klines of perp-panels) still runs the radar."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levradar.analytics.scan import LIQUIDATION_UNAVAILABLE, newest_time, scan
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.store import Store

PANELS = Path(__file__).parent / "fixtures" / "perp-panels"


@pytest.fixture(scope="module")
def store_8h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("eight")
    for part in ("binance_ohlcv_8h", "binance_funding"):
        (root / "src" / part).mkdir(parents=True)
        shutil.copy(PANELS / part / "BTCUSDT.parquet", root / "src" / part / "BTCUSDT.parquet")
    with Store(root / "store") as store:
        import_source(store, "perp-panels", root / "src")
        assert store.read("candles")["interval"].unique().to_list() == ["8h"]
        yield store


def test_the_default_as_of_is_the_last_8h_close(store_8h: Store) -> None:
    last_open = store_8h.read("candles")["ts"].max()
    assert isinstance(last_open, datetime)
    assert newest_time(store_8h) == last_open + timedelta(hours=8)


def test_scan_reads_8h_bars(store_8h: Store) -> None:
    as_of = newest_time(store_8h)
    assert as_of is not None
    (btc,) = scan(store_8h, as_of)
    bars = store_8h.read("candles").sort("ts")
    closes = dict(zip((bars["ts"] + timedelta(hours=8)).to_list(), bars["close"].to_list(), strict=True))
    assert btc["data_time"] == as_of and btc["price"] == pytest.approx(closes[as_of])
    assert btc["returns"]["ret_24h"] == pytest.approx(closes[as_of] / closes[as_of - timedelta(hours=24)] - 1)
    assert btc["returns"]["ret_4h"] is None  # no bar closes 4 h earlier
    # realised volatility from 8h returns scaled to one hour: the same unit as from 1h bars
    day = [closes[as_of - timedelta(hours=h)] for h in (24, 16, 8, 0)]
    per_hour = [math.log(b / a) / math.sqrt(8) for a, b in pairwise(day)]
    mean = sum(per_hour) / 3
    rv = math.sqrt(sum((x - mean) ** 2 for x in per_hour) / 2) * math.sqrt(24 * 365)
    assert btc["volatility"]["rv_24h"] == pytest.approx(rv, rel=1e-3)
    assert btc["funding"]["rate_8h"] is not None
    assert btc["liquidation"]["status"] == LIQUIDATION_UNAVAILABLE
    assert btc["coverage"]["status"] == "complete" and btc["coverage"]["venues"] == ["binance"]


def test_between_two_closes_the_reading_is_the_last_close(store_8h: Store) -> None:
    as_of = newest_time(store_8h)
    assert as_of is not None
    (btc,) = scan(store_8h, as_of - timedelta(hours=3))
    assert btc["data_time"] == as_of - timedelta(hours=8)
    assert btc["coverage"]["status"] == "stale" and btc["coverage"]["behind_h"] == 5.0


def test_a_store_without_candles_says_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "src" / "binance_funding"
    root.mkdir(parents=True)
    shutil.copy(PANELS / "binance_funding" / "BTCUSDT.parquet", root / "BTCUSDT.parquet")
    with Store(tmp_path / "store") as store:
        import_source(store, "perp-panels", tmp_path / "src")
        assert store.read("candles").is_empty() and not store.read("funding").is_empty()
    result = CliRunner().invoke(app, ["scan", "--data-dir", str(tmp_path / "store")])
    assert result.exit_code == 2
    assert "the store holds no 1h, 4h, 8h or 1d candles" in result.output
