"""Hourly radar reads of every asset over a store's whole history (``levradar history``), optionally cached.

The label scripts (regime_runs.py, label_rates.py) read the same histories; ``--cache DIR`` keeps them as Parquet
per asset so a second script does not recompute them. A cache is keyed by store, asset and window only: clear it
after changing the code or the configuration.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from levradar.analytics.scan import history
from levradar.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--assets", default="BTC,ETH,SOL,XRP,DOGE")
    parser.add_argument("--from", dest="start", default=None)
    parser.add_argument("--to", dest="end", default=None)
    parser.add_argument("--cache", type=Path, default=None, help="keep the histories here as Parquet")


def histories(args: argparse.Namespace) -> dict[str, pl.DataFrame]:
    """Per asset: its hourly history between --from and --to (default: all of its 1h candles)."""
    out: dict[str, pl.DataFrame] = {}
    with Store(args.data_dir, read_only=True) as store:
        for asset in args.assets.split(","):
            bounds = store.query(
                "SELECT min(ts) AS a, max(ts) AS b FROM candles WHERE asset = ? AND \"interval\" = '1h'", [asset]
            )
            if bounds["a"][0] is None:
                continue
            start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else bounds["a"][0]
            end = datetime.fromisoformat(args.end).replace(tzinfo=UTC) if args.end else bounds["b"][0]
            cached = _cache_path(args, asset, start, end)
            if cached is not None and cached.exists():
                out[asset] = pl.read_parquet(cached)
                continue
            out[asset] = history(store, asset, start, end, models=False)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                out[asset].write_parquet(cached)
    return out


def _cache_path(args: argparse.Namespace, asset: str, start: datetime, end: datetime) -> Path | None:
    if args.cache is None:
        return None
    store = str(Path(args.data_dir).resolve()).strip("/").replace("/", "_")
    return Path(args.cache) / f"{store}-{asset}-{start:%Y%m%d%H}-{end:%Y%m%d%H}.parquet"
