"""The live radar's liquidation books: advanced hour by hour, the same numbers as one run over the same hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from levradar.analytics.config import load_config
from levradar.analytics.heatmap import load_heatmap_config
from levradar.analytics.liqmodel import MarketBook, simulate_market
from levradar.analytics.proximity import BookCache, anchor, hourly_reads
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
    rows = (
        hourly(store, "BTC", START, START + timedelta(hours=60)).filter(pl.col("venue") == "bybit").sort("t")
    )
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


def test_the_live_cache_reads_what_a_fresh_scan_reads(store: Store) -> None:
    """Scans hour by hour with one cache advance the kept books (the same objects, one hour on) and read exactly
    what a scan without a cache reads at each hour."""
    cache = BookCache()
    hours = [START + timedelta(hours=k) for k in range(0, 6)]
    kept: dict[tuple[str, str], MarketBook] = {}
    for t in hours:
        live = scan(store, t, ["BTC"], books=cache)[0]["liquidation"]
        fresh = scan(store, t, ["BTC"])[0]["liquidation"]
        assert live["nearest_below"] is not None and live["proximity"] is not None
        for key in ("proximity", "distance_in_daily_vol", "run_from"):
            assert live[key] == fresh[key]
        for side in ("nearest_below", "nearest_above"):
            assert live[side]["price"] == pytest.approx(fresh[side]["price"], rel=1e-9)
            assert live[side]["usd"] == pytest.approx(fresh[side]["usd"], rel=1e-9)
        books = cache.runs["BTC"].books
        assert all(b.last_t == t for b in books.values())
        assert all(books[k] is b for k, b in kept.items())  # advanced, not rebuilt
        kept = dict(books)


def rv_frame(hours: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame({"asset": "BTC", "t": hours, "rv_24h": 0.5})


def test_an_hour_reads_only_what_was_known_then(store: Store) -> None:
    """Every hour's reading is the same from a store cut at that hour as from one holding the days after."""
    hours = [START + timedelta(hours=k) for k in range(-3, 4)]
    markets = hourly(store, "BTC", START, hours[-1])
    window, _ = hourly_reads(markets, hours, rv_frame(hours), SIGNALS, HEAT)
    assert window.height == len(hours) and window["liq_proximity"].null_count() == 0
    for t in hours:
        cut, last = hourly_reads(markets.filter(pl.col("t") <= t), [t], rv_frame([t]), SIGNALS, HEAT)
        assert cut.row(0) == window.filter(pl.col("t") == t).row(0)
        assert last["BTC"]["run_from"] == anchor(t, int(SIGNALS.value("liquidation", "model_days")))


def test_the_rows_order_does_not_change_the_readings(store: Store) -> None:
    """Rows by market then time skip the sort; shuffled rows are sorted first: the same readings either way."""
    hours = [START + timedelta(hours=k) for k in range(-3, 4)]
    markets = hourly(store, "BTC", START, hours[-1])
    ordered, last = hourly_reads(markets, hours, rv_frame(hours), SIGNALS, HEAT)
    shuffled = markets.sample(fraction=1.0, shuffle=True, seed=3)
    again, last_again = hourly_reads(shuffled, hours, rv_frame(hours), SIGNALS, HEAT)
    assert again.equals(ordered) and ordered.height == len(hours)
    assert last_again == last


def test_each_month_has_one_run_started_before_it() -> None:
    days = 30
    assert anchor(datetime(2025, 11, 1, 1, tzinfo=UTC), days) == datetime(2025, 10, 2, tzinfo=UTC)
    assert anchor(datetime(2025, 11, 30, 23, tzinfo=UTC), days) == datetime(2025, 10, 2, tzinfo=UTC)
    # the month's first hour closes the last bar of the month before: it is read by that month's run
    assert anchor(datetime(2025, 11, 1, tzinfo=UTC), days) == datetime(2025, 9, 1, tzinfo=UTC)


def test_a_new_month_or_a_step_back_starts_again(store: Store) -> None:
    cache = BookCache()
    turn = datetime(2025, 11, 1, tzinfo=UTC)
    hours = [turn + timedelta(hours=k) for k in range(-1, 3)]
    markets = hourly(store, "BTC", hours[0], hours[-1])
    fresh, _ = hourly_reads(markets, hours, rv_frame(hours), SIGNALS, HEAT)

    def live(t: datetime) -> pl.DataFrame:
        return hourly_reads(markets.filter(pl.col("t") <= t), [t], rv_frame([t]), SIGNALS, HEAT, cache)[0]

    reads = {t: live(t) for t in hours[:2]}
    october = cache.runs["BTC"]
    reads |= {t: live(t) for t in hours[2:]}
    assert cache.runs["BTC"] is not october and cache.runs["BTC"].start > october.start
    for t in hours:
        assert reads[t].row(0) == fresh.filter(pl.col("t") == t).row(0)
    book = next(iter(cache.runs["BTC"].books.values()))
    cache.forget_before(hours[-1] + timedelta(hours=1))
    assert live(hours[2]).row(0) == reads[hours[2]].row(0)  # asked again after a step back: the same numbers
    assert next(iter(cache.runs["BTC"].books.values())) is not book  # from a rebuilt book
