"""OKX swap REST backfill (``levradar sync``): funding history, candles and mark/index candles paged back with
``after``, OI history and long/short ratios with ``end``, contract values and position tiers, the listing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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

# per endpoint: candles 20 / 2 s, funding-rate-history 10 / 2 s, rubik statistics 5 / 2 s, instruments 20 / 2 s
BUDGET = Budget(
    rate=8.0,
    burst=8.0,
    weights={"/api/v5/market/": 1.0, "/api/v5/public/funding-rate-history": 2.0, "/api/v5/rubik/": 4.0},
)


OKX_PAGE = 100


def _pages(
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
        out += [p for p in page if time_of(p) >= ms(since)]
        if len(page) < OKX_PAGE or min(time_of(p) for p in page) < ms(since):
            return out
        oldest = min(time_of(p) for p in page)
        if after is not None and oldest >= after:  # the venue ignored the cursor: stop, never loop
            raise InputError(
                f"{client.base_url}{path}", None, None, f"the page did not move back past {cursor}={after}"
            )
        after = oldest


def backfill(client: HttpClient, assets: Sequence[str], since: datetime, until: datetime) -> Batch:
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
        funding = _pages(
            client, "/api/v5/public/funding-rate-history", inst, since, lambda p: int(p["fundingTime"])
        )
        # OKX documents this endpoint's `fundingRate` as the *predicted* rate and `realizedRate` as the one
        # actually settled: store realizedRate (fundingRate only where a record has no realizedRate)
        funding = [
            {**p, "settled": p.get("realizedRate") or p["fundingRate"]}
            for p in funding
            if int(p["fundingTime"]) <= ms(until)
        ]
        add_settlements(batch, "okx", m.symbol, funding, "fundingTime", "settled", "okx:funding-rate-history")
        bars = _pages(
            client, "/api/v5/market/history-candles", {**inst, "bar": "1H"}, since, lambda b: int(b[0])
        )
        bars = [b for b in bars if int(b[0]) <= ms(until) and str(b[8]) == "1"]  # confirmed bars only
        add_klines(
            batch,
            "okx",
            m.symbol,
            bars,
            ["t", "o", "h", "l", "c", "contracts", "base", "quote"],
            "okx:candles",
        )
        mark = _pages(
            client,
            "/api/v5/market/history-mark-price-candles",
            {**inst, "bar": "1H"},
            since,
            lambda b: int(b[0]),
        )
        index_inst = {"instId": m.symbol.removesuffix("-SWAP"), "bar": "1H"}
        index = _pages(client, "/api/v5/market/history-index-candles", index_inst, since, lambda b: int(b[0]))
        add_mark_index(
            batch,
            "okx",
            m.symbol,
            [b for b in mark if int(b[0]) <= ms(until)],
            [b for b in index if int(b[0]) <= ms(until)],
        )
        oi = _pages(
            client,
            "/api/v5/rubik/stat/contracts/open-interest-history",
            {**inst, "period": "1H"},
            since,
            lambda r: int(r[0]),
            cursor="end",  # the statistics endpoints page with begin/end, not after (OKX API v5 docs)
        )
        oi = [r for r in oi if int(r[0]) <= ms(until)]
        if oi:
            o = rows_frame(
                [dict(zip(["t", "oi", "oiCcy", "oiUsd"], r, strict=False)) for r in oi], "okx:oi-history"
            )
            batch.add(
                "open_interest",
                canonical_rows(
                    with_market(o.with_columns(ts=epoch_ms("t")), "okx", m.symbol),
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
        ratios = _pages(
            client,
            "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
            {**inst, "period": "1H"},
            since,
            lambda r: int(r[0]),
            cursor="end",
        )
        add_long_short(
            batch,
            "okx",
            m.symbol,
            [{"t": r[0], "ratio": r[1]} for r in ratios if int(r[0]) <= ms(until)],
            "accounts",
            "okx:long-short-account-ratio-contract",
        )
        batch.report.files += 1
    return batch


def list_perpetuals(client: HttpClient) -> list[str]:
    body = client.get_json("/api/v5/public/instruments", {"instType": "SWAP"}, bucket="instruments")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise InputError(f"{client.base_url}/api/v5/public/instruments", None, None, "expected {data: [...]}")
    return [
        str(i["ctValCcy"])
        for i in data
        if i.get("settleCcy") == "USDT" and i.get("ctType") == "linear" and i.get("state") == "live"
    ]
