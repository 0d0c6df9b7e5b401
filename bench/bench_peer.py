"""Side by side with an open-source peer engine on the same real input; prints JSON.

Usage: python bench/bench_peer.py [--repeats 5] [--peer-python /tmp/peer-venv/bin/python] [--only levradar]

The peer is liquidator-indicator (PyPI, MIT), which infers liquidation zones from public trades, funding and OI;
it runs in its own interpreter (``--peer-python``, default this one) so its dependencies never enter levradar's:
    python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install liquidator-indicator==0.1.2
Without it the benchmark exits 2 with that line; ``--only levradar`` runs levradar's side alone.

One input: Bybit BTCUSDT, the 90 days of hourly bars up to 2025-10-11 02:00 UTC (hours after the 2025-10-10
cascade) with the funding and OI known at each close, read from the bundled sample imported into a temporary store.
- levradar: that frame through the liquidation model (``simulate_market``, the current map only) and its summary
  (nearest pockets, cumulative USD); also the same map as ``heatmap BTC --venue bybit --as-of T`` computes it,
  read from the DuckDB store.
- the peer (its documented input, mapped by ``peer_input``): each hourly bar is one trade at its close, its size
  the bar's volume in BTC, its side the bar's direction (down: 'A', a seller; up or flat: 'B'); the bars as its
  candles (ATR bands); the funding rate (per Bybit's 8 h settlement) and OI (BTC) as its funding rows. Two of its
  defaults are made to fit hourly history: ``cutoff_hours=None`` (else it drops trades older than 48 h before the
  wall clock, i.e. all of them) and ``liq_size_threshold`` = 2 × the median hourly volume (its 0.1 BTC is meant for
  single trades: every hourly bar would pass). Timed: ``Liquidator`` → funding, candles, trades → ``compute_zones``.
In process, each engine gets an untimed warm-up call (the peer's numba kernels), then --repeats rounds of 4 calls
of levradar's and 4 of the peer's (kept waiting in its interpreter) in turn, so that a busy machine weighs on both
alike: medians of the 4 × --repeats calls. End to end, a fresh process per run (`levradar heatmap ...` on the store,
the peer's script on the same rows as CSV), one untimed run of each, then --repeats rounds of the two in turn:
medians; the 1-minute load average at start and end is printed beside them. The ratios are the peer's wall time
over levradar's on the same input — not a comparison of what they compute (a modelled liquidation book against
zones of high-volume bars).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, median_s

if TYPE_CHECKING:
    import polars as pl

    from levradar.store import Store

PEER, PEER_MODULE, PEER_VERSION = "liquidator-indicator", "liquidator_indicator", "0.1.2"
INSTALL = f"python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install {PEER}=={PEER_VERSION}"
ASSET, VENUE, DAYS = "BTC", "bybit", 90
AS_OF = datetime(2025, 10, 11, 2, tzinfo=UTC)


def process_medians_s(argvs: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """Median wall time of a fresh process per command, from start to exit: one untimed run of each (the file
    cache), then the commands in turn, so that a busy machine weighs on each alike."""
    from bench_cli import wall_s  # levradar's side only: bench_cli imports levradar

    times: dict[str, list[float]] = {name: [] for name in argvs}
    for argv in argvs.values():
        wall_s(argv)
    for _ in range(repeats):
        for name, argv in argvs.items():
            times[name].append(wall_s(argv))
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def peer_importable(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", f"import {PEER_MODULE}"], capture_output=True).returncode == 0
    except OSError:
        return False


def nearest(levels: list[tuple[float, dict[str, Any]]], price: float) -> dict[str, Any]:
    """The level nearest below and above ``price`` among (price, details) pairs, with its distance in %."""

    def pick(cands: list[tuple[float, dict[str, Any]]], best: Any) -> dict[str, Any] | None:
        if not cands:
            return None
        p, details = best(cands, key=lambda c: c[0])
        return {"price": round(p, 1), "distance_pct": round((p / price - 1) * 100, 2), **details}

    return {
        "below": pick([c for c in levels if c[0] < price], max),
        "above": pick([c for c in levels if c[0] > price], min),
    }


# ---- the peer's side: runs in the peer's interpreter (pandas and liquidator_indicator only) ----


def call_times(fn: Callable[[], object], n: int) -> list[float]:
    """Wall-clock seconds of each of ``n`` calls of ``fn``."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def peer_side(csv: Path, serve: bool) -> None:
    """The peer's zones on the rows of ``csv`` (the columns ``peer_input`` writes), printed as one JSON line; with
    ``serve``, then for each line N read from stdin, the wall times of N more runs as a JSON line."""
    import liquidator_indicator
    import pandas as pd
    from liquidator_indicator import Liquidator

    hours = pd.read_csv(csv)
    trades = hours[["time", "px", "sz", "side"]]
    candles = hours[["high", "low", "close"]]
    funding = pd.DataFrame(
        {
            "symbol": ASSET,
            "funding_rate": hours["funding_rate"],
            "open_interest": hours["open_interest"],
            "timestamp": pd.to_datetime(hours["time"], unit="ms", utc=True),
        }
    )
    threshold = 2 * float(trades["sz"].median())

    def zones() -> pd.DataFrame:
        liq = Liquidator(ASSET, liq_size_threshold=threshold, cutoff_hours=None)
        liq.ingest_funding_rates(funding)  # before the trades: they are classified as they are ingested
        liq.update_candles(candles)
        liq.ingest_trades(trades)
        return liq.compute_zones()

    found = zones()  # also the warm-up: numba compiles its kernels or loads them from its cache
    price = float(hours["px"].iloc[-1])
    levels = [
        (
            float(z.price_mean),
            {"usd": round(float(z.total_usd)), "bars": int(z["count"]), "side": z.dominant_side},
        )
        for _, z in found.iterrows()
    ]
    info = {
        "name": PEER,
        "version": liquidator_indicator.__version__,
        "python": platform.python_version(),
        "params": {"liq_size_threshold_btc": round(threshold, 3), "cutoff_hours": None},
        "zones": len(found),
        "bars_in_zones": int(found["count"].sum()),
        "levels": nearest(levels, price),
    }
    print(json.dumps(info), flush=True)
    for line in sys.stdin if serve else ():
        print(json.dumps(call_times(zones, int(line))), flush=True)


# ---- levradar's side ----


def peer_input(frame: pl.DataFrame) -> pl.DataFrame:
    """levradar's hourly market frame in the peer's documented formats: trades (time in ms, px, sz in coin, side
    'A'/'B'), candles (high, low, close) and funding rows (funding_rate per settlement, open_interest in coin)."""
    import polars as pl

    return frame.sort("t").select(
        time=pl.col("t").dt.epoch("ms"),
        px=pl.col("close"),
        sz=pl.col("volume_usd") / pl.col("close"),
        side=pl.when(pl.col("close").diff() < 0).then(pl.lit("A")).otherwise(pl.lit("B")),
        high=pl.col("high"),
        low=pl.col("low"),
        close=pl.col("close"),
        funding_rate=pl.col("rate_8h"),
        open_interest=pl.col("oi_base"),
    )


def levradar_side(
    store: Store, frame: pl.DataFrame, repeats: int
) -> tuple[dict[str, Any], Callable[[], object]]:
    """levradar's map of ``frame``: what it says and the engine call (the model and its summary), with the median
    time of the same map read from ``store`` as the CLI computes it."""
    from levradar import __version__
    from levradar.analytics.heatmap import (
        asset_heatmap,
        load_heatmap_config,
        price_edges,
        simulate_market,
        summarize,
    )

    cfg = load_heatmap_config()
    edges = price_edges(float(frame["low"].min()), float(frame["high"].max()), cfg)  # type: ignore[arg-type]

    def engine() -> dict[str, object]:
        return summarize(simulate_market(frame, edges, cfg, record=False), cfg)

    def from_store() -> dict[str, object]:
        ah = asset_heatmap(store, ASSET, AS_OF, days=DAYS, venue=VENUE, cfg=cfg, grid=False)
        return summarize(ah.map, cfg)

    summary: dict[str, Any] = engine()
    levels = [
        (float(summary[key]["price"]), {"usd": round(summary[key]["usd"]), "side": side})
        for key, side in (("nearest_below", "long"), ("nearest_above", "short"))
        if summary[key] is not None
    ]
    info = {
        "version": __version__,
        "buckets": cfg.buckets,
        "point_in_time_from_store_median_s": round(median_s(from_store, repeats), 4),
        "levels": nearest(levels, float(summary["price"])),
    }
    return info, engine


def ask(peer: subprocess.Popen[str], n: int) -> list[float]:
    """The wall times of ``n`` more runs of the serving peer."""
    assert peer.stdin is not None and peer.stdout is not None
    peer.stdin.write(f"{n}\n")
    peer.stdin.flush()
    line = peer.stdout.readline()
    if not line:
        raise SystemExit(f"bench_peer: the peer's run stopped (exit {peer.wait()}); its error is above")
    times: list[float] = json.loads(line)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--peer-python", default=sys.executable, help="The interpreter the peer is installed in."
    )
    parser.add_argument("--only", choices=["levradar"], help="Run levradar's side alone (no peer needed).")
    parser.add_argument("--peer-side", type=Path, help=argparse.SUPPRESS)  # internal: the peer's run on a CSV
    parser.add_argument(
        "--serve", action="store_true", help=argparse.SUPPRESS
    )  # internal: then time on request
    args = parser.parse_args()
    if args.peer_side:
        peer_side(args.peer_side, args.serve)
        return
    with_peer = args.only is None
    if with_peer and not peer_importable(args.peer_python):
        print(
            f"bench_peer: the peer {PEER} is not importable by {args.peer_python}; install it in its own venv "
            f"({INSTALL}) and pass --peer-python /tmp/peer-venv/bin/python, or run --only levradar",
            file=sys.stderr,
        )
        raise SystemExit(2)

    from levradar.analytics.series import load_markets
    from levradar.ingest.run import import_source
    from levradar.store import Store

    exe = shutil.which("levradar") or str(Path(sys.executable).with_name("levradar"))
    out: dict[str, Any] = {
        "machine": machine(),
        "load_average_1m": [os.getloadavg()[0]],
        "repeats": args.repeats,
    }
    command = ["heatmap", ASSET, "--venue", VENUE, "--as-of", f"{AS_OF:%Y-%m-%dT%H:%M}"]
    with tempfile.TemporaryDirectory() as tmp:
        with Store(tmp) as store:
            import_source(store, "sample", Path("."))
            frame = load_markets(store, AS_OF - timedelta(days=DAYS), AS_OF, [ASSET], [VENUE], hourly=True)
            out["input"] = {
                "market": f"{VENUE} {frame['symbol'][0]}",
                "as_of": AS_OF.isoformat(),
                "days": DAYS,
                "hours": frame.height,
            }
            ours, engine = levradar_side(store, frame, args.repeats * 4)
        out["levradar"] = ours | {"command": "levradar " + " ".join(command)}
        processes = {"levradar": [exe, *command, "--data-dir", tmp]}
        times: dict[str, list[float]] = {"levradar": []}
        csv = Path(tmp) / "peer_input.csv"
        run = [args.peer_python, __file__, "--peer-side", str(csv)]
        peer = None
        if with_peer:
            peer_input(frame).write_csv(csv)
            peer = subprocess.Popen(
                [*run, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert peer.stdout is not None
            first = peer.stdout.readline()  # after its warm-up run
            if not first:
                raise SystemExit(
                    f"bench_peer: the peer's run failed (exit {peer.wait()}); its error is above"
                )
            out["peer"] = json.loads(first) | {
                "command": f"{args.peer_python} bench/bench_peer.py --peer-side INPUT.csv"
            }
            processes["peer"] = run
            times["peer"] = []
        # in process, rounds of 4 calls of each engine in turn (a busy machine weighs on both alike)
        engine()
        for _ in range(args.repeats):
            times["levradar"] += call_times(engine, 4)
            if peer:
                times["peer"] += ask(peer, 4)
        if peer:
            peer.communicate()  # end of its input: it exits
        for name, median in process_medians_s(processes, args.repeats).items():
            out[name]["engine_median_s"] = round(statistics.median(times[name]), 4)
            out[name]["process_median_s"] = median
    out["load_average_1m"].append(os.getloadavg()[0])
    if with_peer:
        out["peer_over_levradar"] = {
            k: round(out["peer"][k] / out["levradar"][k], 1) for k in ("engine_median_s", "process_median_s")
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
