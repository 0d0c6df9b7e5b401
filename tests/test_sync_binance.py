"""`levradar sync --venues binance` against a real HTTP server on 127.0.0.1.

No recorded Binance REST response is in the shared data: the server answers in the shapes of Binance's USDⓈ-M
documentation (fundingRate objects, kline arrays, openInterestHist objects; ascending), filled with REAL Binance
values: SOLUSDT funding settlements of 2022-11-01..25 (4h then 2h settlements during the FTX crash) and SOLUSDT
1h candles and mark prices of 2022-11-07..20 (perp-panels fixtures). The single OI-history row is the example of
Binance's docs; no real index price exists in the shared data, so the index klines come back empty.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest

from levradar.domain.funding import interval_changes
from levradar.ingest.sync import sync
from levradar.net.http import HttpClient
from levradar.store import Store
from levradar.venues.binance import rest as binance_rest
from tests.http_replay import JsonHandler, serve

FIX = Path(__file__).parent / "fixtures" / "perp-panels"
FUNDING = pl.read_parquet(FIX / "binance_funding" / "SOLUSDT.parquet").sort("datetime")
PANEL = pl.read_parquet(FIX / "hourly_panels" / "binance_SOL_2020-08-11_2026-03-06.parquet").drop_nulls(
    "close_perp_binance"
)
DOC_OI = {"symbol": "SOLUSDT", "sumOpenInterest": "20403.637", "sumOpenInterestValue": "150570784.07"}


DOC_RATIO = {"symbol": "SOLUSDT", "longAccount": "0.6617", "shortAccount": "0.3383"}
RATIO_PATHS = [
    "/futures/data/globalLongShortAccountRatio",
    "/futures/data/topLongShortAccountRatio",
    "/futures/data/topLongShortPositionRatio",
]


def _ms(ts: datetime) -> int:
    return int(ts.replace(tzinfo=ts.tzinfo or UTC).timestamp() * 1000)


class Binance(JsonHandler):
    calls: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        path, q = self.route()
        Binance.calls.append((path, q))
        if path == "/fapi/v1/fundingInfo":  # the shape of Binance's documentation: adjusted symbols only
            return self.send_json(
                [
                    {
                        "symbol": "SOLUSDT",
                        "adjustedFundingRateCap": "0.02500000",
                        "adjustedFundingRateFloor": "-0.02500000",
                        "fundingIntervalHours": 4,
                        "disclaimer": False,
                    }
                ]
            )
        if path == "/fapi/v1/exchangeInfo":  # documented shape: a perpetual, a dated future, a USDC perpetual
            return self.send_json(
                {
                    "symbols": [
                        {
                            "symbol": "SOLUSDT",
                            "baseAsset": "SOL",
                            "quoteAsset": "USDT",
                            "contractType": "PERPETUAL",
                            "status": "TRADING",
                        },
                        {
                            "symbol": "BTCUSDT_250328",
                            "baseAsset": "BTC",
                            "quoteAsset": "USDT",
                            "contractType": "CURRENT_QUARTER",
                            "status": "TRADING",
                        },
                        {
                            "symbol": "ETHUSDC",
                            "baseAsset": "ETH",
                            "quoteAsset": "USDC",
                            "contractType": "PERPETUAL",
                            "status": "TRADING",
                        },
                        {
                            "symbol": "LUNAUSDT",
                            "baseAsset": "LUNA",
                            "quoteAsset": "USDT",
                            "contractType": "PERPETUAL",
                            "status": "SETTLING",
                        },
                    ]
                }
            )
        if q.get("symbol", q.get("pair")) != "SOLUSDT":
            return self.send_json(status=400, body={"code": -1121, "msg": "Invalid symbol."})
        lo, hi, limit = int(q["startTime"]), int(q["endTime"]), int(q["limit"])
        if path == "/fapi/v1/fundingRate":
            rows = [
                {"symbol": "SOLUSDT", "fundingTime": _ms(t), "fundingRate": f"{r:.8f}", "markPrice": "0"}
                for r, t in FUNDING.select("funding_rate", "datetime").iter_rows()
                if lo <= _ms(t) <= hi
            ]
            return self.send_json(status=200, body=rows[:limit])
        if path == "/fapi/v1/klines":
            cols = ["timestamp", *(f"{k}_perp_binance" for k in ("open", "high", "low", "close", "volume"))]
            rows = [
                [
                    _ms(t),
                    str(o),
                    str(h),
                    str(lw),
                    str(c),
                    str(v),
                    _ms(t) + 3_599_999,
                    str(v * c),
                    0,
                    "0",
                    "0",
                    "0",
                ]
                for t, o, h, lw, c, v in PANEL.select(cols).iter_rows()
                if lo <= _ms(t) <= hi
            ]
            return self.send_json(status=200, body=rows[:limit])
        if path == "/fapi/v1/markPriceKlines":
            marks = (
                PANEL.drop_nulls("mark_price_binance").select("timestamp", "mark_price_binance").iter_rows()
            )
            rows = [[_ms(t), str(m), str(m), str(m), str(m), "0", _ms(t) + 3_599_999] for t, m in marks]
            return self.send_json(status=200, body=[r for r in rows if lo <= r[0] <= hi][:limit])
        if path == "/fapi/v1/indexPriceKlines":
            return self.send_json(status=200, body=[])  # no real index price is in the shared data
        if path == "/futures/data/openInterestHist":
            t = _ms(datetime(2022, 11, 15, tzinfo=UTC))
            return self.send_json(status=200, body=[{**DOC_OI, "timestamp": t}] if lo <= t <= hi else [])
        if (
            path in RATIO_PATHS
        ):  # the example row of Binance's documentation, once per path, at 2022-11-15 00:00
            t = _ms(datetime(2022, 11, 15, tzinfo=UTC))
            row = {**DOC_RATIO, "timestamp": t, "longShortRatio": str(RATIO_PATHS.index(path) + 1.9559)}
            return self.send_json(status=200, body=[row] if lo <= t <= hi else [])
        return self.send_json(status=404, body={"code": -1, "msg": "not found"})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    Binance.calls = []
    monkeypatch.setattr(binance_rest, "BINANCE_FUNDING_PAGE", 25)
    monkeypatch.setattr(binance_rest, "BINANCE_KLINE_PAGE", 100)
    with serve(Binance, monkeypatch, "binance") as url:
        yield url


def test_funding_paged_by_last_settlement_keeps_every_2h_settlement(server: str, tmp_path: Path) -> None:
    since, until = datetime(2022, 10, 1, tzinfo=UTC), datetime(2022, 11, 26, tzinfo=UTC)
    with Store(tmp_path) as store:
        (summary,) = sync(store, ["binance"], ["SOL"], since, until, sleep=lambda s: None)
        funding = store.read("funding", venues=["binance"])
        candles = store.read("candles", venues=["binance"], interval="1h")
        oi = store.read("open_interest", venues=["binance"])
        mark_index = store.read("mark_index", venues=["binance"])
        ratios = store.read("long_short_ratio", venues=["binance"])
        instrument = store.instruments().filter(pl.col("venue") == "binance").row(0, named=True)
    assert summary.ok, summary.error
    assert instrument["funding_interval_hours"] == 4.0  # from fundingInfo
    assert ratios["kind"].to_list() == ["accounts", "top_accounts", "top_positions"]
    assert ratios["ratio"].to_list() == pytest.approx([1.9559, 2.9559, 3.9559]) and set(
        ratios["long_share"]
    ) == {0.6617}
    stats_starts = {int(q["startTime"]) for p, q in Binance.calls if p in RATIO_PATHS}
    assert stats_starts == {_ms(until - timedelta(days=30))}  # Binance keeps 30 days of trading statistics
    assert funding.height == FUNDING.height  # no settlement lost across pages, 2h era included
    changes = [
        (c.ts, c.from_hours, c.to_hours) for c in interval_changes(funding.select("ts", "interval_hours"))
    ]
    assert changes == [
        (datetime(2022, 11, 9, 20, tzinfo=UTC), 8.0, 4.0),
        (datetime(2022, 11, 10, 6, tzinfo=UTC), 4.0, 2.0),
        (datetime(2022, 11, 19, tzinfo=UTC), 2.0, 8.0),  # past-only: the second 8 h step confirms 8 h
    ]
    calls = [q for p, q in Binance.calls if p == "/fapi/v1/fundingRate"]
    assert len(calls) == FUNDING.height // 25 + 1
    assert (
        int(calls[1]["startTime"]) == _ms(FUNDING["datetime"][24]) + 1
    )  # the page after the last settlement
    assert (
        candles.height == PANEL.height and candles["close"].to_list() == PANEL["close_perp_binance"].to_list()
    )
    assert oi.height == 1 and oi["oi_base"][0] == 20403.637 and oi["oi_usd"][0] == 150570784.07
    assert oi["usd_method"][0] == "venue"
    marks = PANEL.drop_nulls("mark_price_binance")
    assert mark_index.height == marks.height and mark_index["index"].null_count() == mark_index.height
    first = mark_index.row(0, named=True)  # the close of the mark kline that ends at ts
    assert first["ts"] == marks["timestamp"][0].replace(tzinfo=UTC) + timedelta(hours=1)
    assert first["mark"] == marks["mark_price_binance"][0]


def test_binance_errors_are_reported(server: str, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        (summary,) = sync(
            store,
            ["binance"],
            ["NOPE"],
            datetime(2022, 11, 1, tzinfo=UTC),
            datetime(2022, 11, 2, tzinfo=UTC),
            sleep=lambda s: None,
        )
    assert (
        not summary.ok and "HTTP 400" in (summary.error or "") and "Invalid symbol" in (summary.error or "")
    )


def test_all_means_every_trading_usdt_perpetual(server: str, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        (summary,) = sync(
            store,
            ["binance"],
            None,
            datetime(2022, 11, 20, tzinfo=UTC),
            datetime(2022, 11, 21, tzinfo=UTC),
            sleep=lambda s: None,
        )
    assert (
        summary.ok and summary.assets == 1
    )  # SOLUSDT only: not the quarterly, the USDC pair or a settling one


class StatsWindow(BaseHTTPRequestHandler):
    """``/futures/data/openInterestHist`` as Binance documents it: the newest ``limit`` rows of
    [startTime, endTime], ascending (the documentation's example row at every hour of the real SOL panel)."""

    calls: ClassVar[list[dict[str, str]]] = []
    ROWS: ClassVar[list[dict[str, Any]]] = [{**DOC_OI, "timestamp": _ms(t)} for t in PANEL["timestamp"]]

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        StatsWindow.calls.append(q)
        lo, hi, limit = int(q["startTime"]), int(q["endTime"]), int(q["limit"])
        body = json.dumps([r for r in self.ROWS if lo <= r["timestamp"] <= hi][-limit:]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_trading_statistics_page_backwards_and_lose_no_hour() -> None:
    """Paging forward from startTime would get the window's newest 30 rows and stop; paging back from endTime
    returns every hour of the window."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StatsWindow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    rows = StatsWindow.ROWS
    lo, hi = rows[10]["timestamp"], rows[200]["timestamp"]
    client = HttpClient("binance", f"http://127.0.0.1:{httpd.server_address[1]}", sleep=lambda s: None)
    try:
        got = binance_rest.stats_pages(
            client, "/futures/data/openInterestHist", {"startTime": lo, "endTime": hi}, 30, "timestamp"
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [r["timestamp"] for r in got] == [r["timestamp"] for r in rows[10:201]]
    assert len(StatsWindow.calls) == 7 and int(StatsWindow.calls[1]["endTime"]) == rows[171]["timestamp"] - 1
