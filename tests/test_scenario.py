"""Scenarios and the heatmap picture on the bundled real sample."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from levradar.analytics.scenario import Book, scenario
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.store import Store

AS_OF = "2025-10-10T18:00"
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("scenario") / "store"
    with Store(d) as store:
        import_source(store, "sample", Path("."))
    yield d


def run(*args: object) -> dict[str, object]:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_static_forced_flow_equals_the_map_between_price_and_target(data_dir: Path) -> None:
    heat = run("heatmap", "BTC", "--as-of", AS_OF, "--json", "--data-dir", data_dir)
    out = run(
        "scenario", "BTC", "--as-of", AS_OF, "--move", "-2%", "--move", "2%", "--json", "--data-dir", data_dir
    )
    price = out["price"]
    assert price == heat["price"]
    down, up = out["scenarios"]  # type: ignore[misc]
    buckets = heat["buckets"]
    below = sum(b["long_usd"] for b in buckets if price * 0.98 < b["price"] <= price)  # type: ignore[index,union-attr]
    above = sum(b["short_usd"] for b in buckets if price <= b["price"] < price * 1.02)  # type: ignore[index,union-attr]
    assert down["forced_usd"] == pytest.approx(below, rel=1e-9)
    assert up["forced_usd"] == pytest.approx(above, rel=1e-9)
    assert heat["cumulative"]["2%"]["below_long_usd"] == pytest.approx(below, rel=1e-9)  # type: ignore[index]
    for s, sign in ((down, -1), (up, 1)):
        cascade = s["cascade"]
        assert (
            sign * cascade["final_move_pct"] >= abs(s["move_pct"]) - 1e-9
        )  # forced flow never reverses a move
        assert cascade["amplification"] >= 1.0
        assert cascade["forced_usd_total"] >= s["forced_usd"]
        assert cascade["impact_per_usd"] > 0


def test_cascade_reaches_the_next_pocket_when_impact_is_large() -> None:
    centers = np.array([90.0, 95.0, 96.0, 97.0, 99.0, 101.0])
    longs = np.array([5e6, 4e6, 0.5e6, 3e6, 1e6, 0.0])
    dense = longs >= 3e6  # two pockets: {97} and {90, 95}
    book = Book(centers, longs, np.zeros(6), 100.0, dense, np.zeros(6, dtype=bool))
    quiet = scenario(book, -0.02, impact=1e-12)  # 1 $M moves price by 0.0001 %: no cascade
    assert quiet["forced_usd"] == 1e6 and quiet["cascade"]["steps"] == 0
    assert quiet["pockets_hit"] == []
    assert quiet["cascade"]["amplification"] == pytest.approx(1.0)
    loud = scenario(book, -0.02, impact=2e-8)  # 1 $M moves price by 2 %: 98 → 96.04 → 90.28 → 82.1 → …
    assert loud["cascade"]["final_move_pct"] < -10.0
    ignited = loud["cascade"]["pockets_ignited"]
    assert [round(p["price"], 2) for p in ignited] == [97.0, round((90 * 5 + 95 * 4) / 9, 2)]
    assert loud["cascade"]["forced_usd_total"] == pytest.approx(1e6 + 3e6 + 0.5e6 + 4e6 + 5e6)
    assert scenario(book, 0.02, impact=2e-8)["forced_usd"] == 0.0  # no shorts: a rise liquidates nothing


def test_bad_moves_are_refused(data_dir: Path) -> None:
    for bad in ("abc", "0%", "-95%", "60%", "5"):  # 5 = +500 %: beyond the ±50 % of the API too
        result = runner.invoke(app, ["scenario", "BTC", "--move", bad, "--data-dir", str(data_dir)])
        assert result.exit_code == 2
        assert "--move" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_heatmap_png_is_drawn(data_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "btc.png"
    out = run(
        "heatmap", "BTC", "--as-of", AS_OF, "--days", "30", "--png", png, "--json", "--data-dir", data_dir
    )
    assert out["png"] == str(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 400


def test_heatmap_grid_json(data_dir: Path) -> None:
    out = run("heatmap", "BTC", "--as-of", AS_OF, "--days", "7", "--grid", "--json", "--data-dir", data_dir)
    grid = out["grid"]
    assert isinstance(grid, dict)
    times, prices = grid["times"], grid["prices"]
    assert len(times) == 7 * 24 + 1 and times[-1] == "2025-10-10T18:00:00Z"
    assert prices == sorted(prices) and len(prices) > 100
    long_usd, short_usd = np.array(grid["long_usd"]), np.array(grid["short_usd"])
    assert long_usd.shape == short_usd.shape == (len(times), len(prices))
    # the last row is the current map: it matches the listed buckets and (all inside the range) the OI in USD
    listed = {round(b["price"], 6): b["long_usd"] for b in out["buckets"]}  # type: ignore[union-attr,index]
    for price, usd in zip(prices, long_usd[-1], strict=True):
        if round(price, 6) in listed:
            assert usd == pytest.approx(listed[round(price, 6)], abs=0.01)
    # each side's levels (all buckets) plus its hedged reserve is the one-sided OI; the grid shows a subset
    for side in ("long", "short"):
        assert out[f"total_{side}_usd"] + out[f"reserve_{side}_usd"] == pytest.approx(out["oi_usd"], rel=1e-6)
    assert long_usd[-1].sum() <= out["total_long_usd"] * (1 + 1e-9)
    assert grid["close"][-1] == pytest.approx(out["price"])
