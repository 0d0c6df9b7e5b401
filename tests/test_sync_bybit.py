"""`levradar sync --venues bybit` against a real HTTP server on 127.0.0.1.

No recorded Bybit REST response exists in the shared data, so the server answers in the response shape of Bybit's
v5 documentation (``{"retCode": 0, "result": {"list": [...], "nextPageCursor": ...}}``, newest first), filled with
REAL Bybit values from the fixtures: BTCUSDT funding settlements and 1h candles of 2025-10-08..12
(multivenue-2025) and hourly open interest of 2021-05-15..25 (perp-panels bybit_oi_hourly).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from levradar.ingest.sync import LISTERS, sync
from levradar.net.http import HttpClient, RetryPolicy
from levradar.store import Store
from levradar.venues.bybit import rest as bybit_rest
from tests.http_replay import JsonHandler, serve

FIX = Path(__file__).parent / "fixtures"
MS = 1000


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * MS)


FUNDING = (
    pl.read_parquet(FIX / "multivenue-2025" / "funding_rates.parquet")
    .filter((pl.col("venue") == "bybit") & (pl.col("coin") == "BTC"))
    .sort("timestamp")
)
CANDLES = (
    pl.read_parquet(FIX / "multivenue-2025" / "candles.parquet")
    .filter((pl.col("venue") == "bybit") & (pl.col("coin") == "BTC"))
    .sort("timestamp")
)
OI = pl.read_parquet(FIX / "perp-panels" / "bybit_oi_hourly" / "BTCUSDT.parquet").sort("datetime")


ACCOUNT_RATIO = [
    {"symbol": "BTCUSDT", "buyRatio": "0.49", "sellRatio": "0.51", "timestamp": "1696262400000"},
    {"symbol": "BTCUSDT", "buyRatio": "0.4927", "sellRatio": "0.5073", "timestamp": "1696258800000"},
]


class Bybit(JsonHandler):
    calls: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        path, q = self.route()
        Bybit.calls.append((path, q))
        if path == "/v5/market/instruments-info" and "symbol" not in q:  # the listing, two pages
            page = [
                [
                    {
                        "symbol": "BTCUSDT",
                        "baseCoin": "BTC",
                        "quoteCoin": "USDT",
                        "contractType": "LinearPerpetual",
                        "status": "Trading",
                    }
                ],
                [
                    {
                        "symbol": "BTC-27DEC24",
                        "baseCoin": "BTC",
                        "quoteCoin": "USDC",
                        "contractType": "LinearFutures",
                        "status": "Trading",
                    },
                    {
                        "symbol": "ETHUSDT",
                        "baseCoin": "ETH",
                        "quoteCoin": "USDT",
                        "contractType": "LinearPerpetual",
                        "status": "Trading",
                    },
                ],
            ][int(q.get("cursor", "0"))]
            return self._list(page, "" if q.get("cursor") else "1")
        if q.get("symbol") != "BTCUSDT" or q.get("category") != "linear":
            return self.send_json({"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}})
        limit = int(q.get("limit", "1000"))
        if path == "/v5/market/funding/history":
            rows = [
                {"symbol": "BTCUSDT", "fundingRate": str(r), "fundingRateTimestamp": str(_ms(t))}
                for t, r in FUNDING.select("timestamp", "funding_rate").iter_rows()
                if int(q["startTime"]) <= _ms(t) <= int(q["endTime"])
            ]
            return self._list(rows[::-1][:limit])
        if path == "/v5/market/kline":
            rows = [
                [str(_ms(t)), str(o), str(h), str(lo), str(c), str(v), str(v * c)]
                for t, o, h, lo, c, v in CANDLES.select("timestamp", "o", "h", "l", "c", "v").iter_rows()
                if int(q["start"]) <= _ms(t) <= int(q["end"])
            ]
            return self._list(rows[::-1][:limit])
        if path == "/v5/market/instruments-info":  # the example of Bybit's documentation
            return self._list(
                [
                    {
                        "symbol": "BTCUSDT",
                        "contractType": "LinearPerpetual",
                        "status": "Trading",
                        "baseCoin": "BTC",
                        "quoteCoin": "USDT",
                        "fundingInterval": 480,
                    }
                ]
            )
        if path == "/v5/market/risk-limit":  # the first two tiers of Bybit's documentation example
            return self._list(
                [
                    {
                        "id": 1,
                        "symbol": "BTCUSDT",
                        "riskLimitValue": "2000000",
                        "maintenanceMargin": "0.005",
                        "initialMargin": "0.01",
                        "isLowestRisk": 1,
                        "maxLeverage": "100.00",
                        "mmDeduction": "0",
                    },
                    {
                        "id": 2,
                        "symbol": "BTCUSDT",
                        "riskLimitValue": "2600000",
                        "maintenanceMargin": "0.0055",
                        "initialMargin": "0.0105",
                        "isLowestRisk": 0,
                        "maxLeverage": "95.23",
                        "mmDeduction": "1000",
                    },
                ]
            )
        if path in ("/v5/market/mark-price-kline", "/v5/market/index-price-kline"):
            return self._list([])  # no real Bybit mark or index price is in the shared data
        if path == "/v5/market/open-interest":
            rows = [
                {"openInterest": str(v), "timestamp": str(_ms(t))}
                for v, t in OI.select("open_interest", "datetime").iter_rows()
                if int(q["startTime"]) <= _ms(t) <= int(q["endTime"])
            ][::-1]
            offset = int(q.get("cursor", "0"))
            page = rows[offset : offset + limit]
            more = offset + limit < len(rows)
            return self._list(page, str(offset + limit) if more else "")
        if (
            path == "/v5/market/account-ratio"
        ):  # Bybit's documentation example: no real ratio is in the shared data
            assert q["period"] == "1h"
            rows = [
                r for r in ACCOUNT_RATIO if int(q["startTime"]) <= int(r["timestamp"]) <= int(q["endTime"])
            ]
            offset = int(q.get("cursor", "0"))
            more = offset + 1 < len(rows)  # one row per page: the cursor is followed
            return self._list(rows[offset : offset + 1], str(offset + 1) if more else "")
        return self.send_json({"retCode": 10404, "retMsg": "not found", "result": {}})

    def _list(self, rows: list[Any], cursor: str = "") -> None:
        self.send_json(
            {
                "retCode": 0,
                "retMsg": "OK",
                "result": {"category": "linear", "list": rows, "nextPageCursor": cursor},
            }
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    Bybit.calls = []
    # small pages, so that paging is exercised on a few days of real data
    monkeypatch.setattr(bybit_rest, "BYBIT_FUNDING_PAGE", 4)
    monkeypatch.setattr(bybit_rest, "BYBIT_KLINE_PAGE", 40)
    monkeypatch.setattr(bybit_rest, "BYBIT_OI_PAGE", 50)
    with serve(Bybit, monkeypatch, "bybit") as url:
        yield url


def test_bybit_backfill_pages_every_dataset(server: str, tmp_path: Path) -> None:
    since, until = datetime(2021, 5, 1, tzinfo=UTC), datetime(2025, 10, 13, tzinfo=UTC)
    with Store(tmp_path) as store:
        (summary,) = sync(
            store, ["bybit"], ["BTC"], since, until, policy=RetryPolicy(attempts=2), sleep=lambda s: None
        )
        funding = store.read("funding", venues=["bybit"])
        candles = store.read("candles", venues=["bybit"], interval="1h")
        oi = store.read("open_interest", venues=["bybit"])
        ratios = store.read("long_short_ratio", venues=["bybit"])
        instrument = store.instruments().filter(pl.col("venue") == "bybit").row(0, named=True)
    assert summary.ok, summary.error
    assert ratios["ts"].to_list() == [
        datetime(2023, 10, 2, 15, tzinfo=UTC),
        datetime(2023, 10, 2, 16, tzinfo=UTC),
    ]
    assert set(ratios["kind"]) == {"accounts"} and ratios["long_share"].to_list() == [0.4927, 0.49]
    assert ratios["ratio"].to_list() == pytest.approx([0.4927 / 0.5073, 0.49 / 0.51])
    assert funding.height == FUNDING.height and set(funding["interval_hours"]) == {8.0}
    assert funding["rate"].to_list() == FUNDING["funding_rate"].to_list()
    assert candles.height == CANDLES.height and candles["close"].to_list() == CANDLES["c"].to_list()
    # Bybit's figure counts both sides: stored one-sided, the venue's figure kept
    assert oi.height == OI.height and oi["raw_value"].to_list() == OI["open_interest"].to_list()
    assert oi["oi_base"].to_list() == [v / 2 for v in OI["open_interest"].to_list()]
    assert set(oi["raw_sides"]) == {2}
    assert instrument["funding_interval_hours"] == 8.0 and instrument["contract_unit"] == "coin"
    tiers = json.loads(instrument["tiers_json"])
    assert [t["mmr"] for t in tiers] == [0.005, 0.0055] and tiers[1]["maintenance_amount_usd"] == 1000.0
    paths = [p for p, _ in Bybit.calls]
    assert (
        paths.count("/v5/market/funding/history") == FUNDING.height // 4 + 1
    )  # paged backwards by oldest time
    assert paths.count("/v5/market/open-interest") == -(-OI.height // 50)  # cursor pages


def test_bybit_api_errors_are_reported_per_venue(server: str, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        (summary,) = sync(
            store,
            ["bybit"],
            ["NOPE"],
            datetime(2025, 10, 8, tzinfo=UTC),
            datetime(2025, 10, 9, tzinfo=UTC),
            sleep=lambda s: None,
        )
    assert not summary.ok and "symbol invalid" in (summary.error or "")


def test_listing_follows_the_cursor_and_keeps_usdt_perpetuals(server: str) -> None:
    client = HttpClient("bybit", server, RetryPolicy(attempts=1), sleep=lambda s: None)
    assert LISTERS["bybit"](client) == ["BTC", "ETH"]
