"""Backfill from the venues' public REST APIs (``levradar sync``): one venue failing never stops the others.

Implemented: Hyperliquid (``info`` fundingHistory and candleSnapshot, paged by the last timestamp) and Bybit v5
linear (funding history, 1h klines, 1h open interest) and Binance USDⓈ-M (funding paged by the last settlement,
1h klines, 1h OI history) and OKX swaps (funding history, 1h candles, 1h OI history). Another venue reports
"not implemented yet" in the summary rather than pretending.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from levradar.domain.datasets import CANDLE_INTERVALS, QUALITY_VENUE
from levradar.domain.symbols import canonical_market
from levradar.ingest.normalize import FILE, ROW, Batch, InputError, with_market
from levradar.ingest.report import MAX_SET_ASIDE_LINES, ImportReport
from levradar.ingest.run import write_batch
from levradar.ingest.sources.common import Filters, canonical_rows, settlement_rows
from levradar.ingest.sources.hyperliquid_rest import candle_rows, funding_rows
from levradar.net.endpoints import endpoint
from levradar.net.http import HttpClient, HttpError, RateLimiter, RetryPolicy
from levradar.store import Store

HL_PAGE = 500  # fundingHistory returns at most 500 settlements per call
HL_CANDLE_PAGE = 5000


class SyncUnavailable(RuntimeError):
    """This venue cannot be synced as asked (no backfill for it, or no start time)."""


@dataclass
class VenueSummary:
    venue: str
    ok: bool
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    assets: int = 0
    needs_since: bool = False  # nothing stored yet for an asset: a first backfill needs a start time
    error: str | None = None
    set_aside: list[str] = field(default_factory=list)  # rows not stored because they break a rule, and why


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _hyperliquid(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    batch = Batch(ImportReport("sync:hyperliquid", client.base_url))
    filters = Filters(start=since, end=until)
    for asset in assets:
        start = _ms(since)
        while start <= _ms(until):
            body = client.post_json(
                "/info",
                {"type": "fundingHistory", "coin": asset, "startTime": start, "endTime": _ms(until)},
                "info",
            )
            if not isinstance(body, list):
                raise InputError(client.base_url, None, None, f"fundingHistory for {asset}: expected a list")
            if not body:
                break
            funding_rows(batch, Path(f"{client.base_url}/info#fundingHistory/{asset}"), body, filters)
            batch.report.files += 1
            last = max(int(item["time"]) for item in body)
            if len(body) < HL_PAGE or last < start:
                break
            start = last + 1
        start = _ms(since)
        while start <= _ms(until):
            req = {"coin": asset, "interval": "1h", "startTime": start, "endTime": _ms(until)}
            body = client.post_json("/info", {"type": "candleSnapshot", "req": req}, "info")
            if not isinstance(body, list):
                raise InputError(client.base_url, None, None, f"candleSnapshot for {asset}: expected a list")
            if not body:
                break
            candle_rows(batch, Path(f"{client.base_url}/info#candleSnapshot/{asset}"), req, body, filters)
            last = max(int(item["t"]) for item in body)
            if len(body) < HL_CANDLE_PAGE or last < start:
                break
            start = last + 1
    return batch


BYBIT_FUNDING_PAGE, BYBIT_KLINE_PAGE, BYBIT_OI_PAGE, BYBIT_RATIO_PAGE = 200, 1000, 200, 500


def _bybit_list(client: HttpClient, path: str, params: dict[str, Any]) -> tuple[list[Any], str | None]:
    body = client.get_json(path, params, bucket=path)
    if not isinstance(body, dict) or str(body.get("retCode")) != "0":  # a number live; recorders keep "0"
        message = body.get("retMsg") if isinstance(body, dict) else body
        raise InputError(f"{client.base_url}{path}", None, None, f"Bybit error: {message!r}")
    result = body.get("result") or {}
    cursor = result.get("nextPageCursor") or None
    if cursor is not None and cursor == params.get("cursor"):  # the same page again: stop, never loop
        raise InputError(
            f"{client.base_url}{path}", None, None, f"Bybit returned the cursor it was given: {cursor!r}"
        )
    return list(result.get("list") or []), cursor


def _rows(records: list[dict[str, Any]], source: str) -> pl.DataFrame:
    return pl.DataFrame(records).with_row_index(ROW, offset=1).with_columns(pl.lit(source).alias(FILE))


def _epoch_ms(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col).cast(pl.Int64), time_unit="ms").dt.replace_time_zone("UTC")


def _settlements(
    batch: Batch,
    venue: str,
    symbol: str,
    rows: list[dict[str, Any]],
    time_key: str,
    rate_key: str,
    source: str,
) -> None:
    """Funding settlements from a venue's list of {time, rate} objects (interval detected from the times)."""
    if rows:
        f = _rows(rows, source).with_columns(ts=_epoch_ms(time_key), rate=pl.col(rate_key).cast(pl.Float64))
        batch.add("funding", settlement_rows(with_market(f, venue, symbol), "rate", f"sync:{venue}"))


def _mark_index(batch: Batch, venue: str, symbol: str, mark: list[list[Any]], index: list[list[Any]]) -> None:
    """Mark and index price as of each hour: the close of the venue's 1h mark / index price kline ending then."""
    frames = []
    for column, rows in (("mark", mark), ("index", index)):
        if rows:
            f = _rows([{"t": r[0], "c": r[4]} for r in rows], f"{venue}:{column}-klines")
            ts = (_epoch_ms("t") + timedelta(hours=1)).alias("ts")
            frames.append(f.select(ROW, FILE, ts, pl.col("c").cast(pl.Float64).alias(column)))
    if not frames:
        return
    joined = frames[0]
    if len(frames) == 2:
        joined = joined.join(frames[1].drop(ROW, FILE), on="ts", how="full", coalesce=True)
        joined = joined.with_columns(
            pl.col(ROW).fill_null(0), pl.col(FILE).fill_null(f"{venue}:index-klines")
        )
    batch.add(
        "mark_index",
        canonical_rows(
            with_market(joined, venue, symbol),
            f"sync:{venue}",
            QUALITY_VENUE,
            ts="ts",
            mark=pl.col("mark") if "mark" in joined.columns else pl.lit(None, pl.Float64),
            index=pl.col("index") if "index" in joined.columns else pl.lit(None, pl.Float64),
        ),
    )


def _klines(
    batch: Batch, venue: str, symbol: str, rows: list[list[Any]], names: list[str], source: str
) -> None:
    """1h candles from a venue's arrays; ``names`` labels the positions (t, o, h, l, c, base volume, quote volume)."""
    if rows:
        k = _rows([dict(zip(names, r, strict=False)) for r in rows], source).with_columns(ts=_epoch_ms("t"))
        num = {c: pl.col(c).cast(pl.Float64) for c in ("o", "h", "l", "c", "base", "quote")}
        batch.add(
            "candles",
            canonical_rows(
                with_market(k, venue, symbol),
                f"sync:{venue}",
                QUALITY_VENUE,
                ts="ts",
                interval=pl.lit("1h"),
                open=num["o"],
                high=num["h"],
                low=num["l"],
                close=num["c"],
                volume_base=num["base"],
                volume_quote=num["quote"],
            ),
        )


def _long_short(
    batch: Batch, venue: str, symbol: str, rows: list[dict[str, Any]], kind: str, source: str
) -> None:
    """Long/short ratios from rows of {t, ratio[, long, short]}: shares derived from the ratio where absent."""
    if rows:
        f = _rows(rows, source).with_columns(ts=_epoch_ms("t"), ratio=pl.col("ratio").cast(pl.Float64))
        derived_long = pl.col("ratio") / (1.0 + pl.col("ratio"))
        long_share = pl.col("long").cast(pl.Float64) if "long" in f.columns else derived_long
        short_share = pl.col("short").cast(pl.Float64) if "short" in f.columns else 1.0 - derived_long
        batch.add(
            "long_short_ratio",
            canonical_rows(
                with_market(f, venue, symbol),
                f"sync:{venue}",
                QUALITY_VENUE,
                ts="ts",
                kind=pl.lit(kind),
                ratio="ratio",
                long_share=long_share,
                short_share=short_share,
            ),
        )


def _bybit(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    """Bybit v5 linear: funding history (paged backwards from the newest settlement), 1h klines, 1h OI (cursor).

    Bybit lists newest first; each page's oldest time bounds the next page, so symbols on 4h/1h funding get every
    settlement. OI is in coin, as Bybit reports it (both sides; stored one-sided, see docs/data.md).
    """
    batch = Batch(ImportReport("sync:bybit", client.base_url))
    for asset in assets:
        m = canonical_market("bybit", asset)
        base = {"category": "linear", "symbol": m.symbol}
        info, _ = _bybit_list(client, "/v5/market/instruments-info", base)
        tiers, _ = _bybit_list(client, "/v5/market/risk-limit", base)
        if info:
            minutes = info[0].get("fundingInterval")
            batch.add_instrument(
                venue="bybit",
                symbol=m.symbol,
                asset=m.asset,
                quote=m.quote,
                contract_size=1.0,
                contract_unit="coin",
                funding_interval_hours=float(minutes) / 60.0 if minutes else None,
                tiers_json=json.dumps(
                    [
                        {
                            "max_notional_usd": float(t["riskLimitValue"]),
                            "mmr": float(t["maintenanceMargin"]),
                            "maintenance_amount_usd": float(t.get("mmDeduction") or 0),
                            "max_leverage": float(t["maxLeverage"]),
                        }
                        for t in tiers
                    ]
                )
                if tiers
                else None,
            )
        funding, end = [], _ms(until)
        while True:
            window: dict[str, Any] = {"startTime": _ms(since), "endTime": end, "limit": BYBIT_FUNDING_PAGE}
            page, _ = _bybit_list(client, "/v5/market/funding/history", {**base, **window})
            funding += page
            if len(page) < BYBIT_FUNDING_PAGE:
                break
            end = min(int(p["fundingRateTimestamp"]) for p in page) - 1
        _settlements(
            batch, "bybit", m.symbol, funding, "fundingRateTimestamp", "fundingRate", "bybit:funding"
        )
        bars, end = [], _ms(until)
        while True:
            window = {"interval": "60", "start": _ms(since), "end": end, "limit": BYBIT_KLINE_PAGE}
            page, _ = _bybit_list(client, "/v5/market/kline", {**base, **window})
            bars += page
            if len(page) < BYBIT_KLINE_PAGE:
                break
            end = min(int(b[0]) for b in page) - 1
        _klines(batch, "bybit", m.symbol, bars, ["t", "o", "h", "l", "c", "base", "quote"], "bybit:kline")
        prices = {}
        for kind, path in (
            ("mark", "/v5/market/mark-price-kline"),
            ("index", "/v5/market/index-price-kline"),
        ):
            rows, end = [], _ms(until)
            while True:
                page, _ = _bybit_list(
                    client,
                    path,
                    {**base, "interval": "60", "start": _ms(since), "end": end, "limit": BYBIT_KLINE_PAGE},
                )
                rows += page
                if len(page) < BYBIT_KLINE_PAGE:
                    break
                end = min(int(b[0]) for b in page) - 1
            prices[kind] = rows
        _mark_index(batch, "bybit", m.symbol, prices["mark"], prices["index"])
        ois, cursor = [], None
        while True:
            window = {
                "intervalTime": "1h",
                "startTime": _ms(since),
                "endTime": _ms(until),
                "limit": BYBIT_OI_PAGE,
            }
            page, cursor = _bybit_list(
                client,
                "/v5/market/open-interest",
                {**base, **window, **({"cursor": cursor} if cursor else {})},
            )
            ois += page
            if not cursor or not page:
                break
        if ois:
            o = _rows(ois, "bybit:open-interest").with_columns(
                ts=_epoch_ms("timestamp"), oi=pl.col("openInterest").cast(pl.Float64)
            )
            batch.add(
                "open_interest",
                canonical_rows(
                    with_market(o, "bybit", m.symbol),
                    "sync:bybit",
                    QUALITY_VENUE,
                    ts="ts",
                    raw_value="oi",
                    raw_unit=pl.lit("coin"),
                    oi_base="oi",
                ),
            )
        ratios, cursor = [], None
        while True:
            window = {
                "period": "1h",
                "startTime": _ms(since),
                "endTime": _ms(until),
                "limit": BYBIT_RATIO_PAGE,
            }
            page, cursor = _bybit_list(
                client,
                "/v5/market/account-ratio",
                {**base, **window, **({"cursor": cursor} if cursor else {})},
            )
            ratios += page
            if not cursor or not page:
                break
        _long_short(
            batch,
            "bybit",
            m.symbol,
            [
                {"t": r["timestamp"], "long": r["buyRatio"], "short": r["sellRatio"], "ratio": _ratio(r)}
                for r in ratios
            ],
            "accounts",
            "bybit:account-ratio",
        )
        batch.report.files += 1
    return batch


def _ratio(row: dict[str, Any]) -> float | None:
    """Bybit gives long and short shares only; with no short holder the ratio is undefined (left empty)."""
    short = float(row["sellRatio"])
    return float(row["buyRatio"]) / short if short > 0 else None


BINANCE_FUNDING_PAGE, BINANCE_KLINE_PAGE, BINANCE_OI_PAGE = 1000, 1500, 500
BINANCE_STATS_DEPTH = timedelta(days=30)  # OI history and long/short ratios: Binance keeps the latest 30 days
BINANCE_RATIOS = {
    "accounts": "/futures/data/globalLongShortAccountRatio",
    "top_accounts": "/futures/data/topLongShortAccountRatio",
    "top_positions": "/futures/data/topLongShortPositionRatio",
}


def _binance_pages(
    client: HttpClient, path: str, params: dict[str, Any], limit: int, time_key: str | int
) -> list[Any]:
    """Ascending pages, each starting just after the last item of the previous one (by ``time_key``)."""
    out: list[Any] = []
    start = params["startTime"]
    while start <= params["endTime"]:
        page = client.get_json(path, {**params, "startTime": start, "limit": limit}, bucket=path)
        if not isinstance(page, list):
            raise InputError(
                f"{client.base_url}{path}", None, None, f"expected a list, got {str(page)[:200]!r}"
            )
        out += page
        if len(page) < limit:
            break
        start = max(int(p[time_key]) for p in page) + 1
    return out


def _binance_stats_pages(
    client: HttpClient, path: str, params: dict[str, Any], limit: int, time_key: str
) -> list[Any]:
    """The trading-statistics endpoints (``/futures/data/*``) answer the **newest** ``limit`` rows of a window
    (ascending), so paging forward from ``startTime`` would skip all but the window's end: page backwards, each
    page ending just before the oldest row of the previous one. Returned ascending."""
    out: list[Any] = []
    end = params["endTime"]
    while end >= params["startTime"]:
        page = client.get_json(path, {**params, "endTime": end, "limit": limit}, bucket=path)
        if not isinstance(page, list):
            raise InputError(
                f"{client.base_url}{path}", None, None, f"expected a list, got {str(page)[:200]!r}"
            )
        out += page
        if len(page) < limit:
            break
        oldest = min(int(p[time_key]) for p in page)
        if oldest > end:  # the venue ignored endTime: stop, never loop
            raise InputError(f"{client.base_url}{path}", None, None, f"the page did not end by endTime={end}")
        end = oldest - 1
    return sorted(out, key=lambda p: int(p[time_key]))


def _binance(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
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
        window: dict[str, Any] = {"symbol": m.symbol, "startTime": _ms(since), "endTime": _ms(until)}
        funding = _binance_pages(client, "/fapi/v1/fundingRate", window, BINANCE_FUNDING_PAGE, "fundingTime")
        _settlements(batch, "binance", m.symbol, funding, "fundingTime", "fundingRate", "binance:fundingRate")
        klines = _binance_pages(
            client, "/fapi/v1/klines", {**window, "interval": "1h"}, BINANCE_KLINE_PAGE, 0
        )
        names = ["t", "o", "h", "l", "c", "base", "close_time", "quote"]
        _klines(batch, "binance", m.symbol, klines, names, "binance:klines")
        hourly = {**window, "interval": "1h"}
        mark = _binance_pages(client, "/fapi/v1/markPriceKlines", hourly, BINANCE_KLINE_PAGE, 0)
        pair = {k: v for k, v in hourly.items() if k != "symbol"} | {"pair": m.symbol}
        index = _binance_pages(client, "/fapi/v1/indexPriceKlines", pair, BINANCE_KLINE_PAGE, 0)
        _mark_index(batch, "binance", m.symbol, mark, index)
        stats = {
            **window,
            "period": "1h",
            "startTime": max(window["startTime"], _ms(until - BINANCE_STATS_DEPTH)),
        }
        oi = _binance_stats_pages(
            client, "/futures/data/openInterestHist", stats, BINANCE_OI_PAGE, "timestamp"
        )
        for kind, path in BINANCE_RATIOS.items():
            ratios = _binance_stats_pages(client, path, stats, BINANCE_OI_PAGE, "timestamp")
            _long_short(
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
            o = _rows(oi, "binance:openInterestHist").with_columns(
                ts=_epoch_ms("timestamp"),
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


OKX_PAGE = 100


def _okx_pages(
    client: HttpClient,
    path: str,
    params: dict[str, Any],
    since: datetime,
    time_of: Callable[[Any], int],
    cursor: str = "after",
) -> list[Any]:
    """OKX lists newest first; ``after`` (``end`` on the trading-statistics endpoints) asks for records older than
    a time, so pages walk back to ``since``."""
    out: list[Any] = []
    after: int | None = None
    while True:
        query = {**params, "limit": OKX_PAGE, **({cursor: after} if after is not None else {})}
        body = client.get_json(path, query, bucket=path)
        if not isinstance(body, dict) or str(body.get("code")) != "0":
            message = body.get("msg") if isinstance(body, dict) else body
            raise InputError(f"{client.base_url}{path}", None, None, f"OKX error: {message!r}")
        page = list(body.get("data") or [])
        out += [p for p in page if time_of(p) >= _ms(since)]
        if len(page) < OKX_PAGE or min(time_of(p) for p in page) < _ms(since):
            return out
        oldest = min(time_of(p) for p in page)
        if after is not None and oldest >= after:  # the venue ignored the cursor: stop, never loop
            raise InputError(
                f"{client.base_url}{path}", None, None, f"the page did not move back past {cursor}={after}"
            )
        after = oldest


def _okx(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    """OKX USDT swaps: funding-rate history, 1h history candles (volume in contracts, coin volume ``volCcy``), 1h
    OI history (contracts, coin, USD) — newest first, paged back with ``after``."""
    batch = Batch(ImportReport("sync:okx", client.base_url))
    for asset in assets:
        m = canonical_market("okx", asset)
        inst = {"instId": m.symbol}
        meta = client.get_json(
            "/api/v5/public/instruments", {"instType": "SWAP", **inst}, bucket="instruments"
        )
        family = m.symbol.removesuffix("-SWAP")
        tiers = client.get_json(
            "/api/v5/public/position-tiers",
            {"instType": "SWAP", "tdMode": "isolated", "instFamily": family},
            bucket="tiers",
        )
        if isinstance(meta, dict) and meta.get("data"):
            batch.add_instrument(
                venue="okx",
                symbol=m.symbol,
                asset=m.asset,
                quote=m.quote,
                contract_size=float(meta["data"][0]["ctVal"]),
                contract_unit=str(meta["data"][0].get("ctValCcy", "")),
                tiers_json=json.dumps(
                    [
                        {
                            "max_contracts": float(t["maxSz"]),
                            "mmr": float(t["mmr"]),
                            "max_leverage": float(t["maxLever"]),
                        }
                        for t in (tiers.get("data") or [] if isinstance(tiers, dict) else [])
                    ]
                )
                or None,
            )
        funding = _okx_pages(
            client, "/api/v5/public/funding-rate-history", inst, since, lambda p: int(p["fundingTime"])
        )
        funding = [p for p in funding if int(p["fundingTime"]) <= _ms(until)]
        _settlements(
            batch, "okx", m.symbol, funding, "fundingTime", "fundingRate", "okx:funding-rate-history"
        )
        bars = _okx_pages(
            client, "/api/v5/market/history-candles", {**inst, "bar": "1H"}, since, lambda b: int(b[0])
        )
        bars = [b for b in bars if int(b[0]) <= _ms(until) and str(b[8]) == "1"]  # confirmed bars only
        _klines(
            batch,
            "okx",
            m.symbol,
            bars,
            ["t", "o", "h", "l", "c", "contracts", "base", "quote"],
            "okx:candles",
        )
        mark = _okx_pages(
            client,
            "/api/v5/market/history-mark-price-candles",
            {**inst, "bar": "1H"},
            since,
            lambda b: int(b[0]),
        )
        index_inst = {"instId": m.symbol.removesuffix("-SWAP"), "bar": "1H"}
        index = _okx_pages(
            client, "/api/v5/market/history-index-candles", index_inst, since, lambda b: int(b[0])
        )
        _mark_index(
            batch,
            "okx",
            m.symbol,
            [b for b in mark if int(b[0]) <= _ms(until)],
            [b for b in index if int(b[0]) <= _ms(until)],
        )
        oi = _okx_pages(
            client,
            "/api/v5/rubik/stat/contracts/open-interest-history",
            {**inst, "period": "1H"},
            since,
            lambda r: int(r[0]),
            cursor="end",  # the statistics endpoints page with begin/end, not after (OKX API v5 docs)
        )
        oi = [r for r in oi if int(r[0]) <= _ms(until)]
        if oi:
            o = _rows(
                [dict(zip(["t", "oi", "oiCcy", "oiUsd"], r, strict=False)) for r in oi], "okx:oi-history"
            )
            batch.add(
                "open_interest",
                canonical_rows(
                    with_market(o.with_columns(ts=_epoch_ms("t")), "okx", m.symbol),
                    "sync:okx",
                    QUALITY_VENUE,
                    ts="ts",
                    raw_value=pl.col("oi").cast(pl.Float64),
                    raw_unit=pl.lit("contracts"),
                    oi_base=pl.col("oiCcy").cast(pl.Float64),
                    oi_usd=pl.col("oiUsd").cast(pl.Float64),
                    usd_method=pl.lit("venue"),
                ),
            )
        ratios = _okx_pages(
            client,
            "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
            {**inst, "period": "1H"},
            since,
            lambda r: int(r[0]),
            cursor="end",
        )
        _long_short(
            batch,
            "okx",
            m.symbol,
            [{"t": r[0], "ratio": r[1]} for r in ratios if int(r[0]) <= _ms(until)],
            "accounts",
            "okx:long-short-account-ratio-contract",
        )
        batch.report.files += 1
    return batch


def _list_binance(client: HttpClient) -> list[str]:
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


def _list_bybit(client: HttpClient) -> list[str]:
    out, cursor = [], None
    while True:
        page, cursor = _bybit_list(
            client,
            "/v5/market/instruments-info",
            {"category": "linear", "limit": 1000, **({"cursor": cursor} if cursor else {})},
        )
        out += [
            str(i["baseCoin"])
            for i in page
            if i.get("contractType") == "LinearPerpetual"
            and i.get("quoteCoin") == "USDT"
            and i.get("status") == "Trading"
        ]
        if not cursor or not page:
            return out


def _list_okx(client: HttpClient) -> list[str]:
    body = client.get_json("/api/v5/public/instruments", {"instType": "SWAP"}, bucket="instruments")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise InputError(f"{client.base_url}/api/v5/public/instruments", None, None, "expected {data: [...]}")
    return [
        str(i["ctValCcy"])
        for i in data
        if i.get("settleCcy") == "USDT" and i.get("ctType") == "linear" and i.get("state") == "live"
    ]


def _list_hyperliquid(client: HttpClient) -> list[str]:
    body = client.post_json("/info", {"type": "meta"}, "info")
    universe = body.get("universe") if isinstance(body, dict) else None
    if not isinstance(universe, list):
        raise InputError(f"{client.base_url}/info", None, None, "meta: expected {universe: [...]}")
    return [str(u["name"]) for u in universe if not u.get("isDelisted")]


LISTERS: dict[str, Callable[[HttpClient], list[str]]] = {
    "binance": _list_binance,
    "bybit": _list_bybit,
    "okx": _list_okx,
    "hyperliquid": _list_hyperliquid,
}


def resume_since(store: Store, venue: str, assets: Sequence[str]) -> datetime | None:
    """Where an incremental sync of ``assets`` on ``venue`` starts: the oldest of their newest stored 1h candles
    (re-reading that hour is harmless: upserts are idempotent). None when an asset has nothing stored yet."""
    status = store.status().filter(
        (pl.col("dataset") == "candles") & (pl.col("venue") == venue) & (pl.col("interval") == "1h")
    )
    newest = dict(zip(status["asset"].to_list(), status["last"].to_list(), strict=True))
    if not assets or any(a not in newest for a in assets):
        return None
    oldest: datetime = min(newest[a] for a in assets)
    return oldest


SYNCERS: dict[str, Callable[[HttpClient, Sequence[str], datetime, datetime], Batch]] = {
    "hyperliquid": _hyperliquid,
    "bybit": _bybit,
    "binance": _binance,
    "okx": _okx,
}


@dataclass(frozen=True)
class Budget:
    """A venue's documented public REST limit as a token bucket of request weight per second (one bucket per venue,
    kept below the documented figure), and the weight of each endpoint (longest matching path prefix; else 1)."""

    rate: float
    burst: float
    weights: dict[str, float] = field(default_factory=dict)

    def weight(self, path: str) -> float:
        matches = [p for p in self.weights if path.startswith(p)]
        return self.weights[max(matches, key=len)] if matches else 1.0


BUDGETS: dict[str, Budget] = {
    # 2,400 weight/min per IP; klines at limit 1,500 weigh 10; /futures/data/* are limited to 1,000 requests per
    # 5 min and fundingRate to 500 per 5 min (shared with fundingInfo): weights that keep those rates at 20/s
    "binance": Budget(
        rate=20.0,
        burst=40.0,
        weights={
            "/fapi/v1/klines": 10.0,
            "/futures/data/": 8.0,
            "/fapi/v1/fundingRate": 12.0,
            "/fapi/v1/fundingInfo": 12.0,
            "/fapi/v1/exchangeInfo": 1.0,
        },
    ),
    # 600 requests per 5 s per IP (documented); far below it
    "bybit": Budget(rate=10.0, burst=10.0),
    # per endpoint: candles 20 / 2 s, funding-rate-history 10 / 2 s, rubik statistics 5 / 2 s, instruments 20 / 2 s
    "okx": Budget(
        rate=8.0,
        burst=8.0,
        weights={"/api/v5/market/": 1.0, "/api/v5/public/funding-rate-history": 2.0, "/api/v5/rubik/": 4.0},
    ),
    # 1,200 weight/min per IP; an info request weighs 20 (candleSnapshot, fundingHistory; more for long answers)
    "hyperliquid": Budget(rate=20.0, burst=40.0, weights={"info": 20.0}),
}


def sync(
    store: Store,
    venues: Sequence[str],
    assets: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None = None,
    *,
    data_dir: Path | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    lock: AbstractContextManager[Any] | None = None,
    on_venue_done: Callable[[VenueSummary], None] | None = None,
) -> list[VenueSummary]:
    """Backfill the venues concurrently (one thread each); whatever fails is that venue's (or that asset's) line
    in its summary, never a traceback, and the others run on.

    ``assets=None``: every USDT perpetual the venue lists. ``since=None``: each asset continues from what the store
    holds (:func:`resume_since`); an asset with nothing stored asks for a start time. Each asset is committed as
    soon as it is fetched. ``lock`` guards the store (held only to read a resume point and to write, never during
    network calls); without one, a lock of this call's own keeps the venues' threads off the store together.
    ``on_venue_done`` is called with each venue's summary as it finishes (a progress bar)."""
    guard = lock or threading.Lock()
    end = until or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with ThreadPoolExecutor(max_workers=max(1, len(venues)), thread_name_prefix="sync") as pool:
        jobs = [
            pool.submit(_sync_venue, store, venue, assets, since, end, data_dir, policy, sleep, guard)
            for venue in venues
        ]
        for job in as_completed(jobs):
            if on_venue_done is not None:
                on_venue_done(job.result())
        return [job.result() for job in jobs]


def _sync_venue(
    store: Store,
    venue: str,
    assets: Sequence[str] | None,
    since: datetime | None,
    end: datetime,
    data_dir: Path | None,
    policy: RetryPolicy | None,
    sleep: Callable[[float], None],
    guard: AbstractContextManager[Any],
) -> VenueSummary:
    summary = VenueSummary(venue, ok=False)
    client: HttpClient | None = None
    errors: list[str] = []
    try:
        syncer = SYNCERS.get(venue)
        if syncer is None:
            raise SyncUnavailable("backfill not implemented yet for this venue")
        budget = BUDGETS.get(venue, Budget(rate=10.0, burst=10.0))
        client = HttpClient(
            venue,
            endpoint(venue, "rest", data_dir),
            policy or RetryPolicy(),
            RateLimiter(rate=budget.rate, burst=budget.burst, sleep=sleep),
            sleep=sleep,
            weights=budget.weight,
        )
        wanted = list(assets) if assets is not None else LISTERS[venue](client)
        for asset in wanted:
            try:
                _sync_asset(store, syncer, client, asset, since, end, guard, summary)
            except Exception as exc:  # this asset's failure is its line; the next asset runs
                errors.append(f"{asset}: {_describe(exc)}")
                if isinstance(exc, HttpError) and exc.status is None:
                    break  # refused, unanswered or dropped after every retry: the other assets would fare the same
        summary.ok = not errors and summary.assets == len(wanted)
    except Exception as exc:  # a venue's failure (listing, configuration) is its line, the others run on
        errors.append(_describe(exc))
    finally:
        if client is not None:
            summary.requests = client.attempts_made
            client.close()
    if errors:
        summary.error = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
    return summary


def _sync_asset(
    store: Store,
    syncer: Callable[[HttpClient, Sequence[str], datetime, datetime], Batch],
    client: HttpClient,
    asset: str,
    since: datetime | None,
    end: datetime,
    guard: AbstractContextManager[Any],
    summary: VenueSummary,
) -> None:
    """Fetch one asset and commit it (bad rows set aside, the rest stored)."""
    with guard:
        start = since or resume_since(store, client.venue, [asset])
    if start is None:
        summary.needs_since = True
        raise SyncUnavailable(
            "nothing stored yet for this asset on this venue: give --since for the first backfill"
        )
    batch = syncer(client, [asset], start, end)
    _closed_bars_only(batch, min(datetime.now(UTC), end))
    with guard:
        report = write_batch(store, batch, "sync", live=True)
    summary.assets += 1
    for name, rep in report.datasets.items():
        summary.rows[name] = summary.rows.get(name, 0) + (rep.inserted or 0)
    summary.set_aside += [f"{a['dataset']} {a['symbol']}: {a['reason']}" for a in report.set_aside]


def _closed_bars_only(batch: Batch, cutoff: datetime) -> None:
    """Keep the candles whose bar has closed by ``cutoff`` (the sync's end, or now): a running bar's figures are not
    the bar's yet, and a reading as of an hour must not see them."""
    interval = pl.col("interval").replace_strict(CANDLE_INTERVALS, return_dtype=pl.Duration("us"))
    kept = [f.filter(pl.col("ts") + interval <= cutoff) for f in batch.parts.pop("candles", [])]
    for frame in kept:
        batch.add("candles", frame)  # an emptied frame is not added


def _describe(exc: Exception) -> str:
    """One line for a failure: our own errors say what happened; anything else (a reply of an unexpected shape
    that broke a parser) is named as such with its type."""
    if isinstance(exc, HttpError | InputError | SyncUnavailable):
        return str(exc)
    return f"unexpected reply ({type(exc).__name__}: {str(exc)[:160]})"


def summary_dict(s: VenueSummary) -> dict[str, Any]:
    return {
        "venue": s.venue,
        "ok": s.ok,
        "assets": s.assets,
        "inserted": s.rows,
        "requests": s.requests,
        "error": s.error,
        "set_aside": len(s.set_aside),
        "set_aside_reasons": s.set_aside[:MAX_SET_ASIDE_LINES],
    }
