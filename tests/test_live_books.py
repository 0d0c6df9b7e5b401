"""The live radar's liquidation books: advanced hour by hour, the same numbers as one run over the same hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from levradar.analytics.config import load_config
from levradar.analytics.heatmap import combine, load_heatmap_config, summarize
from levradar.analytics.liqmodel import MarketBook, simulate_market
from levradar.analytics.proximity import BookCache, liquidation_overlay
from levradar.analytics.scan import scan
from levradar.analytics.series import load_markets
from levradar.ingest.run import import_source
from levradar.store import Store

HEAT = load_heatmap_config()
SIGNALS = load_config()
START = datetime(2025, 10, 9, 12, tzinfo=UTC)  # the walk crosses the 2025-10-10 cascade


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("books") / "store") as s:
        import_source(s, "sample", Path("."))
        yield s


def hourly(store: Store, asset: str, start: datetime, end: datetime) -> pl.DataFrame:
    days = int(SIGNALS.value("liquidation", "model_days"))
    markets = load_markets(store, start - timedelta(days=days + 1), end, [asset])
    return markets.filter(pl.col("bar_hours") == 1)


def test_a_book_advanced_in_pieces_equals_one_run(store: Store) -> None:
    rows = hourly(store, "BTC", START, START + timedelta(hours=60)).filter(pl.col("venue") == "bybit").sort("t")
    edges = np.exp(np.linspace(np.log(50_000), np.log(200_000), HEAT.buckets + 1))
    whole = simulate_market(rows, edges, HEAT)
    book = MarketBook(edges, HEAT)
    cuts = [rows["t"][k] for k in (100, 400, 401, rows.height - 2)]
    pieces = [book.advance(rows.filter(pl.col("t") <= c)) for c in cuts] + [book.advance(rows)]
    stacked = np.vstack([p.long_usd for p in pieces])
    np.testing.assert_allclose(stacked, whole.long_usd, rtol=1e-10, atol=1e-4)
    np.testing.assert_allclose(np.vstack([p.reserve for p in pieces if p.reserve is not None]), whole.reserve)
    with pytest.raises(ValueError, match="no hour after"):
        book.advance(rows)


def test_the_radar_advances_its_books_instead_of_rerunning_the_window(store: Store) -> None:
    """Scans hour by hour with one cache: each market's book at the last hour equals one run from the first
    scan's window start to that hour, on the cache's buckets."""
    cache = BookCache()
    hours = [START + timedelta(hours=k) for k in range(0, 8)]
    reads = [scan(store, t, ["BTC"], books=cache)[0] for t in hours]
    assert all(r["liquidation"]["nearest_below"] for r in reads)
    kept = {k: v for k, v in cache.books.items() if k[0] == "BTC"}
    assert kept and all(v.book.last_t == hours[-1] for v in kept.values())
    days = int(SIGNALS.value("liquidation", "model_days"))
    frame = hourly(store, "BTC", hours[0], hours[-1]).filter(
        pl.col("t") > hours[0] - timedelta(days=days)
    )
    maps = []
    for (venue, symbol), part in frame.sort("venue", "symbol", "t").group_by(["venue", "symbol"], maintain_order=True):
        if ("BTC", str(venue), str(symbol)) in kept:
            maps.append(simulate_market(part, cache.edges["BTC"], HEAT, record=False))
    assert len(maps) == len(kept)
    by_hand = summarize(combine(maps), HEAT)
    last = reads[-1]["liquidation"]
    assert last["nearest_below"]["price"] == pytest.approx(by_hand["nearest_below"]["price"], rel=1e-9)  # type: ignore[index]
    assert last["nearest_above"]["usd"] == pytest.approx(by_hand["nearest_above"]["usd"], rel=1e-9)  # type: ignore[index]


def test_a_gap_or_a_step_back_rebuilds_the_book(store: Store) -> None:
    cache = BookCache()
    rv = {"BTC": 0.5}
    markets = hourly(store, "BTC", START, START + timedelta(hours=10))
    liquidation_overlay(markets, rv, START, SIGNALS, HEAT, cache)
    first = {k: v.book for k, v in cache.books.items()}
    liquidation_overlay(markets, rv, START + timedelta(hours=1), SIGNALS, HEAT, cache)
    assert {k: v.book for k, v in cache.books.items()} == first  # the same books, one hour on
    liquidation_overlay(markets, rv, START + timedelta(hours=5), SIGNALS, HEAT, cache)  # 4 hours at once: fine
    assert {k: v.book for k, v in cache.books.items()} == first
    liquidation_overlay(markets, rv, START + timedelta(hours=2), SIGNALS, HEAT, cache)  # back in time: rebuilt
    assert all(v.book is not first[k] for k, v in cache.books.items())
    assert all(v.book.last_t == START + timedelta(hours=2) for v in cache.books.values())
