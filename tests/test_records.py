"""Typed domain records: validation, side semantics, canonical rows."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from levradar.domain.datasets import DATASETS
from levradar.domain.records import (
    Candle,
    FundingSettlement,
    Liquidation,
    MarkIndex,
    OpenInterest,
    RecordError,
    records_frame,
)

T = datetime(2025, 10, 10, 21, tzinfo=UTC)


def test_liquidated_side_comes_from_the_forced_order_side() -> None:
    assert Liquidation.side_from_order("SELL") == "long"
    assert Liquidation.side_from_order("buy") == "short"
    with pytest.raises(RecordError):
        Liquidation.side_from_order("S?")


def test_liquidation_rejects_order_side_words_and_bad_numbers() -> None:
    with pytest.raises(RecordError, match="liquidated_side"):
        Liquidation("binance", "BTCUSDT", T, "sell", 60_000.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="price"):
        Liquidation("binance", "BTCUSDT", T, "long", float("nan"), 1.0)
    with pytest.raises(RecordError, match="qty_base"):
        Liquidation("binance", "BTCUSDT", T, "long", 60_000.0, 0.0)


def test_records_need_aware_timestamps_and_are_normalised_to_utc() -> None:
    with pytest.raises(RecordError, match="timezone"):
        FundingSettlement("binance", "BTCUSDT", datetime(2025, 1, 1), 0.0001, 8)
    from zoneinfo import ZoneInfo

    local = datetime(2025, 1, 1, 11, tzinfo=ZoneInfo("Europe/Istanbul"))  # UTC+3
    assert FundingSettlement("binance", "BTCUSDT", local, 0.0001, 8).ts == datetime(2025, 1, 1, 8, tzinfo=UTC)


def test_candle_checks_interval_and_ohlc_consistency() -> None:
    Candle("bybit", "BTCUSDT", "1h", T, 100.0, 110.0, 90.0, 105.0)
    with pytest.raises(RecordError, match="interval"):
        Candle("bybit", "BTCUSDT", "7h", T, 100.0, 110.0, 90.0, 105.0)
    with pytest.raises(RecordError, match="enclose"):
        Candle("bybit", "BTCUSDT", "1h", T, 100.0, 101.0, 90.0, 105.0)


def test_open_interest_from_contracts_and_coin() -> None:
    okx = OpenInterest.from_raw(
        "okx", "BTC-USDT-SWAP", T, 2_000_000.0, "contracts", price=60_000.0, contract_size=0.01
    )
    assert okx.oi_base == pytest.approx(20_000.0)
    assert okx.oi_usd == pytest.approx(1.2e9)
    bybit = OpenInterest.from_raw("bybit", "BTCUSDT", T, 50_000.0, "coin")
    assert bybit.oi_base == 50_000.0 and bybit.oi_usd is None
    with pytest.raises(ValueError, match="contract size"):
        OpenInterest.from_raw("okx", "BTC-USDT-SWAP", T, 10.0, "contracts", price=60_000.0)


def test_basis_and_rate_8h() -> None:
    assert MarkIndex("binance", "BTCUSDT", T, 101.0, 100.0).basis == pytest.approx(0.01)
    assert MarkIndex("binance", "BTCUSDT", T, 101.0, None).basis is None
    assert FundingSettlement("hyperliquid", "BTC", T, 0.0000125, 1).rate_8h == pytest.approx(0.0001)


def test_records_frame_is_canonical_and_writes(tmp_path: object) -> None:
    fills = [
        Liquidation(
            "okx", "BTC/USDT:USDT", T, Liquidation.side_from_order("sell"), 60_000.0, 0.5, sampled=True
        ),
        Liquidation("okx", "BTC-USDT-SWAP", T, "short", 61_000.0, 0.25, sampled=True),
    ]
    frame = records_frame(fills, source="test")
    assert frame.columns == list(DATASETS["liquidations"].columns)
    assert frame["symbol"].to_list() == ["BTC-USDT-SWAP", "BTC-USDT-SWAP"]
    assert frame["asset"].unique().to_list() == ["BTC"]
    assert frame["notional_usd"].to_list() == [30_000.0, 15_250.0]
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    with pytest.raises(RecordError, match="several types"):
        records_frame([fills[0], MarkIndex("okx", "BTC-USDT-SWAP", T, 1.0, 1.0)], source="x")
