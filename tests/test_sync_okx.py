"""`levradar sync --venues okx` against a real HTTP server on 127.0.0.1.

No recorded OKX REST response is in the shared data: the server answers in the shapes of OKX's v5 documentation
(``{"code": "0", "data": [...]}``, newest first, ``after`` pages back in time), filled with REAL OKX BTC-USDT-SWAP
values: funding settlements of 2025-12-03..10 and 1h candles of 2025-12-05..10 (tests/fixtures/okx-2025-12, from
multivenue-2025), and hourly OI in USD and mark prices of 2026-01-03..07 (perp-panels OKX panel; the OI contracts
and coin columns are derived from the USD with the 0.01 BTC contract value and the hour's close). No real index
price exists in the shared data, so the index candles come back empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest

from levradar.ingest.sync import LISTERS, sync
from levradar.net.http import HttpClient, RetryPolicy
from levradar.store import Store
from levradar.venues.okx import rest as okx_rest
from tests.http_replay import JsonHandler, serve

FIX = Path(__file__).parent / "fixtures"
FUNDING = pl.read_parquet(FIX / "okx-2025-12" / "funding_rates.parquet").sort("timestamp")
CANDLES = pl.read_parquet(FIX / "okx-2025-12" / "candles.parquet").sort("timestamp")
PANEL = (
    pl.read_parquet(FIX / "perp-panels" / "hourly_panels" / "okx_BTC_2018-01-11_2026-03-05.parquet")
    .drop_nulls(["open_interest_usd_okx", "close_perp_okx"])
    .sort("timestamp")
)


# OKX documents [ts, longShortAcctRatio] rows; no real ratio is in the shared data: documentation-style values,
# hourly, newest first, 12 rows so that paging (10 per page here) is exercised.
ACCOUNT_RATIO = [[str(1767225600000 - h * 3_600_000), f"{1.5 + h / 100:.2f}"] for h in range(12)]


def _ms(ts: datetime) -> int:
    return int(ts.replace(tzinfo=ts.tzinfo or UTC).timestamp() * 1000)


class Okx(JsonHandler):
    calls: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        path, q = self.route()
        Okx.calls.append((path, q))
        if path == "/api/v5/public/position-tiers":  # the first tier of OKX's documentation example
            data = [
                {
                    "tier": "1",
                    "instFamily": "BTC-USDT",
                    "minSz": "0",
                    "maxSz": "500",
                    "mmr": "0.004",
                    "imr": "0.008",
                    "maxLever": "125",
                }
            ]
            return self.send_json(
                {"code": "0", "msg": "", "data": data if q.get("instFamily") == "BTC-USDT" else []}
            )
        if path == "/api/v5/public/instruments":
            data = [
                {
                    "instId": "BTC-USDT-SWAP",
                    "instType": "SWAP",
                    "ctType": "linear",
                    "ctVal": "0.01",
                    "ctValCcy": "BTC",
                    "settleCcy": "USDT",
                    "state": "live",
                },
                {  # the listing without instId also has an inverse swap and a suspended one
                    "instId": "BTC-USD-SWAP",
                    "instType": "SWAP",
                    "ctType": "inverse",
                    "ctVal": "100",
                    "ctValCcy": "USD",
                    "settleCcy": "BTC",
                    "state": "live",
                },
                {
                    "instId": "OLD-USDT-SWAP",
                    "instType": "SWAP",
                    "ctType": "linear",
                    "ctVal": "1",
                    "ctValCcy": "OLD",
                    "settleCcy": "USDT",
                    "state": "suspend",
                },
            ]
            if "instId" in q:
                data = [d for d in data if d["instId"] == q["instId"]]
            return self.send_json({"code": "0", "msg": "", "data": data})
        if path == "/api/v5/market/history-index-candles":
            return self.send_json(
                {"code": "0", "msg": "", "data": []}
            )  # no real OKX index price in the shared data
        if q.get("instId") != "BTC-USDT-SWAP":
            return self.send_json({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        after, limit = int(q.get("after", 2**62)), int(q.get("limit", "100"))
        if path == "/api/v5/public/funding-rate-history":
            rows = [
                {
                    "instId": "BTC-USDT-SWAP",
                    "fundingRate": str(r),
                    "fundingTime": str(_ms(t)),
                    "realizedRate": str(r),
                }
                for t, r in FUNDING.select("timestamp", "funding_rate").iter_rows()
            ]
            key = "fundingTime"
            page = [r for r in rows[::-1] if int(r[key]) < after][:limit]
            return self.send_json({"code": "0", "msg": "", "data": page})
        if path == "/api/v5/market/history-candles":
            rows = [
                [str(_ms(t)), str(o), str(h), str(lo), str(c), str(v / 0.01), str(v), str(v * c), "1"]
                for t, o, h, lo, c, v in CANDLES.select("timestamp", "o", "h", "l", "c", "v").iter_rows()
            ]
            return self.send_json(
                {"code": "0", "msg": "", "data": [r for r in rows[::-1] if int(r[0]) < after][:limit]}
            )
        if path == "/api/v5/market/history-mark-price-candles":
            marks = PANEL.drop_nulls("mark_price_okx").select("timestamp", "mark_price_okx").iter_rows()
            rows = [[str(_ms(t)), str(m), str(m), str(m), str(m), "1"] for t, m in marks]
            return self.send_json(
                {"code": "0", "msg": "", "data": [r for r in rows[::-1] if int(r[0]) < after][:limit]}
            )
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            rows = [
                [str(_ms(t)), str(usd / c / 0.01), str(usd / c), str(usd)]
                for t, usd, c in PANEL.select(
                    "timestamp", "open_interest_usd_okx", "close_perp_okx"
                ).iter_rows()
            ]
            # OKX's documented parameters here are `begin` and `end` (records newer / older than a time): like
            # the real endpoint, `after` is ignored — a client paging with it would get the newest page forever
            end, begin = int(q.get("end", str(2**62))), int(q.get("begin", "0"))
            return self.send_json(
                {"code": "0", "msg": "", "data": [r for r in rows[::-1] if begin < int(r[0]) < end][:limit]}
            )
        if path == "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract":
            end = int(q.get("end", str(2**62)))
            rows = [r for r in ACCOUNT_RATIO if int(r[0]) < end]  # newest first, `end` pages back
            return self.send_json({"code": "0", "msg": "", "data": rows[:limit]})
        return self.send_json({"code": "50000", "msg": "not found", "data": []})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    Okx.calls = []
    monkeypatch.setattr(okx_rest, "OKX_PAGE", 10)
    with serve(Okx, monkeypatch, "okx") as url:
        yield url


def test_okx_backfill_pages_back_in_time(server: str, tmp_path: Path) -> None:
    since, until = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)
    with Store(tmp_path) as store:
        (summary,) = sync(store, ["okx"], ["BTC"], since, until, sleep=lambda s: None)
        funding = store.read("funding", venues=["okx"])
        candles = store.read("candles", venues=["okx"], interval="1h")
        oi = store.read("open_interest", venues=["okx"])
        marks = store.read("mark_index", venues=["okx"])
        instrument = store.instruments().filter(pl.col("venue") == "okx").row(0, named=True)
        ratios = store.read("long_short_ratio", venues=["okx"])
    assert summary.ok, summary.error
    assert ratios.height == 12 and ratios["ratio"].to_list() == [float(r[1]) for r in ACCOUNT_RATIO[::-1]]
    assert (ratios["long_share"] + ratios["short_share"]).to_list() == pytest.approx([1.0] * 12)
    assert ratios["long_share"][-1] == pytest.approx(1.5 / 2.5)
    ends = [q.get("end") for p, q in Okx.calls if "long-short" in p]
    assert ends == [None, ACCOUNT_RATIO[9][0]]  # walked back with `end`
    assert funding["rate"].to_list() == FUNDING["funding_rate"].to_list()
    assert set(funding["interval_hours"]) == {8.0}
    assert candles["close"].to_list() == CANDLES["c"].to_list()
    assert candles["volume_base"].to_list() == pytest.approx(CANDLES["v"].to_list())  # volCcy, in coin
    assert oi.height == PANEL.height and oi["oi_usd"].to_list() == PANEL["open_interest_usd_okx"].to_list()
    assert set(oi["raw_unit"]) == {"contracts"}
    assert (
        marks.height == PANEL.drop_nulls("mark_price_okx").height
        and marks["index"].null_count() == marks.height
    )
    assert instrument["contract_size"] == 0.01 and instrument["contract_unit"] == "BTC"
    assert json.loads(instrument["tiers_json"]) == [
        {"max_contracts": 500.0, "mmr": 0.004, "max_leverage": 125.0}
    ]
    oi_ends = [q.get("end") for p, q in Okx.calls if p.endswith("open-interest-history")]
    assert oi_ends[0] is None and len(oi_ends) == PANEL.height // 10 + 1  # OI walked back with `end`
    afters = [q.get("after") for p, q in Okx.calls if p == "/api/v5/public/funding-rate-history"]
    assert afters[0] is None and len(afters) == FUNDING.height // 10 + 1  # walked back with `after`


def test_okx_errors_are_reported(server: str, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        (summary,) = sync(
            store,
            ["okx"],
            ["NOPE"],
            datetime(2025, 12, 1, tzinfo=UTC),
            datetime(2025, 12, 2, tzinfo=UTC),
            sleep=lambda s: None,
        )
    assert not summary.ok and "Instrument ID does not exist" in (summary.error or "")


def test_each_asset_commits_on_its_own(server: str, tmp_path: Path) -> None:
    """An asset the venue refuses is that asset's line; the asset fetched before it is already stored."""
    since, until = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)
    with Store(tmp_path) as store:
        (summary,) = sync(store, ["okx"], ["BTC", "NOPE"], since, until, sleep=lambda s: None)
        funding = store.read("funding", venues=["okx"])
    assert not summary.ok and summary.assets == 1
    assert (summary.error or "").startswith("NOPE: ") and "Instrument ID does not exist" in (
        summary.error or ""
    )
    assert funding.height == FUNDING.height and summary.rows["funding"] == FUNDING.height


def test_listing_keeps_live_usdt_linear_swaps(server: str) -> None:
    client = HttpClient("okx", server, RetryPolicy(attempts=1), sleep=lambda s: None)
    assert LISTERS["okx"](client) == ["BTC"]
