"""Real liquidation prints over the heatmap (levradar.analytics.prints): the CLI PNG and JSON, the dashboard's
Plotly figure, point in time, on the bundled sample's real OKX liquidation fills (2026-03-04..05).

The expected figures are computed from the sample's Parquet file itself (not through the store), so a print lost,
doubled, read past the as-of or put on the wrong side fails a test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from levradar.analytics import prints as prints_module
from levradar.analytics.heatmap import asset_heatmap, load_heatmap_config
from levradar.analytics.prints import liquidation_prints
from levradar.api.app import create_app
from levradar.api.charts import heatmap_figure
from levradar.api.service import RadarService
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.store import Store

SAMPLE_FILLS = Path(__file__).resolve().parents[1] / "src" / "levradar" / "sample" / "liquidations.parquet"
NOON = datetime(2026, 3, 5, 12, tzinfo=UTC)  # after every BTC fill of the sample (the last: 11:17:55)
DAWN = datetime(2026, 3, 5, 6, tzinfo=UTC)  # in the middle of them
QUIET = datetime(2026, 2, 1, tzinfo=UTC)  # the sample has no fills in the 30 days before
CFG = load_heatmap_config()
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("prints") / "store"
    with Store(d) as store:
        import_source(store, "sample", Path("."))
    return d


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[RadarService]:
    svc = RadarService(data_dir, warm_heatmaps=False)
    yield svc
    svc.close()


def fills(asset: str, start: datetime, as_of: datetime, venue: str | None = None) -> pl.DataFrame:
    """The sample's fills of ``asset`` stamped in [start, as_of], straight from the bundled file."""
    f = pl.read_parquet(SAMPLE_FILLS).filter(
        (pl.col("asset") == asset) & (pl.col("ts") >= start) & (pl.col("ts") <= as_of)
    )
    return f.filter(pl.col("venue") == venue) if venue else f


def side_totals(f: pl.DataFrame) -> dict[str, tuple[int, float]]:
    return {
        side: (f.filter(pl.col("liquidated_side") == side).height,
               float(f.filter(pl.col("liquidated_side") == side)["notional_usd"].sum()))
        for side in ("long", "short")
    }


def cli(*args: object) -> dict[str, Any]:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def print_pixels(png: Path) -> dict[str, int]:
    """Pixels in the colours of the print markers: magenta (longs liquidated) and green (shorts liquidated).
    Neither occurs in the inferno scale, the cyan price line or the white/black frame."""
    img = mpimg.imread(str(png))[..., :3]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return {
        "long": int(((r > 0.85) & (g < 0.45) & (b > 0.65)).sum()),
        "short": int(((r < 0.5) & (g > 0.8) & (b < 0.6)).sum()),
    }


# --------------------------------------------------------------------------------------------------------
# the CLI: PNG and JSON
# --------------------------------------------------------------------------------------------------------


def test_png_draws_the_prints_and_json_totals_equal_the_stored_fills(data_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "btc.png"
    out = cli("heatmap", "BTC", "--as-of", "2026-03-05T12:00", "--days", "3", "--png", png, "--json",
              "--data-dir", data_dir)
    p = out["prints"]
    start = datetime.fromisoformat(p["from"].replace("Z", "+00:00"))
    assert start == NOON - timedelta(days=3) and p["to"] == "2026-03-05T12:00:00Z"
    expected = side_totals(fills("BTC", start, NOON))
    assert expected["long"][0] == 611 and expected["short"][0] == 1000  # every BTC fill of the sample
    for side in ("long", "short"):
        assert p[side]["count"] == expected[side][0]
        assert p[side]["usd"] == pytest.approx(expected[side][1], rel=1e-9)
    assert p["count"] == 1611 and p["usd"] == pytest.approx(expected["long"][1] + expected["short"][1])
    assert p["venues"] == {"okx": 1611} and p["sampled"] is True and p["sampled_venues"] == ["okx"]
    assert p["points"] == 1611 and p["aggregated"] is None  # few enough to draw one by one
    assert "longs liquidated 611 ($3.37M)" in p["note"] and "shorts liquidated 1,000 ($5.81M)" in p["note"]
    assert "OKX prints are sampled" in p["note"]
    data = png.read_bytes()
    assert out["png"] == str(png) and data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = print_pixels(png)
    assert pixels["long"] > 200 and pixels["short"] > 200, pixels


def test_a_window_without_prints_says_so_and_draws_none(data_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "quiet.png"
    out = cli("heatmap", "BTC", "--as-of", "2026-02-01T00:00", "--days", "30", "--png", png, "--json",
              "--data-dir", data_dir)
    p = out["prints"]
    assert p["count"] == 0 and p["long"] == {"count": 0, "usd": 0.0} and p["short"] == {"count": 0, "usd": 0.0}
    assert p["venues"] == {} and p["sampled"] is False and p["points"] == 0
    assert p["note"] == "no liquidation prints in the store for this period"
    # no marker drawn: a marker covers dozens of pixels; a stray anti-aliased pixel where the cyan price line
    # crosses the yellow end of the colour scale can fall in the marker colour's range
    assert all(n <= 5 for n in print_pixels(png).values()), print_pixels(png)
    text = runner.invoke(app, ["heatmap", "BTC", "--as-of", "2026-02-01T00:00", "--days", "30",
                               "--data-dir", str(data_dir)])
    assert text.exit_code == 0 and "no liquidation prints in the store for this period" in text.stdout


def test_venue_option_keeps_that_venues_prints_only(data_dir: Path) -> None:
    okx = cli("heatmap", "BTC", "--venue", "okx", "--as-of", "2026-03-05T12:00", "--days", "7", "--json",
              "--data-dir", data_dir)["prints"]
    assert okx["venue_filter"] == ["okx"] and okx["count"] == 1611
    bybit = cli("heatmap", "BTC", "--venue", "bybit", "--as-of", "2026-03-05T12:00", "--days", "7", "--json",
                "--data-dir", data_dir)["prints"]
    assert bybit["count"] == 0 and bybit["note"] == "no liquidation prints in the store for this period on bybit"


# --------------------------------------------------------------------------------------------------------
# the aggregation: point in time, sums per hour × bucket
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("asset", ["BTC", "ETH", "SOL", "DOGE"])
def test_nothing_after_the_as_of_is_read(data_dir: Path, asset: str) -> None:
    """As of the exact time of a fill in the middle of the sample's: that fill is in, every later one is out."""
    stamps = fills(asset, NOON - timedelta(days=3), NOON)["ts"].sort()
    cut = stamps[stamps.len() // 2]
    with Store(data_dir, read_only=True) as store:
        hm = asset_heatmap(store, asset, cut, days=3, venue=None, cfg=CFG).map
        got = liquidation_prints(store, asset, hm, cut)
    expected = fills(asset, hm.times[0], cut)
    assert 0 < expected.height < stamps.len()
    assert {s: (t.count, pytest.approx(t.usd, rel=1e-9)) for s, t in got.totals.items()} == side_totals(expected)
    assert got.points["t"].max() == cut and got.points["t"].min() >= hm.times[0]  # type: ignore[operator]


def test_many_prints_are_summed_per_hour_and_bucket_of_the_grid(data_dir: Path) -> None:
    with Store(data_dir, read_only=True) as store:
        hm = asset_heatmap(store, "BTC", NOON, days=3, venue=None, cfg=CFG).map
        every = liquidation_prints(store, "BTC", hm, NOON)
        summed = liquidation_prints(store, "BTC", hm, NOON, max_points=1000)
    assert not every.aggregated and every.points.height == 1611
    assert summed.aggregated and (summed.bin_hours, summed.bin_buckets) == (1, 1)
    assert summed.totals == every.totals  # totals are over every print, whatever was drawn
    # one point per (hour since the map's first hour, bucket of the map's edges, side), computed here by hand
    f = fills("BTC", hm.times[0], NOON)
    hour = ((f["ts"] - hm.times[0]).dt.total_microseconds() // 3_600_000_000).to_numpy()
    bucket = np.searchsorted(hm.edges, f["price"].to_numpy(), side="right") - 1
    groups = {(int(h), int(b), s) for h, b, s in zip(hour, bucket, f["liquidated_side"], strict=True)}
    assert summed.points.height == len(groups) < 1000
    for side in ("long", "short"):
        pts = summed.side(side)
        assert int(pts["count"].sum()) == every.totals[side].count
        assert float(pts["usd"].sum()) == pytest.approx(every.totals[side].usd, rel=1e-9)
    # each sum sits inside its hour and its bucket (USD-weighted), never after the as-of
    assert (summed.points["t"] <= NOON).all()
    lo, hi = float(f["price"].min()), float(f["price"].max())  # type: ignore[arg-type]
    assert summed.points["price"].is_between(lo, hi).all()
    assert "summed per hour × price bucket" in summed.note()


def test_coarser_bins_until_few_enough(data_dir: Path) -> None:
    with Store(data_dir, read_only=True) as store:
        hm = asset_heatmap(store, "BTC", NOON, days=3, venue=None, cfg=CFG).map
        few = liquidation_prints(store, "BTC", hm, NOON, max_points=40)
    assert few.points.height <= 40 and few.bin_hours >= 2 and few.bin_hours == few.bin_buckets
    assert int(few.points["count"].sum()) == 1611
    assert float(few.points["usd"].sum()) == pytest.approx(few.usd, rel=1e-9)


# --------------------------------------------------------------------------------------------------------
# the dashboard figure (Plotly) and the API
# --------------------------------------------------------------------------------------------------------


def values(v: Any) -> npt.NDArray[Any]:
    """A Plotly JSON array: a list, or a typed array {dtype, bdata}."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def times(v: Any) -> list[datetime]:
    return [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in values(v)]


def print_traces(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in fig["data"] if t["name"] in ("longs liquidated", "shorts liquidated")}


@pytest.mark.parametrize("when", [NOON, DAWN], ids=["noon", "dawn"])
def test_figure_draws_each_side_point_in_time(data_dir: Path, service: RadarService, when: datetime) -> None:
    client = TestClient(create_app(service), raise_server_exceptions=False)
    response = client.get("/api/assets/BTC/figures/heatmap", params={"as_of": when.isoformat()})
    assert response.status_code == 200, response.text
    fig = response.json()
    assert [t["name"] for t in fig["data"]] == [
        "liquidation map", "price", "longs liquidated", "shorts liquidated"
    ]
    expected = side_totals(fills("BTC", when - timedelta(days=90), when))
    if when == DAWN:
        assert 0 < expected["long"][0] < 611 and 0 < expected["short"][0] < 1000  # the later fills are out
    traces = print_traces(fig)
    for side, label in (("long", "longs liquidated"), ("short", "shorts liquidated")):
        t = traces[label]
        assert t["type"] == "scatter" and t["mode"] == "markers"
        x = times(t["x"])
        assert len(x) == len(values(t["y"])) == expected[side][0]
        assert max(x) <= when  # point in time: nothing after the as-of
        usd = values(t["marker"]["size"])
        assert t["marker"]["sizemode"] == "area"
        assert float(usd.sum()) == pytest.approx(expected[side][1], rel=1e-6)
        assert [c[2] for c in t["customdata"]] == ["okx"] * len(x)  # the venue, for the hover
        for shown in ("%{x", "price %{y", label, "%{customdata[0]:$,.0f}", "%{customdata[2]}"):
            assert shown in t["hovertemplate"]
    assert traces["longs liquidated"]["marker"]["color"] != traces["shorts liquidated"]["marker"]["color"]
    title = fig["layout"]["title"]["text"]
    assert f"longs liquidated {expected['long'][0]:,}" in title and "OKX prints are sampled" in title
    # the heatmap API reports the same prints
    heat = client.get("/api/assets/BTC/heatmap", params={"as_of": when.isoformat()}).json()["prints"]
    assert (heat["long"]["count"], heat["short"]["count"]) == (expected["long"][0], expected["short"][0])


def test_figure_adds_nothing_without_prints(service: RadarService) -> None:
    fig = json.loads(heatmap_figure(service, "BTC", QUIET, 30))
    assert [t["type"] for t in fig["data"]] == ["heatmap", "scatter"]
    assert "prints" not in fig["layout"]["title"]["text"]
    xrp = json.loads(heatmap_figure(service, "XRP", NOON, 90))  # an asset with no prints in the store at all
    assert [t["name"] for t in xrp["data"]] == ["liquidation map", "price"]


def test_figure_sums_many_prints_and_says_so(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prints_module, "MAX_POINTS", 300)
    svc = RadarService(data_dir, warm_heatmaps=False)  # its own, nothing cached
    try:
        fig = json.loads(heatmap_figure(svc, "BTC", NOON, 90))
    finally:
        svc.close()
    traces = print_traces(fig)
    expected = side_totals(fills("BTC", NOON - timedelta(days=90), NOON))
    drawn = 0
    for side, label in (("long", "longs liquidated"), ("short", "shorts liquidated")):
        t = traces[label]
        drawn += len(values(t["y"]))
        assert sum(c[1] for c in t["customdata"]) == expected[side][0]  # prints per sum, for the hover
        assert float(values(t["marker"]["size"]).sum()) == pytest.approx(expected[side][1], rel=1e-6)
        assert "prints summed per" in t["hovertemplate"]
        assert max(times(t["x"])) <= NOON
    assert drawn <= 300
    assert "1,611 prints summed per" in fig["layout"]["title"]["text"]
