"""`levradar serve` under load, and the asset page in headless Chromium. Prints JSON.

- /api/radar: an open-loop load generator (requests sent on a fixed schedule, whatever the answers do) at
  --rate requests/s for --seconds against a real `levradar serve` subprocess on 127.0.0.1; latency is measured
  from each request's scheduled time (queueing included: no coordinated omission). p50/p99/max in ms.
- a mixed load at --mixed-rate requests/s: radar, an asset read, a heatmap, scenarios and a chart in turn over the
  bundled assets, per endpoint and overall, with the p99 of the first and the last quarter of the run (a growing
  queue shows as the last quarter's p99 far above the first's).
Both loads start only after the server's start-up warm-up has finished (`/api/health` reports no background job).
- a year's heatmap with its grid (`/api/assets/BTC/heatmap?days=365&grid=true`): first request (the model run over
  the year) and the next (the cached JSON), with the response size.
- the asset page /assets/BTC in headless Chromium (1400 × 1600 px), cold (a new browser profile: nothing cached,
  plotly.js compiled for the first time) and warm (the same page opened again in that profile), medians over
  --pages runs, each a time from navigation start: `plotly_ready_ms` (plotly.js downloaded and run: asset.js
  starts), `heatmap_decoded_ms` (the 90-day heatmap figure's JSON parsed), `heatmap_drawn_ms` (Plotly.newPlot of
  the heatmap resolved), `page_drawn_ms` (every panel: cards, tables, memo and the four charts); with the size of
  the heatmap figure and of plotly.js (KiB).

Run: python bench/bench_api.py [--rate 200] [--mixed-rate 50] [--seconds 20] [--pages 5] [--data-dir D]
(without --data-dir the bundled sample is imported into a temporary store).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine

from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store
from levradar.web import CHROMIUM_ARGS, chromium_path


def start(data_dir: Path, src: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A `levradar serve` subprocess on a free loopback port (the code under ``src`` when given), once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "levradar.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env={**os.environ, "PYTHONPATH": str(src)} if src is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/api/radar", timeout=30):  # also computes the first radar
                return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("serve did not start")


def wait_idle(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "/api/health", timeout=10) as response:
            if not json.loads(response.read())["busy"]:
                return
        time.sleep(0.5)
    raise SystemExit(f"serve was still warming up after {timeout_s:.0f} s: the loads would time the warm-up")


def _quantiles(latencies_s: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
    }


async def load(url: str, rate: float, seconds: float, paths: list[str]) -> dict[str, Any]:
    """Open loop: request i goes out at t0 + i/rate for ``paths[i % len(paths)]``; latency from its due time."""
    done: list[tuple[int, str, float]] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(i: int, due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            path = paths[i % len(paths)]
            try:
                response = await client.get(path)
                response.raise_for_status()
                done.append((i, path, time.perf_counter() - due))
            except httpx.HTTPError:
                errors += 1

        t0 = time.perf_counter() + 0.2
        n = int(rate * seconds)
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
    out: dict[str, Any] = {"requests": n, "errors": errors, "rate_per_s": rate}
    out |= _quantiles([lat for _, _, lat in done])
    if len(paths) > 1:
        out["by_endpoint"] = {
            p: _quantiles([lat for _, q, lat in done if q == p])
            for p in paths
            if any(q == p for _, q, _ in done)
        }
        quarter = n // 4
        out["p99_first_quarter_ms"] = _quantiles([lat for i, _, lat in done if i < quarter])["p99_ms"]
        out["p99_last_quarter_ms"] = _quantiles([lat for i, _, lat in done if i >= n - quarter])["p99_ms"]
    return out


MIXED = [
    "/api/radar",
    "/api/assets/{asset}",
    "/api/assets/{asset}/heatmap",
    "/api/assets/{asset}/scenarios",
    "/api/assets/{asset}/figures/funding",
]


def mixed_paths(assets: list[str]) -> list[str]:
    return [p.format(asset=a) for a in assets for p in MIXED]


def year_grid(url: str) -> dict[str, Any]:
    """The year's heatmap with its grid: the first request computes it, the second is served from the cache."""
    out: dict[str, Any] = {}
    for name in ("first", "cached"):
        t0 = time.perf_counter()
        with urllib.request.urlopen(
            url + "/api/assets/BTC/heatmap?days=365&grid=true", timeout=120
        ) as response:
            body = response.read()
        out[f"{name}_s"] = round(time.perf_counter() - t0, 3)
    out["mb"] = round(len(body) / 2**20, 2)
    return out


MARKS = {  # what the page marks (asset.js), by the name the benchmark reports
    "plotly_ready_ms": "lr:plotly-ready",
    "heatmap_decoded_ms": "lr:heatmap-decoded",
    "heatmap_drawn_ms": "lr:heatmap-drawn",
}


def page_marks(page: Any) -> dict[str, float]:
    """The page's times from navigation start (ms), and the bytes of the heatmap figure and plotly.js."""
    times: dict[str, float] = page.evaluate(
        "marks => Object.fromEntries(Object.entries(marks).map(([k, m]) => [k, "
        "performance.getEntriesByName(m)[0].startTime]))",
        MARKS,
    )
    times["page_drawn_ms"] = float(page.evaluate("window.levradarDrawnMs"))
    sizes = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('resource').map(e => [e.name, e.encodedBodySize]))"
    )
    times["heatmap_kb"] = next(v for k, v in sizes.items() if k.endswith("/figures/heatmap")) / 1024
    times["plotly_kb"] = next(v for k, v in sizes.items() if "/vendor/plotly" in k) / 1024
    return times


def page_times(url: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    runs_by: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1400, "height": 1600})  # a fresh profile: cold
            page = context.new_page()
            for bucket in runs_by.values():
                page.goto(url + "/assets/BTC")
                page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
                bucket.append(page_marks(page))
            context.close()
        browser.close()
    out: dict[str, Any] = {
        name: {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0] if not k.endswith("_kb")}
        for name, rows in runs_by.items()
    }
    out["heatmap_figure_kb"] = round(runs_by["cold"][0]["heatmap_kb"])
    out["plotly_js_kb"] = round(runs_by["cold"][0]["plotly_kb"])
    out["runs"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--mixed-rate", type=float, default=50.0)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp)
            with Store(data_dir) as store:
                import_source(store, "sample", Path("."), Filters())
        proc, url = start(data_dir)
        try:
            wait_idle(url)  # the start-up warm-up (heatmaps, charts) finished, as on a running server
            radar = asyncio.run(load(url, args.rate, args.seconds, ["/api/radar"]))
            with urllib.request.urlopen(url + "/api/radar", timeout=30) as response:
                assets = sorted({r["asset"] for r in json.loads(response.read())["assets"]})
            mixed = asyncio.run(load(url, args.mixed_rate, args.seconds, mixed_paths(assets)))
            year = year_grid(url)
            pages = page_times(url, args.pages)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(
        json.dumps(
            {
                "api_radar": radar,
                "mixed": mixed,
                "year_grid": year,
                "asset_page": pages,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
