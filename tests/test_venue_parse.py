"""Stream parsers on real recorded frames (tests/fixtures/ws-samples, MPL-2.0): sides, units, refusals."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.domain.records import Liquidation, MarkIndex, OpenInterest, PredictedFunding, records_frame
from levradar.venues import ParseError, parse
from levradar.venues.common import epoch_us, number

SAMPLES = Path(__file__).parent / "fixtures" / "ws-samples"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def frames(name: str) -> list[dict[str, Any]]:
    data = json.loads((SAMPLES / name).read_text())
    assert isinstance(data, list)
    return data


def find(name: str, needle: str) -> dict[str, Any]:
    return next(f for f in frames(name) if needle in json.dumps(f))


def test_binance_force_order_sell_side_semantics() -> None:
    msg = find("binance-futures.json", "forceOrder")
    (liq,) = parse("binance", msg, NOW)
    assert isinstance(liq, Liquidation)
    assert msg["data"]["o"]["S"] == "BUY"  # a forced BUY closes a short
    assert liq.liquidated_side == "short"
    assert liq.qty_base == 0.014 and liq.price == 4706.04  # filled quantity at the average price
    assert liq.sampled is True and liq.ts == datetime(2020, 3, 13, 0, 23, 51, 421000, tzinfo=UTC)
    sell = json.loads(json.dumps(msg).replace('"S": "BUY"', '"S": "SELL"'))
    assert parse("binance", sell, NOW)[0].liquidated_side == "long"  # type: ignore[attr-defined]


def test_binance_mark_price_keeps_mark_index_and_the_predicted_rate_apart_from_settlements() -> None:
    msg = find("binance-futures.json", '"i": "11851')
    mark, predicted = parse("binance", msg, NOW)
    assert isinstance(mark, MarkIndex) and isinstance(predicted, PredictedFunding)
    assert (mark.mark, mark.index) == (11857.56, 11851.86949091)
    assert mark.basis == pytest.approx(11857.56 / 11851.86949091 - 1)
    # r is the coming settlement's rate at T, not a settlement: its own dataset, the interval left unsaid
    assert predicted.rate == 0.0001564 and predicted.dataset_name == "predicted_funding"
    assert predicted.settles_at == datetime(2020, 8, 16, 8, tzinfo=UTC) and predicted.interval_hours is None
    assert predicted.ts == mark.ts


def test_bybit_all_liquidation_is_the_position_side() -> None:
    msg = frames("bybit-allLiquidation.json")[0]
    (liq,) = parse("bybit", msg, NOW)
    assert isinstance(liq, Liquidation)
    assert msg["data"][0]["S"] == "Sell"  # Bybit: Sell = a short position was liquidated
    assert liq.liquidated_side == "short" and liq.qty_base == 2846.0 and liq.price == 0.02456
    assert liq.sampled is False and liq.symbol == "PIPPINUSDT"


def test_bybit_linear_ticker_gives_mark_index_and_coin_oi() -> None:
    msg = find("bybit-v5.json", '"topic": "tickers.BTCUSDT"')
    mark, oi, predicted = parse("bybit", msg, NOW)
    assert (
        isinstance(mark, MarkIndex)
        and isinstance(oi, OpenInterest)
        and isinstance(predicted, PredictedFunding)
    )
    assert (mark.mark, mark.index) == (28552.81, 28562.25)
    assert (
        predicted.rate == float(msg["data"]["fundingRate"]) and predicted.ts == mark.ts
    )  # the current period's
    assert predicted.settles_at == datetime.fromtimestamp(int(msg["data"]["nextFundingTime"]) / 1000, tz=UTC)
    assert oi.raw_unit == "coin" and oi.oi_base == 52774.528
    assert oi.oi_usd == pytest.approx(52774.528 * 28552.81)


@pytest.mark.parametrize(
    "needle", ['"topic": "tickers.BTCUSD"', '"topic": "tickers.BTCUSDU23"', "liquidation.XRPUSD"]
)
def test_bybit_inverse_and_dated_contracts_are_refused(needle: str) -> None:
    with pytest.raises(ParseError, match="not a linear USDT/USDC perpetual"):
        parse("bybit", find("bybit-v5.json", needle), NOW)


def test_okx_liquidation_orders_use_pos_side_and_contract_value() -> None:
    msg = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "details": [
                    {"bkPx": "65000.1", "posSide": "long", "side": "sell", "sz": "12", "ts": "1709553600000"},
                    {"bkPx": "66000", "posSide": "short", "side": "buy", "sz": "3.5", "ts": "1709553601000"},
                ],
            }
        ],
    }  # the shape of the recorded futures frame below, on a swap (no swap frame is in the samples)
    long_liq, short_liq = parse("okx", msg, NOW)
    assert long_liq.liquidated_side == "long" and short_liq.liquidated_side == "short"  # type: ignore[attr-defined]
    assert long_liq.qty_base == pytest.approx(0.12) and short_liq.qty_base == pytest.approx(0.035)  # type: ignore[attr-defined]
    assert long_liq.sampled is True  # type: ignore[attr-defined]
    assert records_frame([long_liq, short_liq], source="t")["notional_usd"].to_list() == pytest.approx(
        [0.12 * 65000.1, 0.035 * 66000]
    )


def test_okx_recorded_futures_liquidations_are_refused_not_misread() -> None:
    msg = find("okex-futures-v5.json", "liquidation-orders")
    with pytest.raises(ParseError, match="not a perpetual swap"):
        parse("okx", msg, NOW)


def test_okx_unknown_contract_value_is_refused() -> None:
    msg = {
        "arg": {"channel": "liquidation-orders"},
        "data": [
            {"instId": "WNCG-USDT-SWAP", "details": [{"bkPx": "2", "posSide": "long", "sz": "1", "ts": "1"}]}
        ],
    }
    with pytest.raises(ParseError, match="contract value"):
        parse("okx", msg, NOW)


def test_okx_message_with_one_unknown_instrument_keeps_the_others() -> None:
    msg = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [
            {
                "instId": "WNCG-USDT-SWAP",
                "details": [{"bkPx": "2", "posSide": "long", "sz": "1", "ts": "1700000000000"}],
            },
            {
                "instId": "BTC-USDT-SWAP",
                "details": [{"bkPx": "65000", "posSide": "short", "sz": "2", "ts": "1700000000001"}],
            },
        ],
    }
    with pytest.raises(ParseError, match="1 item") as info:
        parse("okx", msg, NOW)
    (btc,) = info.value.records
    assert (
        isinstance(btc, Liquidation) and btc.symbol == "BTC-USDT-SWAP" and btc.qty_base == pytest.approx(0.02)
    )
    # with the synced instrument list, the contract value is known and both are read
    wncg, btc = parse("okx", msg, NOW, {"WNCG": 10.0, "BTC": 0.01})
    assert wncg.qty_base == 10.0 and btc.qty_base == pytest.approx(0.02)  # type: ignore[attr-defined]


def test_okx_swap_open_interest_mark_and_index() -> None:
    out = [r for m in frames("okex-swap-v5.json") for r in parse("okx", m, NOW)]
    oi = [r for r in out if isinstance(r, OpenInterest)]
    marks = [r for r in out if isinstance(r, MarkIndex)]
    assert len(oi) == 1 and oi[0].raw_unit == "contracts" and oi[0].oi_base == 644195.0
    assert {(m.mark, m.index) for m in marks} == {(2.1729, None), (None, 2.1675)}
    assert {m.symbol for m in marks} == {"WNCG-USDT-SWAP"}
    (predicted,) = [r for r in out if isinstance(r, PredictedFunding)]  # the frame carrying fundingRate
    assert predicted.rate == 0.00048105 and predicted.symbol == "WNCG-USDT-SWAP"
    assert predicted.settles_at == datetime(2021, 12, 22, tzinfo=UTC) and predicted.interval_hours is None


def test_hyperliquid_asset_context() -> None:
    mark, oi, predicted = parse("hyperliquid", frames("hyperliquid.json")[0], NOW)
    assert (
        isinstance(mark, MarkIndex)
        and isinstance(oi, OpenInterest)
        and isinstance(predicted, PredictedFunding)
    )
    assert (
        predicted.rate == 0.00004863 and predicted.interval_hours == 1.0
    )  # hourly, paid at the next full hour
    assert predicted.settles_at == NOW.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert (mark.mark, mark.index) == (0.19963, 0.1995) and mark.ts == NOW
    assert oi.oi_base == 18617460.0 and oi.oi_usd == pytest.approx(18617460.0 * 0.19963)


@pytest.mark.parametrize(
    ("venue", "msg", "field"),
    [
        (
            "binance",
            {
                "data": {
                    "e": "forceOrder",
                    "o": {"s": "BTCUSDT", "S": "SELL", "q": "x", "p": "1", "T": 1700000000000},
                }
            },
            "q",
        ),
        (
            "binance",
            {
                "data": {
                    "e": "forceOrder",
                    "o": {"s": "BTCUSDT", "S": "HOLD", "q": "1", "p": "1", "T": 1700000000000},
                }
            },
            "S",
        ),
        (
            "bybit",
            {
                "topic": "allLiquidation.BTCUSDT",
                "data": [{"s": "BTCUSDT", "S": "Buy", "v": "1", "T": 1700000000000}],
            },
            "p",
        ),
        ("bybit", {"topic": "allLiquidation.BTCUSDT", "data": {"s": "BTCUSDT"}}, "data"),
        (
            "okx",
            {
                "arg": {"channel": "mark-price"},
                "data": [{"instId": "BTC-USDT-SWAP", "markPx": "NaN", "ts": "1700000000000"}],
            },
            "markPx",
        ),
        ("hyperliquid", {"channel": "activeAssetCtx", "data": {"coin": "BTC"}}, "data.ctx"),
        ("kraken", {}, "venue"),
    ],
)
def test_malformed_messages_name_venue_and_field(venue: str, msg: dict[str, Any], field: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(venue, msg, NOW)
    assert err.value.field == field and str(err.value).startswith(f"{venue}: {field}:")


def test_messages_without_records_give_none() -> None:
    assert parse("okx", {"event": "subscribe", "arg": {"channel": "tickers"}}, NOW) == []
    assert parse("bybit", {"op": "pong"}, NOW) == []
    assert parse("hyperliquid", {"channel": "subscriptionResponse"}, NOW) == []


def test_identical_fills_in_one_message_are_numbered_but_a_redelivery_is_not() -> None:
    msg = frames("bybit-allLiquidation.json")[0]
    twice = {**msg, "data": [msg["data"][0], msg["data"][0]]}
    first, second = parse("bybit", twice, NOW)
    assert (first.seq, second.seq) == (0, 1)  # type: ignore[attr-defined]
    (again,) = parse("bybit", msg, NOW)  # the same fill in another message (a re-delivery)
    assert again.seq == 0  # type: ignore[attr-defined]
    assert records_frame([first, second, again], source="t")["seq"].to_list() == [0, 1, 0]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON | st.from_regex(r"\A[+-]?[0-9٠-٩_.eE]{1,12}\Z"))
def test_a_number_field_is_a_plain_finite_number_or_a_parse_error(value: object) -> None:
    """Whatever a venue puts in a number field, the result is a finite float of a physical magnitude or a
    ParseError naming the field — never another exception, never True as 1.0, Unicode digits or "1_000"."""
    try:
        got = number("bybit", {"v": value}, "v")
    except ParseError as exc:
        assert exc.field == "v"
        return
    assert math.isfinite(got) and abs(got) <= 1e18
    assert not isinstance(value, bool)
    assert isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().isascii() and "_" not in value
    )


@settings(max_examples=300, deadline=None)
@given(
    ms=st.integers(0, 5 * 10**12) | st.integers(0, 10**20),
    spelling=st.sampled_from(["int", "str", "float", "float str"]),
)
def test_a_time_reads_the_same_however_it_is_spelled(ms: int, spelling: str) -> None:
    """Epoch milliseconds as a JSON integer, a string of digits or a float give the same microseconds, or the same
    refusal (the quick paths for integers and digit strings agree with the general one)."""
    value = {"int": ms, "str": str(ms), "float": float(ms), "float str": f"{float(ms)!r}"}[spelling]

    def read(raw: object) -> int | str:
        try:
            return epoch_us("bybit", {"T": raw}, "T")
        except ParseError as exc:
            return exc.field

    general = read(float(ms))
    assert read(value) == general
    if general != "T":
        assert general == ms * 1000 and datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=general
        ) == (datetime.fromtimestamp(ms / 1000.0, tz=UTC))
