"""The cold asset page of two or more source trees, side by side: one `levradar serve` per tree on one store, cold
loads (a new browser profile each) alternated between them round by round, the order rotated every round so no
tree always goes first. Prints JSON: per tree, the medians of the page's times from navigation start (ms).

A change to the dashboard is judged by the difference on the same machine at the same moment, not by absolute
times on a machine that other jobs share. Each tree must have the page's performance marks (asset.js).

Run: python bench/bench_page_variants.py --data-dir D [--runs 15] [--path /assets/BTC] SRC SRC ...
where SRC is a tree's `src` folder, e.g. `git archive COMMIT src | tar -x -C /tmp/before` → /tmp/before/src.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_api import page_marks, start, wait_idle
from timing import machine

from levradar.web import CHROMIUM_ARGS, chromium_path


def serve(src: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`levradar serve` from ``src``, once its start-up warm-up has finished."""
    proc, url = start(data_dir, src)
    try:
        wait_idle(url, timeout_s=180)
    except SystemExit:
        proc.kill()
        raise
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("srcs", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--path", default="/assets/BTC")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    servers = [(str(src), *serve(src, args.data_dir)) for src in args.srcs]
    times: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in servers}
    try:
        time.sleep(5)  # the first server's warm-up is over; let the last one's settle too
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for r in range(args.runs):
                k = r % len(servers)
                for name, _, url in servers[k:] + servers[:k]:
                    context = browser.new_context(viewport={"width": 1400, "height": 1600})
                    page = context.new_page()
                    page.goto(url + args.path)
                    page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
                    times[name].append(page_marks(page))
                    context.close()
            browser.close()
    finally:
        for _, proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=20)
    out: dict[str, Any] = {
        name: {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0] if not k.endswith("_kb")}
        for name, rows in times.items()
    }
    print(
        json.dumps({"cold_page": out, "runs": args.runs, "path": args.path, "machine": machine()}, indent=2)
    )


if __name__ == "__main__":
    main()
