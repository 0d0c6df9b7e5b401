"""Bybit v5 linear REST backfill (``levradar sync``): funding history and klines paged backwards, OI and
account ratios by cursor, instruments and risk-limit tiers, the listing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
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

# 600 requests per 5 s per IP (documented); far below it
BUDGET = Budget(rate=10.0, burst=10.0)


BYBIT_FUNDING_PAGE, BYBIT_KLINE_PAGE, BYBIT_OI_PAGE, BYBIT_RATIO_PAGE = 200, 1000, 200, 500


def _page(client: HttpClient, path: str, params: dict[str, Any]) -> tuple[list[Any], str | None]:
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


def backfill(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
    """Bybit v5 linear: funding history (paged backwards from the newest settlement), 1h klines, 1h OI (cursor).

    Bybit lists newest first; each page's oldest time bounds the next page, so symbols on 4h/1h funding get every
    settlement. OI is in coin, as Bybit reports it (both sides; stored one-sided, see docs/data.md).
    """
    batch = Batch(ImportReport("sync:bybit", client.base_url))
    for asset in assets:
        m = canonical_market("bybit", asset)
        base = {"category": "linear", "symbol": m.symbol}
        info, _ = _page(client, "/v5/market/instruments-info", base)
        tiers, _ = _page(client, "/v5/market/risk-limit", base)
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
        funding, end = [], ms(until)
        while True:
            window: dict[str, Any] = {"startTime": ms(since), "endTime": end, "limit": BYBIT_FUNDING_PAGE}
            page, _ = _page(client, "/v5/market/funding/history", {**base, **window})
            funding += page
            if len(page) < BYBIT_FUNDING_PAGE:
                break
            end = min(int(p["fundingRateTimestamp"]) for p in page) - 1
        add_settlements(
            batch, "bybit", m.symbol, funding, "fundingRateTimestamp", "fundingRate", "bybit:funding"
        )
        bars, end = [], ms(until)
        while True:
            window = {"interval": "60", "start": ms(since), "end": end, "limit": BYBIT_KLINE_PAGE}
            page, _ = _page(client, "/v5/market/kline", {**base, **window})
            bars += page
            if len(page) < BYBIT_KLINE_PAGE:
                break
            end = min(int(b[0]) for b in page) - 1
        add_klines(batch, "bybit", m.symbol, bars, ["t", "o", "h", "l", "c", "base", "quote"], "bybit:kline")
        prices = {}
        for kind, path in (
            ("mark", "/v5/market/mark-price-kline"),
            ("index", "/v5/market/index-price-kline"),
        ):
            rows, end = [], ms(until)
            while True:
                page, _ = _page(
                    client,
                    path,
                    {**base, "interval": "60", "start": ms(since), "end": end, "limit": BYBIT_KLINE_PAGE},
                )
                rows += page
                if len(page) < BYBIT_KLINE_PAGE:
                    break
                end = min(int(b[0]) for b in page) - 1
            prices[kind] = rows
        add_mark_index(batch, "bybit", m.symbol, prices["mark"], prices["index"])
        ois, cursor = [], None
        while True:
            window = {
                "intervalTime": "1h",
                "startTime": ms(since),
                "endTime": ms(until),
                "limit": BYBIT_OI_PAGE,
            }
            page, cursor = _page(
                client,
                "/v5/market/open-interest",
                {**base, **window, **({"cursor": cursor} if cursor else {})},
            )
            ois += page
            if not cursor or not page:
                break
        if ois:
            o = rows_frame(ois, "bybit:open-interest").with_columns(
                ts=epoch_ms("timestamp"), oi=pl.col("openInterest").cast(pl.Float64)
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
                "startTime": ms(since),
                "endTime": ms(until),
                "limit": BYBIT_RATIO_PAGE,
            }
            page, cursor = _page(
                client,
                "/v5/market/account-ratio",
                {**base, **window, **({"cursor": cursor} if cursor else {})},
            )
            ratios += page
            if not cursor or not page:
                break
        add_long_short(
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


def list_perpetuals(client: HttpClient) -> list[str]:
    out, cursor = [], None
    while True:
        page, cursor = _page(
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
