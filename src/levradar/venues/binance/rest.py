"""Binance USDⓈ-M REST backfill (``levradar sync``): funding paged by the last settlement, 1h klines, mark/index
klines, OI history and long/short ratios (trading statistics, paged backwards), funding intervals, the listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from levradar.domain.datasets import QUALITY_VENUE
from levradar.domain.symbols import canonical_market
from levradar.ingest.normalize import Batch, InputError, with_market
from levradar.ingest.report import ImportReport
from levradar.ingest.rest import (
    Budget,
    add_klines,
    add_long_short,
    add_mark_index,
    add_settlements,
    epoch_ms,
    ms,
    rows_frame,
)
from levradar.ingest.sources.common import canonical_rows
from levradar.net.http import HttpClient

# 2,400 weight/min per IP; klines at limit 1,500 weigh 10; /futures/data/* are limited to 1,000 requests per
# 5 min and fundingRate to 500 per 5 min (shared with fundingInfo): weights that keep those rates at 20/s
BUDGET = Budget(
    rate=20.0,
    burst=40.0,
    weights={
        "/fapi/v1/klines": 10.0,
        "/futures/data/": 8.0,
        "/fapi/v1/fundingRate": 12.0,
        "/fapi/v1/fundingInfo": 12.0,
        "/fapi/v1/exchangeInfo": 1.0,
    },
)


BINANCE_FUNDING_PAGE, BINANCE_KLINE_PAGE, BINANCE_OI_PAGE = 1000, 1500, 500
BINANCE_STATS_DEPTH = timedelta(days=30)  # OI history and long/short ratios: Binance keeps the latest 30 days
BINANCE_RATIOS = {
    "accounts": "/futures/data/globalLongShortAccountRatio",
    "top_accounts": "/futures/data/topLongShortAccountRatio",
    "top_positions": "/futures/data/topLongShortPositionRatio",
}


def _list_page(client: HttpClient, path: str, params: dict[str, Any]) -> list[Any]:
    """One page of a list endpoint; anything but a list is the venue's error."""
    page = client.get_json(path, params, bucket=path)
    if not isinstance(page, list):
        raise InputError(f"{client.base_url}{path}", None, None, f"expected a list, got {str(page)[:200]!r}")
    return page


def _pages(
    client: HttpClient, path: str, params: dict[str, Any], limit: int, time_key: str | int
) -> list[Any]:
    """Ascending pages, each starting just after the last item of the previous one (by ``time_key``)."""
    out: list[Any] = []
    start = params["startTime"]
    while start <= params["endTime"]:
        page = _list_page(client, path, {**params, "startTime": start, "limit": limit})
        out += page
        if len(page) < limit:
            break
        start = max(int(p[time_key]) for p in page) + 1
    return out


def stats_pages(
    client: HttpClient, path: str, params: dict[str, Any], limit: int, time_key: str
) -> list[Any]:
    """The trading-statistics endpoints (``/futures/data/*``) answer the **newest** ``limit`` rows of a window
    (ascending), so paging forward from ``startTime`` would skip all but the window's end: page backwards, each
    page ending just before the oldest row of the previous one. Returned ascending."""
    out: list[Any] = []
    end = params["endTime"]
    while end >= params["startTime"]:
        page = _list_page(client, path, {**params, "endTime": end, "limit": limit})
        out += page
        if len(page) < limit:
            break
        oldest = min(int(p[time_key]) for p in page)
        if oldest > end:  # the venue ignored endTime: stop, never loop
            raise InputError(f"{client.base_url}{path}", None, None, f"the page did not end by endTime={end}")
        end = oldest - 1
    return sorted(out, key=lambda p: int(p[time_key]))


def backfill(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    """Binance USDⓈ-M: funding history paged by the *last settlement's* time (not by a fixed 8h step, so 4h/2h/1h
    symbols have no gaps), 1h klines, and 1h OI history (Binance keeps about 30 days of it)."""
    batch = Batch(ImportReport("sync:binance", client.base_url))
    adjusted = client.get_json("/fapi/v1/fundingInfo", {}, bucket="/fapi/v1/fundingInfo")
    if not isinstance(adjusted, list):
        raise InputError(f"{client.base_url}/fapi/v1/fundingInfo", None, None, "expected a list")
    interval_hours = {str(a["symbol"]): float(a["fundingIntervalHours"]) for a in adjusted}
    for asset in assets:
        m = canonical_market("binance", asset)
        batch.add_instrument(
            venue="binance",
            symbol=m.symbol,
            asset=m.asset,
            quote=m.quote,
            contract_size=1.0,
            contract_unit="coin",
            # fundingInfo lists only symbols whose interval or caps were adjusted; the others settle every 8h
            funding_interval_hours=interval_hours.get(m.symbol, 8.0),
        )
        window: dict[str, Any] = {"symbol": m.symbol, "startTime": ms(since), "endTime": ms(until)}
        funding = _pages(client, "/fapi/v1/fundingRate", window, BINANCE_FUNDING_PAGE, "fundingTime")
        add_settlements(
            batch, "binance", m.symbol, funding, "fundingTime", "fundingRate", "binance:fundingRate"
        )
        klines = _pages(client, "/fapi/v1/klines", {**window, "interval": "1h"}, BINANCE_KLINE_PAGE, 0)
        names = ["t", "o", "h", "l", "c", "base", "close_time", "quote"]
        add_klines(batch, "binance", m.symbol, klines, names, "binance:klines")
        hourly = {**window, "interval": "1h"}
        mark = _pages(client, "/fapi/v1/markPriceKlines", hourly, BINANCE_KLINE_PAGE, 0)
        pair = {k: v for k, v in hourly.items() if k != "symbol"} | {"pair": m.symbol}
        index = _pages(client, "/fapi/v1/indexPriceKlines", pair, BINANCE_KLINE_PAGE, 0)
        add_mark_index(batch, "binance", m.symbol, mark, index)
        stats = {
            **window,
            "period": "1h",
            "startTime": max(window["startTime"], ms(until - BINANCE_STATS_DEPTH)),
        }
        oi = stats_pages(client, "/futures/data/openInterestHist", stats, BINANCE_OI_PAGE, "timestamp")
        for kind, path in BINANCE_RATIOS.items():
            ratios = stats_pages(client, path, stats, BINANCE_OI_PAGE, "timestamp")
            add_long_short(
                batch,
                "binance",
                m.symbol,
                [
                    {
                        "t": r["timestamp"],
                        "long": r["longAccount"],
                        "short": r["shortAccount"],
                        "ratio": r["longShortRatio"],
                    }
                    for r in ratios
                ],
                kind,
                f"binance:{path.rsplit('/', 1)[-1]}",
            )
        if oi:
            o = rows_frame(oi, "binance:openInterestHist").with_columns(
                ts=epoch_ms("timestamp"),
                coin=pl.col("sumOpenInterest").cast(pl.Float64),
                usd=pl.col("sumOpenInterestValue").cast(pl.Float64),
            )
            batch.add(
                "open_interest",
                canonical_rows(
                    with_market(o, "binance", m.symbol),
                    "sync:binance",
                    QUALITY_VENUE,
                    ts="ts",
                    raw_value="coin",
                    raw_unit=pl.lit("coin"),
                    oi_base="coin",
                    oi_usd="usd",
                    usd_method=pl.lit("venue"),
                ),
            )
        batch.report.files += 1
    return batch


def list_perpetuals(client: HttpClient) -> list[str]:
    body = client.get_json("/fapi/v1/exchangeInfo", {}, bucket="/fapi/v1/exchangeInfo")
    symbols = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(symbols, list):
        raise InputError(f"{client.base_url}/fapi/v1/exchangeInfo", None, None, "expected {symbols: [...]}")
    return [
        str(s["baseAsset"])
        for s in symbols
        if s.get("contractType") == "PERPETUAL"
        and s.get("quoteAsset") == "USDT"
        and s.get("status") == "TRADING"
    ]
