"""Command start-up and end-to-end wall time on the demo store; prints JSON.

Usage: python bench/bench_cli.py [--repeats 5]
The bundled sample is imported into a temporary store (what `make demo` builds), then each command runs as a user
runs it — a fresh `levradar` process, output to a pipe — once untimed (the operating system's file cache), then
--repeats times: medians of the wall time from process start to exit. `--version` and `--help` load no analytics;
`scan`, `heatmap BTC` and `memo BTC` read the store and run the model (its kernel compiled at install).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine

from levradar.ingest.run import import_source
from levradar.store import Store

COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "scan": ["scan"],
    "heatmap_btc": ["heatmap", "BTC"],
    "memo_btc": ["memo", "BTC", "--no-journal"],
}


def wall_s(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("levradar") or str(Path(sys.executable).with_name("levradar"))
    out: dict[str, object] = {"machine": machine(), "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        with Store(tmp) as store:
            import_source(store, "sample", Path("."))
        for name, command in COMMANDS.items():
            argv = [exe, *command] + (
                ["--data-dir", tmp] if command[0] not in ("--version", "--help") else []
            )
            wall_s(argv)  # warm-up
            out[f"{name}_median_s"] = round(statistics.median(wall_s(argv) for _ in range(args.repeats)), 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
