"""hyperliquid-positions: measured Hyperliquid positions with the exchange's own liquidation prices.

Snapshots of public ``clearinghouseState`` answers reshaped to one row per account, coin and snapshot
(``positions.parquet``: ``snapshot_ts, source, address, account_value_usd, coin, side, size, entry_px, leverage,
position_value_usd, unrealized_pnl_usd, liquidation_px``). ``source`` names the list an account was sampled from;
it is stored as ``selection``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from levradar.domain.accounts import account_id
from levradar.domain.datasets import QUALITY_VENUE
from levradar.ingest.normalize import FILE, ROW, Batch, InputError, with_markets
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import Filters, canonical_rows, need_columns, read_parquet, utc_ts

NAME = "hyperliquid-positions"
VENUE = "hyperliquid"
COLUMNS = [
    "snapshot_ts",
    "source",
    "address",
    "account_value_usd",
    "coin",
    "side",
    "size",
    "entry_px",
    "leverage",
    "position_value_usd",
    "unrealized_pnl_usd",
    "liquidation_px",
]


def load(path: Path, filters: Filters) -> Batch:
    file = path / "positions.parquet" if path.is_dir() else path
    if not file.is_file():
        raise InputError(str(file), None, None, "no measured positions file (positions.parquet) found")
    batch = Batch(ImportReport(NAME, str(path)))
    batch.report.files += 1
    frame = read_parquet(file)
    need_columns(frame, COLUMNS, file)
    if not filters.wants(VENUE) or frame.is_empty():
        return batch
    frame = filters.window(utc_ts(frame, "snapshot_ts", file), on_minute=False)
    frame = with_markets(frame.with_columns(_venue=pl.lit(VENUE)), "_venue", "coin", str(file))
    if filters.assets:
        frame = frame.filter(pl.col("asset").str.to_uppercase().is_in(sorted(filters.assets)))
    accounts = _accounts(frame, file, keep=filters.keep_addresses)
    frame = frame.join(accounts, on="address", how="left")
    batch.add(
        "positions",
        canonical_rows(
            frame,
            f"{NAME}:{file.name}",
            QUALITY_VENUE,
            account="account",
            ts="ts",
            side=pl.col("side").str.to_lowercase(),
            qty_base="size",
            entry_price="entry_px",
            leverage="leverage",
            position_usd="position_value_usd",
            liquidation_price="liquidation_px",
            account_value_usd="account_value_usd",
            unrealized_pnl_usd="unrealized_pnl_usd",
            selection="source",
        ),
    )
    return batch


def _accounts(frame: pl.DataFrame, file: Path, *, keep: bool) -> pl.DataFrame:
    """address → stored account id, for every address in ``frame``; a row without a valid address is an error."""
    rows = []
    for address in frame["address"].unique(maintain_order=True).to_list():
        try:
            rows.append((address, account_id(str(address) if address is not None else "", keep=keep)))
        except ValueError as exc:
            bad = frame.filter(
                pl.col("address").is_null() if address is None else pl.col("address") == address
            ).head(1)
            raise InputError(str(file), int(bad[ROW][0]), "address", str(exc)) from exc
    return pl.DataFrame(
        rows, schema={"address": frame.schema["address"], "account": pl.String()}, orient="row"
    )


__all__ = ["COLUMNS", "FILE", "NAME", "load"]
