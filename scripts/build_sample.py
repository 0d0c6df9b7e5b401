"""Build the bundled real sample (src/levradar/sample/) from ../shared/data.

Usage: python scripts/build_sample.py [SHARED_DATA_DIR]
Imports the real sets through levradar's own importers into a temporary store, then exports each canonical
dataset for BTC ETH SOL XRP DOGE on binance, bybit, okx and hyperliquid from 2025-06-01 to the end of the data.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from levradar.ingest.files import export_frame
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store

ASSETS = frozenset({"BTC", "ETH", "SOL", "XRP", "DOGE"})
VENUES = frozenset({"binance", "bybit", "okx", "hyperliquid"})
START = datetime(2025, 6, 1, tzinfo=UTC)
OUT = Path(__file__).resolve().parents[1] / "src" / "levradar" / "sample"


def main(shared: Path) -> None:
    filters = Filters(assets=ASSETS, venues=VENUES, start=START)
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "perp-panels", shared / "perp-panels", filters)
        # liquidation fills start 2025-05-25: take them whole
        import_source(
            store,
            "multivenue-2025",
            shared / "multivenue-2025",
            Filters(assets=ASSETS, venues=VENUES, start=datetime(2025, 5, 1, tzinfo=UTC)),
        )
        OUT.mkdir(parents=True, exist_ok=True)
        for name in ("candles", "funding", "open_interest", "liquidations", "mark_index"):
            frame = export_frame(store, name, venues=None, symbols=None, start=None, end=None)
            derived = [c for c in ("rate_1h", "rate_8h", "apr", "basis") if c in frame.columns]
            frame.drop(derived).write_parquet(
                OUT / f"{name}.parquet", compression="zstd", compression_level=19
            )
            print(f"{name}: {frame.height} rows, {(OUT / f'{name}.parquet').stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
