"""The measured liquidation map and its comparison with the model, on real data: Hyperliquid's measured BTC
positions (tests/fixtures/hyperliquid-positions) in the market they sat in (tests/fixtures/hyperliquid-2026-02)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.analytics.heatmap import load_heatmap_config, price_edges
from levradar.analytics.measured import (
    accounts_at,
    compare,
    fate,
    measured_asset,
    measured_map,
    measured_pockets,
    nearest_band,
    oi_usd_at,
    snapshot_positions,
    snapshot_times,
    zone_capture,
)
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store

FIX = Path(__file__).parent / "fixtures"
MARKET = FIX / "hyperliquid-2026-02"
POSITIONS = FIX / "hyperliquid-positions"
CFG = load_heatmap_config()


def fill(store: Store, end: datetime | None = None) -> None:
    f = Filters(end=end)
    import_source(store, "perp-panels", MARKET / "perp-panels", f)
    import_source(store, "multivenue-2025", MARKET / "multivenue-2025", f)
    import_source(store, "hyperliquid-positions", POSITIONS, f)


@pytest.fixture(scope="module")
def feb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("feb")) as store:
        fill(store)
        yield store


def edges_around(price: float) -> np.ndarray:
    return price_edges(price * 0.5, price * 1.5, CFG)


def test_a_snapshot_is_bucketed_without_losing_a_dollar(feb: Store) -> None:
    times = snapshot_times(feb, "BTC")
    t = times[40]
    pos = snapshot_positions(feb, "BTC", t + (times[41] - t) / 2)
    assert set(pos["ts"]) == {t}  # the newest snapshot at or before the as-of
    m = measured_map(pos, edges_around(70_000.0), oi_usd_at(feb, "BTC", "hyperliquid", t))
    for side in ("long", "short"):
        book = getattr(m, f"{side}_usd")
        parts = book.sum() + getattr(m, f"no_price_{side}_usd") + getattr(m, f"outside_{side}_usd")
        assert parts == pytest.approx(getattr(m, f"sampled_{side}_usd"), rel=1e-12)
        assert book.sum() > 0
    # the venue's mark from its own figures, and the coverage against the OI known at the snapshot
    assert m.price == pytest.approx(float((pos["position_usd"] / pos["qty_base"]).median()))
    assert m.oi_usd is not None and 0 < m.coverage_long < 1 and 0 < m.coverage_short < 1  # type: ignore[operator]
    assert m.coverage_long == pytest.approx(m.sampled_long_usd / m.oi_usd)


positions_strategy = st.lists(
    st.tuples(
        st.sampled_from(["long", "short"]),
        st.floats(1e-3, 1e3),  # qty
        st.floats(10.0, 1e6),  # liquidation price
        st.booleans(),  # has a liquidation price
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(positions_strategy)
def test_every_position_lands_in_the_bucket_holding_its_liquidation_price(rows: list[tuple]) -> None:
    t = datetime(2026, 2, 10, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "venue": "hyperliquid",
            "asset": "BTC",
            "symbol": "BTC",
            "account": [f"a{i}" for i in range(len(rows))],
            "ts": [t] * len(rows),
            "side": [r[0] for r in rows],
            "qty_base": [r[1] for r in rows],
            "position_usd": [r[1] * 1000.0 for r in rows],
            "liquidation_price": [r[2] if r[3] else None for r in rows],
        }
    )
    edges = price_edges(500.0, 2000.0, CFG)
    m = measured_map(frame, edges, None)
    for side, book in (("long", m.long_usd), ("short", m.short_usd)):
        rows_side = frame.filter(pl.col("side") == side)
        inside = rows_side.filter(
            pl.col("liquidation_price").is_not_null()
            & (pl.col("liquidation_price") >= edges[0])
            & (pl.col("liquidation_price") < edges[-1])
        )
        expected = np.zeros(edges.size - 1)
        for liq, usd in inside.select("liquidation_price", "position_usd").iter_rows():
            k = int(np.flatnonzero((edges[:-1] <= liq) & (liq < edges[1:]))[0])
            expected[k] += usd
        np.testing.assert_allclose(book, expected, rtol=1e-12)
    assert m.coverage_long is None  # no OI: no coverage claimed


def test_point_in_time_equals_a_store_holding_data_up_to_then(feb: Store, tmp_path: Path) -> None:
    times = snapshot_times(feb, "BTC")
    t = times[60] + (times[61] - times[60]) / 2
    with Store(tmp_path / "then") as then:
        fill(then, end=t)
        past = snapshot_positions(then, "BTC", t)
        assert past.drop("ts_ingest").equals(snapshot_positions(feb, "BTC", t).drop("ts_ingest"))
        assert oi_usd_at(then, "BTC", "hyperliquid", t) == oi_usd_at(feb, "BTC", "hyperliquid", t)
    # no snapshot within the window before the as-of: nothing measured (an older snapshot is not "now")
    first = snapshot_times(feb, "BTC")[0]
    assert snapshot_positions(feb, "BTC", first - timedelta(seconds=1)).is_empty()


def test_zone_capture_against_a_known_model(feb: Store) -> None:
    t = snapshot_times(feb, "BTC")[50]
    m = measured_map(snapshot_positions(feb, "BTC", t), edges_around(70_000.0), None)
    centers = m.centers
    model_long = np.where(centers < m.price, 1.0, 0.0)
    model_short = np.zeros_like(centers)
    model_short[np.flatnonzero(centers > m.price)[:3]] = (
        5.0  # the three buckets just above the price are dense
    )
    cap = zone_capture(m, model_long, model_short, 0.9, 25.0)
    near = np.abs(centers / m.price - 1) * 100 <= 25
    above = near & (centers > m.price)
    dense_usd = m.short_usd[np.flatnonzero(centers > m.price)[:3]].sum()
    assert cap["short"]["dense_buckets"] == 3
    assert cap["short"]["in_model_dense"] == pytest.approx(dense_usd / m.short_usd[above].sum())
    # here the dense buckets are the nearest ones: the naive band of equal width is the same buckets
    assert cap["short"]["in_naive_band"] == pytest.approx(cap["short"]["in_model_dense"])
    band = nearest_band(centers, m.price, False, 4)
    assert band.sum() == 4 and (centers[band] < m.price).all()
    assert centers[band].min() > centers[(centers < m.price) & ~band].max()


def test_fate_accounts_for_every_priced_dollar(feb: Store) -> None:
    times = snapshot_times(feb, "BTC")
    before = feb.read("positions", assets=["BTC"], start=times[30], end=times[30])
    after = feb.read("positions", assets=["BTC"], start=times[31], end=times[31])
    seen = accounts_at(feb, "hyperliquid", times[31])
    priced = before.filter(pl.col("liquidation_price").is_not_null())
    out = fate(before, after, seen, 1.0, 1e12)  # a path that crossed every level
    assert out["kept_usd"] + out["consumed_usd"] + out["closed_usd"] + out["unobserved_usd"] == pytest.approx(
        float(priced["position_usd"].sum())
    )
    assert out["unobserved_usd"] == pytest.approx(
        float(priced.filter(~pl.col("account").is_in(list(seen)))["position_usd"].sum())
    )
    # a position gone while its account is still seen: closed on a calm path, consumed when the path crossed it
    victim = priced.filter(pl.col("account").is_in(list(seen))).row(0, named=True)
    gone = after.filter(pl.col("account") != victim["account"])
    calm = (
        (1e12, 1e12) if victim["side"] == "long" else (1.0, 1.0)
    )  # long: price never fell; short: never rose
    closed = fate(before, gone, seen, *calm)["closed_usd"] - fate(before, after, seen, *calm)["closed_usd"]
    assert closed == pytest.approx(victim["position_usd"])
    crossed = (
        fate(before, gone, seen, 1.0, 1e12)["consumed_usd"]
        - fate(before, after, seen, 1.0, 1e12)["consumed_usd"]
    )
    assert crossed == pytest.approx(victim["position_usd"])
    # positions the accounts of before open: added
    newcomer = victim | {"symbol": "BTC", "side": "short" if victim["side"] == "long" else "long"}
    more = pl.concat([gone, pl.DataFrame([newcomer], schema=after.schema)])
    assert fate(before, more, seen, *calm)["added_usd"] >= victim["position_usd"]


def test_compare_is_point_in_time_and_reports_against_the_naive_band(feb: Store) -> None:
    times = snapshot_times(feb, "BTC")
    out = compare(feb, "BTC", days=30, end=times[19])
    assert out["snapshots"] == 20
    for row in out["per_snapshot"]:  # type: ignore[attr-defined]
        assert datetime.fromisoformat(row["model_hour"]) <= datetime.fromisoformat(row["snapshot"])
        for side in ("long", "short"):
            for key in ("in_model_dense", "in_naive_band"):
                v = row["capture"][side][key]
                assert np.isnan(v) or 0.0 <= v <= 1.0
    bands = out["band_shares"]
    assert sum(bands["measured"]) == pytest.approx(1.0)  # type: ignore[index]
    ci = out["zone_capture"]["long"]["difference"]  # type: ignore[index]
    assert ci["low"] <= ci["estimate"] <= ci["high"]
    assert len(out["per_interval"]) == 19  # type: ignore[arg-type]


def test_cli_validate_positions(feb: Store, tmp_path: Path) -> None:
    with Store(tmp_path / "s") as s:
        fill(s, end=datetime(2026, 2, 4, 12, tzinfo=UTC))  # 8 snapshots
    cli = [sys.executable, "-m", "levradar.cli", "validate", "positions"]
    text = subprocess.run(
        [*cli, "btc", "--days", "30", "--data-dir", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},  # tables unwrapped, whatever the terminal running the tests
    ).stdout
    assert "model dense" in text and "naive band" in text and "median × leverage" in text
    data = json.loads(
        subprocess.run(
            [*cli, "BTC", "--days", "30", "--json", "--data-dir", str(tmp_path / "s")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert data["asset"] == "BTC" and data["snapshots"] > 0
    bad = subprocess.run([*cli, "DOGE", "--data-dir", str(tmp_path / "s")], capture_output=True, text=True)
    assert bad.returncode != 0 and "assets with positions: BTC, kPEPE" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr


def test_asset_names_are_case_blind(feb: Store) -> None:
    assert measured_asset(feb, "KPEPE", "hyperliquid") == "kPEPE"
    with pytest.raises(ValueError, match="no measured positions of ETH on hyperliquid"):
        measured_asset(feb, "ETH", "hyperliquid")


def test_the_radar_shows_measured_pockets_of_a_recent_snapshot(feb: Store, tmp_path: Path) -> None:
    from levradar.analytics.scan import scan

    times = snapshot_times(feb, "BTC")
    as_of = times[70].replace(minute=0, second=0) + timedelta(hours=1)
    newest = max(t for t in times if t <= as_of)
    read = scan(feb, as_of, ["BTC"])[0]
    measured = read["liquidation"]["measured"]
    assert [m["venue"] for m in measured] == ["hyperliquid"]
    block = measured[0]
    assert block["source"] == "measured" and block["snapshot"] == newest
    pos = snapshot_positions(feb, "BTC", as_of)
    m = measured_map(
        pos, price_edges(block["price"], block["price"], CFG), oi_usd_at(feb, "BTC", "hyperliquid", newest)
    )
    assert block["nearest_above"] == measured_pockets(m, CFG)["nearest_above"]
    assert block["nearest_below"] == measured_pockets(m, CFG)["nearest_below"]
    above = block["nearest_above"]
    assert above is None or above["price"] > block["price"]
    assert block["coverage_long"] == pytest.approx(m.coverage_long)
    from levradar.render import measured_line

    line = measured_line(block)  # the scan table's line under the asset: says measured, where and how much
    assert line.startswith("measured on hyperliquid") and f"{block['positions']:,} positions" in line
    assert f"{min(m.coverage_long, m.coverage_short):.0%}" in line  # type: ignore[type-var]
    # point-in-time: a store holding data up to the as-of gives the same measured block
    with Store(tmp_path / "then") as then:
        fill(then, end=as_of)
        assert scan(then, as_of, ["BTC"])[0]["liquidation"]["measured"] == measured
    # no snapshot in the 6 h before the as-of: nothing is called measured
    assert scan(feb, times[0] - timedelta(minutes=1), ["BTC"])[0]["liquidation"]["measured"] == []


def test_heatmap_measured_beside_the_model_on_the_same_buckets(feb: Store, tmp_path: Path) -> None:
    from levradar.analytics.heatmap import asset_heatmap
    from levradar.radar import heatmap_report

    times = snapshot_times(feb, "BTC")
    as_of = times[50] + (times[51] - times[50]) / 2
    run = heatmap_report(feb, "BTC", as_of, days=30, venue="hyperliquid", cfg=CFG, grid=False, measured=True)
    [block] = run.body["measured"]
    model = asset_heatmap(feb, "BTC", as_of, days=30, venue="hyperliquid", cfg=CFG, grid=False).map
    m = measured_map(
        snapshot_positions(feb, "BTC", as_of), model.edges, oi_usd_at(feb, "BTC", "hyperliquid", times[50])
    )
    centers = set(np.round(model.centers, 6))
    assert all(round(b["price"], 6) in centers for b in block["buckets"])  # the model's own buckets
    assert block["snapshot"] == times[50].isoformat() and block["coverage_long"] == pytest.approx(
        m.coverage_long
    )
    below = (m.centers < m.price) & (m.centers >= m.price * 0.95)
    assert block["cumulative"]["5%"]["below_long_usd"] == pytest.approx(float(m.long_usd[below].sum()))
    assert set(block["cumulative"]) == set(run.body["cumulative"])  # the model's distances, side by side
    # before the first snapshot nothing is measured, and the table says so
    early = heatmap_report(
        feb, "BTC", times[0] - timedelta(hours=1), days=30, venue=None, cfg=CFG, grid=False, measured=True
    )
    assert early.body["measured"] == []


def test_cli_heatmap_measured_text_and_png(feb: Store, tmp_path: Path) -> None:
    with Store(tmp_path / "s") as s:
        fill(s, end=datetime(2026, 2, 5, 12, tzinfo=UTC))
    png = tmp_path / "map.png"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "levradar.cli",
            "heatmap",
            "BTC",
            "--venue",
            "hyperliquid",
            "--days",
            "20",
            "--measured",
            "--png",
            str(png),
            "--data-dir",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert (
        "measured on hyperliquid" in out
        and "coverage of the venue's OI" in out
        and "measured vs modelled" in out
    )
    assert png.stat().st_size > 10_000


def test_python_api_and_agents_get_the_measured_block(tmp_path: Path) -> None:
    import levradar as lr
    from levradar.mcp_server import heatmap_json

    with Store(tmp_path / "s") as s:
        fill(s, end=datetime(2026, 2, 5, 12, tzinfo=UTC))
    as_of = "2026-02-05T11:00:00Z"
    with lr.open(tmp_path / "s") as radar:
        read = radar.heatmap("BTC", as_of, venue="hyperliquid", days=20, measured=True)
        plain = radar.heatmap("BTC", as_of, venue="hyperliquid", days=20)
        tool = heatmap_json(radar, "BTC", as_of, "hyperliquid", 20)
    [block] = read.measured
    assert block["venue"] == "hyperliquid" and block["buckets"] and block["coverage_long"] > 0
    assert (
        plain.measured == [] and "measured" not in plain.to_json()
    )  # only when asked, as the CLI's --measured
    assert (
        tool["measured"][0]["nearest_above"] == block["nearest_above"]
        and "buckets" not in tool["measured"][0]
    )
