"""The live radar folds in one hour at a time, labelling the new hour alone: it reads exactly what a history started
at its first labelled hour reads (labels carry on from their state; a fresh scan starts its own 7 days back), and
the labels it has shown never change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from levradar.analytics.config import load_config
from levradar.analytics.live import COMPACT_HOURS, LiveRadar, LiveRadarError, _after, _appended
from levradar.analytics.proximity import hourly_reads
from levradar.analytics.scan import FEATURE_MARGIN, PERCENTILES, Evaluated, evaluate_frames
from levradar.analytics.series import load_markets
from levradar.analytics.signals import LABEL_FAMILIES
from levradar.ingest.run import import_source
from levradar.store import Store

LABEL_HOURS = 48
START_END = datetime(2025, 10, 10, 18, tzinfo=UTC)  # the walk crosses the cascade and a UTC midnight


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("live") / "store") as store:
        import_source(store, "sample", Path("."))
        yield store


def window_start(end: datetime, label_hours: int = LABEL_HOURS) -> datetime:
    return end - timedelta(days=90, hours=label_hours + 24)


def batch(store: Store, end: datetime, labels_from: datetime | None = None) -> Evaluated:
    """A fresh evaluation at ``end``: a scan's label window, or labels from ``labels_from`` on (a history) with the
    rows of the scan's window kept."""
    label_hours = LABEL_HOURS if labels_from is None else (end - labels_from) // timedelta(hours=1)
    start = window_start(end, label_hours)
    markets = load_markets(store, start - FEATURE_MARGIN, end, None)
    ev = evaluate_frames(markets, start, end, label_hours, load_config())
    window = pl.col("t") > end - timedelta(hours=LABEL_HOURS + 1)
    return replace(ev, assets=ev.assets.filter(window), markets=ev.markets.filter(window))


def same_liquidation(live: Evaluated, fresh: Evaluated) -> None:
    """The live books' pockets at the hour equal a fresh scan's (the model advanced, not re-run)."""
    assert live.liquidation.keys() == fresh.liquidation.keys() and live.liquidation
    for asset, read in live.liquidation.items():
        other = fresh.liquidation[asset]
        assert read["proximity"] == other["proximity"]
        assert read["venues"] == other["venues"] and read["run_from"] == other["run_from"]
        for key, value in read["forecast_24h"].items():
            expected = other["forecast_24h"][key]
            assert value == (
                pytest.approx(expected, rel=1e-9) if isinstance(expected, float) else expected
            ), key
        for side in ("nearest_below", "nearest_above"):
            assert (read[side] is None) == (other[side] is None)
            if read[side] is not None:
                assert read[side]["usd"] == pytest.approx(other[side]["usd"], rel=1e-9)


def new_hour(store: Store, hour: datetime) -> pl.DataFrame:
    return load_markets(store, hour - timedelta(hours=30), hour, None).filter(pl.col("t") == hour)


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    cols = sorted(a.columns)
    assert sorted(b.columns) == cols
    assert_frame_equal(
        a.select(cols).sort("key", "t"),
        b.select(cols).sort("key", "t"),
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


@pytest.mark.parametrize("spare_hours", [168, 3], ids=["in-place", "compacting"])
def test_advancing_hour_by_hour_equals_a_history_from_its_first_labelled_hour(
    sample_store: Store, spare_hours: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built, the radar reads what a scan reads; each hour after, what a history from the radar's first labelled
    hour reads, and the hours it showed before keep their labels. With room to spare, and with a buffer so small
    that it compacts during the walk."""
    monkeypatch.setattr("levradar.analytics.live.SPARE_HOURS", spare_hours)
    cfg = load_config()
    start = window_start(START_END)
    radar = LiveRadar(
        load_markets(sample_store, start - FEATURE_MARGIN, START_END, None),
        start,
        START_END,
        LABEL_HOURS,
        cfg,
    )
    fresh = batch(sample_store, START_END)
    same(radar.evaluated.assets, fresh.assets)
    same(radar.evaluated.markets, fresh.markets)
    assert radar.evaluated.assets["liq_proximity"].null_count() < radar.evaluated.assets.height // 10
    full_runs: list[datetime] = []
    monkeypatch.setattr(
        "levradar.analytics.live.hourly_reads",
        lambda *a, **k: full_runs.append(a[1][-1]) or hourly_reads(*a, **k),
    )
    first_labelled = START_END - timedelta(hours=LABEL_HOURS)
    shown = radar.evaluated
    differs_from_a_scan = False
    for k in range(1, 9):  # 18:00 .. 02:00: through the 22:00 flush and over midnight (new baselines)
        hour = START_END + timedelta(hours=k)
        ev = radar.advance(new_hour(sample_store, hour))
        fresh = batch(sample_store, hour, first_labelled)
        same(ev.assets, fresh.assets)
        same(ev.markets, fresh.markets)
        same_liquidation(ev, fresh)
        for now, before in ((ev.assets, shown.assets), (ev.markets, shown.markets)):
            kept = before.filter(
                pl.col("t") > hour - timedelta(hours=LABEL_HOURS + 1), pl.col("t") < hour - timedelta(hours=1)
            )
            same(
                now.filter(pl.col("t") < hour - timedelta(hours=1)).drop(PERCENTILES), kept.drop(PERCENTILES)
            )
        shown = ev
        scan = batch(sample_store, hour)
        differs_from_a_scan |= (
            not ev.assets.select(LABEL_FAMILIES)
            .sort(pl.all())
            .equals(scan.assets.select(LABEL_FAMILIES).sort(pl.all()))
        )
    assert full_runs == []  # every hour folded into the books alone: no run over the window
    assert differs_from_a_scan  # the walk has labels a scan starting 48 h back decides otherwise
    last = ev.assets.filter(pl.col("t") == ev.as_of)
    assert set(last.filter(pl.col("asset").is_in(["BTC", "ETH", "SOL"]))["deleveraging"]) <= {
        "flushing",
        "post-flush",
    }


def test_advance_refuses_the_wrong_hour_and_unknown_markets(sample_store: Store) -> None:
    cfg = load_config()
    start = window_start(START_END)
    radar = LiveRadar(
        load_markets(sample_store, start - FEATURE_MARGIN, START_END, None),
        start,
        START_END,
        LABEL_HOURS,
        cfg,
    )
    with pytest.raises(LiveRadarError, match="exactly one hour"):
        radar.advance(new_hour(sample_store, START_END + timedelta(hours=2)))
    rows = new_hour(sample_store, START_END + timedelta(hours=1))
    alien = rows.head(1).with_columns(
        symbol=pl.lit("NEWUSDT"), asset=pl.lit("NEW"), key=pl.lit("binance:NEWUSDT")
    )
    with pytest.raises(LiveRadarError, match="new market"):
        radar.advance(pl.concat([rows, alien]))
    assert radar.end == START_END  # refused before anything changed: the hour can still be folded in
    assert radar.advance(rows).as_of == START_END + timedelta(hours=1)


def test_a_new_month_starts_a_new_run_and_still_equals_a_fresh_scan(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first hours of a UTC month: 00:00 still closes the old month's last bar (its books fold it in), 01:00
    starts the month's run from its anchor — the full path over the window, once — and 02:00 is incremental again."""
    cfg = load_config()
    end = datetime(2025, 10, 31, 23, tzinfo=UTC)
    start = window_start(end)
    radar = LiveRadar(
        load_markets(sample_store, start - FEATURE_MARGIN, end, None), start, end, LABEL_HOURS, cfg
    )
    full_runs: list[datetime] = []
    monkeypatch.setattr(
        "levradar.analytics.live.hourly_reads",
        lambda *a, **k: full_runs.append(a[1][-1]) or hourly_reads(*a, **k),
    )
    for k in range(1, 4):
        hour = end + timedelta(hours=k)
        ev = radar.advance(new_hour(sample_store, hour))
        fresh = batch(sample_store, hour, end - timedelta(hours=LABEL_HOURS))
        same(ev.assets, fresh.assets)
        same_liquidation(ev, fresh)
    assert full_runs == [datetime(2025, 11, 1, 1, tzinfo=UTC)]


def test_appended_hours_do_not_pile_up_chunks() -> None:
    """Each hour appended adds a chunk to every column; the live radar makes a few hours' worth of them one chunk,
    and as the kept rows are trimmed from the front (two days kept here) the chunks stay few however long it runs;
    a compaction copies only the hours since the one before."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame({"t": [start], "x": [0.0]})
    for k in range(1, 400):
        hour = start + timedelta(hours=k)
        rows = _appended(_after(rows, hour - timedelta(days=2)), pl.DataFrame({"t": [hour], "x": [float(k)]}))
        assert max(rows.n_chunks("all")) <= 48 // COMPACT_HOURS + COMPACT_HOURS + 1
        assert rows["x"].to_list() == [float(h) for h in range(max(0, k - 47), k + 1)]
        assert max(rows["x"].chunk_lengths()) <= COMPACT_HOURS  # no hour copied twice


def test_hours_of_very_different_sizes_do_not_pile_up_chunks_either() -> None:
    """Hours of different sizes (1 row, then 5) are still told from the days' chunks and made one: the chunks stay
    bounded, the rows intact."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame({"t": [start], "x": [0.0]})
    for k in range(1, 300):
        hour = start + timedelta(hours=k)
        new = pl.DataFrame({"t": [hour] * (1 + 4 * (k % 2)), "x": [float(k)] * (1 + 4 * (k % 2))})
        rows = _appended(_after(rows, hour - timedelta(days=5)), new)
        assert rows.n_chunks() <= 5 * 24 // COMPACT_HOURS + COMPACT_HOURS + 1
    assert rows["x"].unique().sort().to_list() == [float(h) for h in range(299 - 119, 300)]


def test_one_venue_per_asset_reads_what_a_history_reads(sample_store: Store) -> None:
    """With one market per asset the radar keeps the asset level only and derives the market rows from it: the
    same as a history from its first labelled hour, at both levels."""
    cfg = load_config()
    start = window_start(START_END)
    markets = load_markets(sample_store, start - FEATURE_MARGIN, START_END + timedelta(hours=3), None)
    binance = markets.filter(pl.col("venue") == "binance")
    radar = LiveRadar(binance.filter(pl.col("t") <= START_END), start, START_END, LABEL_HOURS, cfg)
    assert "market" not in radar.levels
    first_labelled = START_END - timedelta(hours=LABEL_HOURS)
    for k in range(1, 4):
        hour = START_END + timedelta(hours=k)
        ev = radar.advance(binance.filter(pl.col("t") == hour))
        label_hours = (hour - first_labelled) // timedelta(hours=1)
        begin = window_start(hour, label_hours)
        rows = binance.filter(pl.col("t") > begin - FEATURE_MARGIN, pl.col("t") <= hour)
        fresh = evaluate_frames(rows, begin, hour, label_hours, cfg)
        window = pl.col("t") > hour - timedelta(hours=LABEL_HOURS + 1)
        same(ev.assets, fresh.assets.filter(window))
        same(ev.markets, fresh.markets.filter(window))


def test_the_next_days_baselines_are_read_at_the_days_last_hour(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hour that crosses midnight reads no baseline: the day's last hour read the next day's (its levels'
    metrics and the venues' spreads, whose windows end with it) beside its own work; the labels after midnight are
    still a history's (the walk above checks them hour by hour across a midnight)."""
    cfg = load_config()
    end = datetime(2025, 10, 10, 21, tzinfo=UTC)
    start = window_start(end)
    radar = LiveRadar(
        load_markets(sample_store, start - FEATURE_MARGIN, end, None), start, end, LABEL_HOURS, cfg
    )
    calls: list[str] = []
    import levradar.analytics.live as live

    slid, spread_of = live.next_day_baseline, live.SpreadBaseline.of
    monkeypatch.setattr(live, "next_day_baseline", lambda *a, **k: calls.append("metric") or slid(*a, **k))
    monkeypatch.setattr(
        live.SpreadBaseline, "of", staticmethod(lambda *a, **k: calls.append("spread") or spread_of(*a, **k))
    )
    radar.advance(new_hour(sample_store, end + timedelta(hours=1)))  # the first hour reads the day's spreads
    calls.clear()
    radar.advance(new_hour(sample_store, end + timedelta(hours=2)))  # 23:00, the day's last hour
    read_at_23 = list(calls)
    calls.clear()
    midnight = end + timedelta(hours=3)
    radar.advance(new_hour(sample_store, midnight))
    assert calls == []
    assert read_at_23.count("spread") == 1 and read_at_23.count("metric") > 2
    assert radar.spread_base is not None and radar.spread_base.day_us == int(midnight.timestamp() * 1_000_000)
    expected = spread_of(radar.market_rows, radar.rule, radar.spread_base.day_us)
    assert radar.spread_base.median == pytest.approx(expected.median, nan_ok=True)
    assert radar.spread_base.scale == pytest.approx(expected.scale, nan_ok=True)
