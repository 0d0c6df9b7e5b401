"""Per-asset work, run locally or fanned out over a Dask distributed cluster (``--cluster`` / ``LEVRADAR_DASK``).

Workers open the store themselves, read-only, from the same path: the cluster must see the data directory (one
machine, or a shared filesystem). Results come back in the order of the inputs, so a cluster run and a local run
give identical output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def cluster_address(cli_value: str | None) -> str | None:
    return cli_value or os.environ.get("LEVRADAR_DASK") or None


def fan_out(fn: Callable[..., T], items: Sequence[Any], *args: Any, cluster: str | None = None) -> list[T]:
    """``[fn(item, *args) for item in items]``, on the Dask cluster at ``cluster`` when given."""
    if not cluster:
        return [fn(item, *args) for item in items]
    from distributed import Client  # only when scaling out

    with Client(cluster, timeout="30s") as client:  # type: ignore[no-untyped-call]
        futures = client.map(fn, list(items), *[[a] * len(items) for a in args], pure=False)
        return list(client.gather(futures))


def scan_one(asset: str, data_dir: str, as_of: datetime, config: str | None) -> list[dict[str, Any]]:
    """One asset's radar read (opens the store itself, read-only)."""
    from levradar.analytics.config import load_config
    from levradar.analytics.scan import scan
    from levradar.store import Store

    with Store(data_dir, read_only=True) as store:
        return scan(store, as_of, [asset], load_config(config))


def scan_distributed(
    data_dir: Path, assets: Sequence[str], as_of: datetime, config: Path | None, cluster: str
) -> list[dict[str, Any]]:
    """The scan with one task per asset on the cluster; sorted as :func:`levradar.analytics.scan.scan` sorts."""
    parts = fan_out(
        scan_one, list(assets), str(data_dir), as_of, str(config) if config else None, cluster=cluster
    )
    reads = [r for part in parts for r in part]
    return sorted(reads, key=lambda x: -(x["scores"]["lsi"] or -1.0))
