"""perp-panels: hourly multi-venue panels plus Binance funding/8h klines and Bybit hourly OI.

Layout read (any subset may be present)::

    hourly_panels/<venue>_<COIN>_<start>_<end>.parquet
    binance_funding/<COIN>USDT.parquet      one row per settlement
    binance_ohlcv_8h/<COIN>USDT.parquet     8h klines
    bybit_oi_hourly/<COIN>USDT.parquet      hourly open interest, base coin
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import polars as pl

from levradar.domain.datasets import QUALITY_AGGREGATE, QUALITY_RECOVERED, QUALITY_VENUE
from levradar.domain.funding import recover_from_forward_filled
from levradar.domain.symbols import split_symbol
from levradar.domain.venues import CONTRACT_SIZES
from levradar.ingest.normalize import FILE, ROW, Batch, InputError, nan_to_null, with_market
from levradar.ingest.report import ImportReport
from levradar.ingest.sources.common import (
    Filters,
    canonical_rows,
    need_columns,
    no_nan,
    read_parquet,
    settlement_rows,
    utc_ts,
)

NAME = "perp-panels"
_PANEL = re.compile(r"^(?P<venue>[a-z]+)_(?P<coin>[A-Za-z0-9]+)_.*\.parquet$")
OKX_CONTRACT_VALUE: dict[str, float] = {
    asset: size for (venue, asset), size in CONTRACT_SIZES.items() if venue == "okx"
}


def _panel_columns(venue: str) -> dict[str, str | None]:
    """Canonical name -> panel column for one venue."""
    if venue in ("binance", "okx"):
        cols: dict[str, str | None] = {
            k: f"{k}_perp_{venue}" for k in ("open", "high", "low", "close", "volume", "vwap")
        }
        cols |= {
            "mark": f"mark_price_{venue}",
            "funding": f"funding_rate_raw_{venue}",
            "oi": f"open_interest_usd_{venue}",
        }
        return cols
    if venue == "bybit":
        return {
            "open": "open",
            "high": "high",
            "low": "low",
            "close": "close",
            "volume": "volume",
            "turnover": "turnover",
            "funding": "funding_rate",
            "oi": "open_interest",
            "mark": None,
        }
    if venue == "hyperliquid":
        return {
            "open": "open_perp",
            "high": "high_perp",
            "low": "low_perp",
            "close": "close_perp",
            "volume": "volume_perp",
            "vwap": "vwap_perp_hyperliquid",
            "mark": "mark_price_hyperliquid",
            "funding": "funding_rate_1h_hyperliquid",
            "oi": "open_interest_hyperliquid",
        }
    raise InputError(NAME, None, None, f"no panel layout known for venue {venue!r}")


OI_RAW_UNIT = {"binance": "usd", "okx": "usd", "bybit": "coin", "hyperliquid": "usd"}


def load(path: Path, filters: Filters) -> Batch:
    if not path.is_dir():
        raise InputError(str(path), None, None, "perp-panels expects the data set's folder")
    batch = Batch(ImportReport(NAME, str(path)))
    for file in sorted((path / "hourly_panels").glob("*.parquet")):
        m = _PANEL.match(file.name)
        if not m:
            batch.report.skipped.append(f"{file.name}: name is not <venue>_<COIN>_<start>_<end>.parquet")
            continue
        if filters.wants(m["venue"], m["coin"]):
            _load_panel(batch, file, m["venue"], m["coin"].upper(), filters)
    for file in sorted((path / "binance_funding").glob("*.parquet")):
        if filters.wants("binance", _coin(file)):
            _load_settlements(batch, file, filters)
    for file in sorted((path / "binance_ohlcv_8h").glob("*.parquet")):
        if filters.wants("binance", _coin(file)):
            _load_klines_8h(batch, file, filters)
    for file in sorted((path / "bybit_oi_hourly").glob("*.parquet")):
        if filters.wants("bybit", _coin(file)):
            _load_bybit_oi(batch, file, filters)
    if batch.report.files == 0:
        raise InputError(
            str(path), None, None, "no perp-panels files found (hourly_panels/, binance_funding/, ...)"
        )
    return batch


def _coin(file: Path) -> str:
    return split_symbol(file.stem, "USDT")[0]


def _load_panel(batch: Batch, file: Path, venue: str, coin: str, filters: Filters) -> None:
    report = batch.report
    report.files += 1
    cols = _panel_columns(venue)
    raw = nan_to_null(read_parquet(file), report, file)  # the panels document missing data as NaN
    if "timestamp" not in raw.columns:
        raise InputError(str(file), None, "timestamp", "expected column is missing")
    need_columns(raw, [c for k, c in cols.items() if c and k in ("open", "high", "low", "close")], file)
    frame = filters.window(utc_ts(raw, "timestamp", file))
    symbol = f"{coin}USDT" if venue != "hyperliquid" else coin
    frame = with_market(frame, venue, symbol)
    source = f"{NAME}:{file.name}"
    _panel_candles(batch, frame, venue, coin, cols, source)
    if (mark := cols.get("mark")) and mark in frame.columns:
        marks = frame.filter(no_nan(frame, [mark])).select(
            "venue", "symbol", "asset", "ts", pl.col(mark).alias("mark"), ROW, FILE
        )
        batch.add("mark_index", marks.with_columns(source=pl.lit(source), quality=pl.lit(QUALITY_AGGREGATE)))
    if (fund := cols.get("funding")) and fund in frame.columns:
        events = recover_from_forward_filled(frame.select("ts", pl.col(fund).alias("rate")))
        if not events.is_empty():
            events = with_market(events, venue, symbol).with_columns(
                interval_source=pl.lit("recovered"), source=pl.lit(source), quality=pl.lit(QUALITY_RECOVERED)
            )
            batch.add("funding", events)
            report.assume(
                "hourly-panel funding columns are forward-filled, not settlements: events were recovered where the "
                "rate changed and on the cadence those changes imply; they rank below real settlement records"
            )
    if (oi := cols.get("oi")) and oi in frame.columns:
        unit = OI_RAW_UNIT[venue]
        rows = frame.filter(no_nan(frame, [oi]))
        if rows.is_empty():
            report.skipped.append(f"{file.name}: open-interest column {oi} holds no values")
        else:
            batch.add(
                "open_interest",
                rows.select(
                    "venue",
                    "symbol",
                    "asset",
                    "ts",
                    ROW,
                    FILE,
                    pl.col(oi).alias("raw_value"),
                    pl.lit(unit).alias("raw_unit"),
                    (pl.col(oi) if unit == "usd" else pl.lit(None, pl.Float64)).alias("oi_usd"),
                    (pl.col(oi) if unit == "coin" else pl.lit(None, pl.Float64)).alias("oi_base"),
                    pl.lit(source).alias("source"),
                    pl.lit(QUALITY_AGGREGATE).alias("quality"),
                ),
            )


def _panel_candles(
    batch: Batch, frame: pl.DataFrame, venue: str, coin: str, cols: dict[str, str | None], source: str
) -> None:
    report = batch.report
    ohlc = [c for k, c in cols.items() if c and k in ("open", "high", "low", "close")]
    ok = frame.filter(no_nan(frame, ohlc))
    report.dataset("candles").missing_dropped += frame.height - ok.height
    volume_col = cols.get("volume")
    volume = pl.col(volume_col) if volume_col and volume_col in frame.columns else pl.lit(None, pl.Float64)
    if venue == "okx":
        size = OKX_CONTRACT_VALUE.get(coin)
        report.assume(
            "OKX panel volume is in contracts; converted to coin with the contract value "
            + (f"{size:g} {coin}/contract" if size else f"(unknown for {coin}: volume left empty)")
        )
        volume = volume * size if size else pl.lit(None, pl.Float64)
    if cols.get("turnover") in frame.columns:
        quote = pl.col(str(cols["turnover"]))
    elif cols.get("vwap") in frame.columns:
        quote = pl.col(str(cols["vwap"])) * volume
    else:
        quote = pl.lit(None, pl.Float64)
    bars = ok.select(
        "venue",
        "symbol",
        "asset",
        "ts",
        ROW,
        FILE,
        *(pl.col(str(cols[k])).alias(k) for k in ("open", "high", "low", "close")),
        volume.alias("volume_base"),
        quote.alias("volume_quote"),
    )
    hourly, eight, odd = _split_repeated_8h(bars)
    if odd:
        report.anomalies.append(
            f"{venue} {coin}: {odd} hourly rows repeat the row before (same OHLC and volume) but form no 8h bar; "
            "not stored"
        )
        report.dataset("candles").missing_dropped += odd
    if not eight.is_empty():
        report.anomalies.append(
            f"{venue} {coin}: {eight.height} 8h candles were repeated over 8 hourly rows "
            f"({_day(eight['ts'].min())} .. {_day(eight['ts'].max())}); stored once as 8h bars, not as 1h bars"
        )
    for interval, part in (("1h", hourly), ("8h", eight)):
        batch.add(
            "candles",
            part.with_columns(
                interval=pl.lit(interval), source=pl.lit(source), quality=pl.lit(QUALITY_AGGREGATE)
            ),
        )


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else str(value)


def _split_repeated_8h(bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Separate true 1h bars from 8h bars that a panel repeated into identical hourly rows.

    Consecutive hours with identical OHLC *and* identical non-zero volume cannot be real hourly trading: such a
    run starting on an 8h boundary (00/08/16 UTC) and at most 8 hours long (shorter where the data ends or the
    panel switches to true hourly bars) is one 8h bar. Flat hours without volume stay 1h bars. Other repeated
    runs match no bar size: their rows are returned as a count and not stored.
    """
    values = ["open", "high", "low", "close", "volume_base"]
    same = pl.all_horizontal([(pl.col(c) == pl.col(c).shift(1)).fill_null(False) for c in values])
    contiguous = (pl.col("ts").diff().dt.total_hours() == 1).fill_null(False)
    runs = bars.sort("ts").with_columns(run=(~(same & contiguous)).cum_sum())
    runs = runs.with_columns(run_len=pl.len().over("run"), run_start=pl.col("ts").first().over("run"))
    repeated = (pl.col("run_len") >= 2) & (pl.col("volume_base") > 0)
    is_8h = repeated & (pl.col("run_len") <= 8) & (pl.col("run_start").dt.hour() % 8 == 0)
    eight = runs.filter(is_8h & (pl.col("ts") == pl.col("run_start")))
    hourly = runs.filter(~repeated)
    odd = runs.filter(repeated & ~is_8h)
    drop = ["run", "run_len", "run_start"]
    return hourly.drop(drop), eight.drop(drop), odd.height


def _read_single(file: Path, venue: str, columns: list[str], filters: Filters) -> pl.DataFrame:
    """One per-symbol file (``<COIN>USDT.parquet`` with a ``datetime`` column) as a windowed market frame."""
    raw = read_parquet(file)
    need_columns(raw, [*columns, "datetime"], file)
    return with_market(filters.window(utc_ts(raw, "datetime", file)), venue, file.stem)


def _load_settlements(batch: Batch, file: Path, filters: Filters) -> None:
    batch.report.files += 1
    frame = _read_single(file, "binance", ["funding_rate"], filters)
    batch.add("funding", settlement_rows(frame, "funding_rate", f"{NAME}:binance_funding/{file.name}"))


def _load_klines_8h(batch: Batch, file: Path, filters: Filters) -> None:
    batch.report.files += 1
    frame = _read_single(file, "binance", ["open", "high", "low", "close", "volume"], filters)
    source = f"{NAME}:binance_ohlcv_8h/{file.name}"
    batch.add(
        "candles",
        canonical_rows(
            frame,
            source,
            QUALITY_VENUE,
            ts="ts",
            interval=pl.lit("8h"),
            open="open",
            high="high",
            low="low",
            close="close",
            volume_base="volume",
        ),
    )


def _load_bybit_oi(batch: Batch, file: Path, filters: Filters) -> None:
    batch.report.files += 1
    frame = _read_single(file, "bybit", ["open_interest"], filters)
    source = f"{NAME}:bybit_oi_hourly/{file.name}"
    batch.add(
        "open_interest",
        canonical_rows(
            frame,
            source,
            QUALITY_VENUE,
            ts="ts",
            raw_value="open_interest",
            raw_unit=pl.lit("coin"),
            oi_base="open_interest",
        ),
    )
