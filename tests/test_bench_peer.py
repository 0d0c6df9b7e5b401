"""bench/bench_peer.py: the clear exit without the peer, levradar's side alone on the real sample, and the mapping of
levradar's hourly frame to the peer's documented input."""

from __future__ import annotations

import importlib
import importlib.util
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).parent.parent
BENCH = ROOT / "bench" / "bench_peer.py"
sys.path.insert(0, str(BENCH.parent))
bench_peer = importlib.import_module("bench_peer")


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_without_the_peer_it_exits_2_with_the_install_line() -> None:
    # the peer never enters levradar's environment: it runs in its own interpreter
    assert importlib.util.find_spec("liquidator_indicator") is None
    for args in ((), ("--peer-python", str(ROOT / "no-such-python"))):
        done = run_bench(*args, "--repeats", "1")
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("bench_peer: the peer liquidator-indicator is not importable by ")
        assert "pip install liquidator-indicator==0.1.2" in line
        assert "--peer-python /tmp/peer-venv/bin/python" in line and "--only levradar" in line


def test_levradar_side_alone_on_the_real_sample() -> None:
    done = run_bench("--only", "levradar", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"machine", "load_average_1m", "repeats", "input", "levradar"}  # no peer, no ratio
    assert out["machine"]["cpus"] >= 1
    assert out["input"] == {
        "market": "bybit BTCUSDT",
        "as_of": "2025-10-11T02:00:00+00:00",
        "days": 90,
        "hours": 90 * 24 + 1,
    }
    ours = out["levradar"]
    assert ours["command"] == "levradar heatmap BTC --venue bybit --as-of 2025-10-11T02:00"
    for key in ("engine_median_s", "point_in_time_from_store_median_s", "process_median_s"):
        assert ours[key] > 0
    below, above = ours["levels"]["below"], ours["levels"]["above"]
    # longs are liquidated below the price, shorts above; hours after the 2025-10-10 cascade BTC was near 111 k
    assert below["side"] == "long" and above["side"] == "short"
    assert 90_000 < below["price"] < 111_100 < above["price"] < 130_000
    assert below["distance_pct"] < 0 < above["distance_pct"]
    assert below["usd"] > 0 and above["usd"] > 0


hours = st.lists(
    st.tuples(
        st.floats(1.0, 1e6, allow_nan=False),
        st.floats(0.0, 1e10, allow_nan=False),
        st.one_of(st.none(), st.floats(-0.01, 0.01)),
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=50, deadline=None)
@given(hours, st.randoms(use_true_random=False))
def test_peer_input_is_the_same_hours_in_the_peers_units(
    rows: list[tuple[float, float, float | None]], rng: random.Random
) -> None:
    t0 = datetime(2025, 10, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "t": [t0 + timedelta(hours=i) for i in range(len(rows))],
            "close": [c for c, _, _ in rows],
            "high": [c * 1.01 for c, _, _ in rows],
            "low": [c * 0.99 for c, _, _ in rows],
            "volume_usd": [v for _, v, _ in rows],
            "rate_8h": [f for _, _, f in rows],
            "oi_base": [float(i) for i in range(len(rows))],
        },
        schema_overrides={"rate_8h": pl.Float64},
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 2**31))
    got = bench_peer.peer_input(shuffled)
    assert got.height == frame.height
    # in time order, time in ms since the epoch, price the close, size in coin (size × price = the bar's USD)
    assert got["time"].to_list() == [
        int((t0 + timedelta(hours=i)).timestamp() * 1000) for i in range(len(rows))
    ]
    assert got["px"].to_list() == frame["close"].to_list() == got["close"].to_list()
    for sz, px, usd in zip(got["sz"], got["px"], frame["volume_usd"], strict=True):
        assert abs(sz * px - usd) <= 1e-9 * max(usd, 1.0)
    # a seller ('A') exactly where the close fell, otherwise a buyer ('B'); funding per settlement, OI in coin
    closes = frame["close"].to_list()
    assert got["side"].to_list() == [
        "A" if i and closes[i] < closes[i - 1] else "B" for i in range(len(closes))
    ]
    assert got["funding_rate"].to_list() == frame["rate_8h"].to_list()
    assert got["open_interest"].to_list() == frame["oi_base"].to_list()


@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), max_size=30), st.floats(1.0, 1e6, allow_nan=False))
def test_nearest_levels_are_the_closest_on_each_side(levels: list[float], price: float) -> None:
    got = bench_peer.nearest([(p, {"i": i}) for i, p in enumerate(levels)], price)
    below, above = [p for p in levels if p < price], [p for p in levels if p > price]
    assert (got["below"] is None) == (not below) and (got["above"] is None) == (not above)
    if below:
        assert got["below"]["price"] == round(max(below), 1) and levels[got["below"]["i"]] == max(below)
        assert got["below"]["distance_pct"] <= 0
    if above:
        assert got["above"]["price"] == round(min(above), 1) and levels[got["above"]["i"]] == min(above)
        assert got["above"]["distance_pct"] >= 0
