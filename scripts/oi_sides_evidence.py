"""Which open-interest histories count both sides? Cross-venue levels and OI / 24h traded USD, as reported.

Usage: python scripts/oi_sides_evidence.py [PATH-TO-shared/data]   (prints one line per coin; docs/data.md)

Over the hours where Binance, Bybit and OKX all have OI in the perp-panels set (Hyperliquid from multivenue-2025),
the medians of each venue's OI relative to Binance's, and of each venue's OI over its own trailing 24h traded USD.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from levradar.domain.venues import CONTRACT_SIZES

COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE")


def _panel(root: Path, venue: str, coin: str) -> pl.DataFrame:
    (file,) = (root / "perp-panels" / "hourly_panels").glob(f"{venue}_{coin}_*.parquet")
    frame = pl.read_parquet(file)
    return frame.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")).alias("t"))


def _hyperliquid(root: Path, coin: str) -> pl.DataFrame:
    oi = pl.read_parquet(root / "multivenue-2025" / "open_interest.parquet")
    candles = pl.read_parquet(root / "multivenue-2025" / "candles.parquet")
    hl = (pl.col("venue") == "hyperliquid") & (pl.col("coin") == coin)
    hour = pl.col("timestamp").cast(pl.Datetime("us", "UTC")).dt.truncate("1h").alias("t")
    return (
        oi.filter(hl)
        .select(hour, pl.col("oi_usd").alias("oi_h"))
        .unique("t")
        .join(candles.filter(hl).select(hour, (pl.col("v") * pl.col("c")).alias("v_h")), on="t", how="left")
    )


def evidence(root: Path, coin: str) -> dict[str, float | None]:
    size = CONTRACT_SIZES[("okx", coin)]
    frame = (
        _panel(root, "binance", coin)
        .select(
            "t",
            pl.col("open_interest_usd_binance").alias("oi_b"),
            (pl.col("volume_perp_binance") * pl.col("close_perp_binance")).alias("v_b"),
        )
        .join(
            _panel(root, "bybit", coin).select(
                "t", (pl.col("open_interest") * pl.col("close")).alias("oi_y"), pl.col("turnover").alias("v_y")
            ),
            on="t",
        )
        .join(
            _panel(root, "okx", coin).select(
                "t",
                pl.col("open_interest_usd_okx").alias("oi_o"),
                (pl.col("volume_perp_okx") * size * pl.col("close_perp_okx")).alias("v_o"),
            ),
            on="t",
        )
        .join(_hyperliquid(root, coin), on="t", how="left")
        .sort("t")
        .with_columns(pl.col(c).rolling_sum(24).alias(f"{c}24") for c in ("v_b", "v_y", "v_o", "v_h"))
        .filter(pl.col("oi_b").is_not_null() & pl.col("oi_o").is_not_null())
    )

    def med(expr: pl.Expr) -> float | None:
        value = frame.select(expr.median()).item()
        return None if value is None else round(float(value), 2)

    return {
        "hours": frame.height,
        "bybit_vs_binance": med(pl.col("oi_y") / pl.col("oi_b")),
        "okx_vs_binance": med(pl.col("oi_o") / pl.col("oi_b")),
        "hyperliquid_vs_binance": med(pl.col("oi_h") / pl.col("oi_b")),
        "oi_per_24h_usd_binance": med(pl.col("oi_b") / pl.col("v_b24")),
        "oi_per_24h_usd_bybit": med(pl.col("oi_y") / pl.col("v_y24")),
        "oi_per_24h_usd_okx": med(pl.col("oi_o") / pl.col("v_o24")),
    }


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    for coin in COINS:
        print(coin, evidence(root, coin))


if __name__ == "__main__":
    main()
