"""Cut the small real slices under tests/fixtures from ../shared/data (run once; the slices are committed).

Each slice keeps its source's file layout and names so the real importers read it unchanged.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures"


def _window(df: pl.DataFrame, col: str, start: str, end: str) -> pl.DataFrame:
    tz = df.schema[col].time_zone  # type: ignore[union-attr]
    lo, hi = (datetime.fromisoformat(x) for x in (start, end))
    return df.filter(
        pl.col(col).is_between(pl.lit(lo).dt.replace_time_zone(tz), pl.lit(hi).dt.replace_time_zone(tz))
    )


def main(shared: Path) -> None:
    pp, dst = shared / "perp-panels", OUT / "perp-panels"
    panels = {
        "binance_SOL_2020-08-11_2026-03-06.parquet": [("2022-11-07", "2022-11-20")],
        "binance_BTC_2020-01-01_2026-03-06.parquet": [("2025-10-08", "2025-10-12")],
        "bybit_BTC_2020-03-25_2026-03-06.parquet": [("2021-05-17", "2021-05-21")],
        "hyperliquid_BTC_2023-01-01_2026-03-07.parquet": [
            ("2023-06-01", "2023-06-12"),
            ("2025-08-08", "2025-08-12"),
        ],
        "okx_BTC_2018-01-11_2026-03-05.parquet": [("2026-01-03", "2026-01-07")],
    }
    (dst / "hourly_panels").mkdir(parents=True, exist_ok=True)
    for name, windows in panels.items():
        df = pl.read_parquet(pp / "hourly_panels" / name)
        pl.concat([_window(df, "timestamp", a, b) for a, b in windows]).write_parquet(
            dst / "hourly_panels" / name
        )
    singles = {
        ("binance_funding", "SOLUSDT.parquet"): ("2022-11-01", "2022-11-25"),
        ("binance_funding", "BTCUSDT.parquet"): ("2025-10-01", "2025-10-15"),
        ("binance_ohlcv_8h", "BTCUSDT.parquet"): ("2025-10-01", "2025-10-15"),
        ("bybit_oi_hourly", "BTCUSDT.parquet"): ("2021-05-15", "2021-05-25"),
    }
    for (folder, name), (a, b) in singles.items():
        (dst / folder).mkdir(parents=True, exist_ok=True)
        _window(pl.read_parquet(pp / folder / name), "datetime", a, b).write_parquet(dst / folder / name)
    shutil.copy(pp / "LICENSE", dst / "LICENSE")

    mv, dst = shared / "multivenue-2025", OUT / "multivenue-2025"
    dst.mkdir(parents=True, exist_ok=True)
    for name, (a, b) in {
        "funding_rates.parquet": ("2025-10-08", "2025-10-12"),
        "candles.parquet": ("2025-10-08", "2025-10-12"),
        "open_interest.parquet": ("2025-12-07", "2025-12-09"),
    }.items():
        _window(pl.read_parquet(mv / name), "timestamp", a, b).write_parquet(dst / name)
    liq = pl.read_parquet(mv / "liquidations_fadd49d.parquet")
    pl.concat(
        [
            liq.filter(pl.col("venue") == "hyperliquid").head(150),
            _window(
                liq.filter(pl.col("venue") == "okx"), "timestamp", "2026-03-04T12:00", "2026-03-04T18:00"
            ),
        ]
    ).write_parquet(dst / "liquidations_fadd49d.parquet")
    pl.read_parquet(mv / "liquidation_volume.parquet").head(5).write_parquet(
        dst / "liquidation_volume.parquet"
    )
    shutil.copy(mv / "LICENSE", dst / "LICENSE")

    fv, dst = shared / "funding-7venues", OUT / "funding-7venues"
    dst.mkdir(parents=True, exist_ok=True)
    for venue in ("binance", "bybit", "dydx", "gate", "htx"):
        src = next(fv.glob(f"BTC-USDT_{venue}_*_funding_history.csv"))
        lines = src.read_text().splitlines()[:61]
        (dst / src.name).write_text("\n".join(lines) + "\n")
    shutil.copy(fv / "LICENSE", dst / "LICENSE")

    shutil.copytree(shared / "hyperliquid-rest-samples", OUT / "hyperliquid-rest-samples", dirs_exist_ok=True)
    hyperliquid_positions(shared)
    hyperliquid_feb_2026(shared)


def hyperliquid_positions(shared: Path) -> None:
    """Every snapshot's BTC and kPEPE (1000 PEPE: the venue's lower-case multiplier) positions."""
    src, dst = shared / "hyperliquid-positions", OUT / "hyperliquid-positions"
    dst.mkdir(parents=True, exist_ok=True)
    pl.read_parquet(src / "positions.parquet").filter(pl.col("coin").is_in(["BTC", "kPEPE"])).write_parquet(
        dst / "positions.parquet"
    )
    shutil.copy(src / "LICENSE", dst / "LICENSE")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")


def hyperliquid_feb_2026(shared: Path) -> None:
    """The market the measured positions slice sits in, 2026-01-01..02-23 (34 days of history before the first
    snapshot for the model): Hyperliquid's BTC hourly panel (perp-panels) and its OI (multivenue-2025)."""
    dst = OUT / "hyperliquid-2026-02"
    panel = "hyperliquid_BTC_2023-01-01_2026-03-07.parquet"
    (dst / "perp-panels" / "hourly_panels").mkdir(parents=True, exist_ok=True)
    pp = shared / "perp-panels"
    _window(pl.read_parquet(pp / "hourly_panels" / panel), "timestamp", "2026-01-01", "2026-02-23").write_parquet(
        dst / "perp-panels" / "hourly_panels" / panel
    )
    shutil.copy(pp / "LICENSE", dst / "perp-panels" / "LICENSE")
    mv = shared / "multivenue-2025"
    (dst / "multivenue-2025").mkdir(parents=True, exist_ok=True)
    oi = pl.read_parquet(mv / "open_interest.parquet")
    _window(
        oi.filter((pl.col("venue") == "hyperliquid") & (pl.col("coin") == "BTC")), "timestamp", "2026-01-01", "2026-02-23"
    ).write_parquet(dst / "multivenue-2025" / "open_interest.parquet")
    shutil.copy(mv / "LICENSE", dst / "multivenue-2025" / "LICENSE")
