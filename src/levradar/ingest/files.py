"""Canonical file import (CSV, Parquet, JSON) and export."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

import polars as pl

from levradar.domain.datasets import DATASETS, QUALITY_RECOVERED, QUALITY_VENUE, Dataset, dataset
from levradar.ingest.normalize import FILE, ROW, Batch, InputError, with_markets
from levradar.ingest.report import ImportReport
from levradar.jsonio import dumps
from levradar.names import FILE_FORMATS
from levradar.store import Store

FORMATS = FILE_FORMATS
_IGNORED_ON_IMPORT = {"ts_ingest", "rate_1h", "rate_8h", "apr", "basis"}


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["src=dst", ...]`` → ``{"src": "dst"}``; also accepts comma-separated pairs."""
    out: dict[str, str] = {}
    for item in pairs:
        for pair in item.split(","):
            if not pair.strip():
                continue
            src, sep, dst = pair.partition("=")
            if not sep or not src.strip() or not dst.strip():
                raise InputError("--map", None, None, f"expected SRC=DST, got {pair!r}")
            out[src.strip()] = dst.strip()
    return out


def _read_any(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema=False)
        if suffix in (".json", ".ndjson", ".jsonl"):
            text = path.read_text()
            if text.lstrip().startswith("["):
                return pl.DataFrame(json.loads(text), infer_schema_length=None)
            return pl.read_ndjson(io.StringIO(text))
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), None, None, f"cannot read as {suffix.lstrip('.')}: {exc}") from exc
    raise InputError(str(path), None, None, "unsupported file type: use .csv, .parquet or .json")


def _parse_ts(frame: pl.DataFrame, col: str, file: str) -> pl.Expr:
    dtype = frame.schema[col]
    if isinstance(dtype, pl.Datetime):
        return pl.col(col)
    if dtype.is_integer() or dtype.is_float():
        # epoch numbers: seconds, milliseconds or microseconds by magnitude
        num = pl.col(col).cast(pl.Int64)
        unit = (
            pl.when(num.abs() > 10**14)
            .then(num)
            .when(num.abs() > 10**11)
            .then(num * 1000)
            .otherwise(num * 1_000_000)
        )
        return pl.from_epoch(unit, time_unit="us").dt.replace_time_zone("UTC")
    text = pl.col(col).cast(pl.String).str.strip_chars()
    numeric = text.str.contains(r"^-?\d+$")
    as_int = text.cast(pl.Int64, strict=False)
    epoch = (
        pl.when(as_int.abs() > 10**14)
        .then(as_int)
        .when(as_int.abs() > 10**11)
        .then(as_int * 1000)
        .otherwise(as_int * 1_000_000)
    )
    iso = text.str.replace(r"Z$", "+00:00").str.to_datetime(strict=False, time_unit="us", time_zone="UTC")
    return (
        pl.when(numeric).then(pl.from_epoch(epoch, time_unit="us").dt.replace_time_zone("UTC")).otherwise(iso)
    )


def _typed(ds: Dataset, frame: pl.DataFrame, file: str) -> pl.DataFrame:
    """Cast every canonical column, naming the first value that is not of its type."""
    out = frame
    for col, dtype in ds.columns.items():
        if col not in frame.columns:
            continue
        if isinstance(dtype, pl.Datetime):
            expr = _parse_ts(frame, col, file)
        elif dtype == pl.Boolean() and frame.schema[col] == pl.String():
            expr = (
                pl.col(col)
                .str.to_lowercase()
                .replace_strict(
                    {"true": True, "false": False, "1": True, "0": False, "": None},
                    default=None,
                    return_dtype=pl.Boolean,
                )
            )
        else:
            expr = pl.col(col).cast(dtype, strict=False)
        out = out.with_columns(expr.alias(f"__{col}"))
        failed = out.filter(pl.col(col).is_not_null() & pl.col(f"__{col}").is_null())
        if frame.schema[col] == pl.String():
            failed = failed.filter(pl.col(col).str.strip_chars() != "")
        if not failed.is_empty():
            raise InputError(file, int(failed[ROW][0]), col, f"not a valid {dtype}: {failed[col][0]!r}")
        out = out.with_columns(pl.col(f"__{col}").alias(col)).drop(f"__{col}")
    return out


def load_file(
    name: str,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    venue: str | None = None,
    symbol: str | None = None,
) -> Batch:
    """Read a canonical (or user-mapped) file of one dataset into a batch."""
    ds = dataset(name)
    report = ImportReport(f"import:{name}", str(path))
    report.files = 1
    frame = _read_any(path)
    if mapping:
        unknown = [s for s in mapping if s not in frame.columns]
        if unknown:
            raise InputError(
                str(path),
                None,
                unknown[0],
                f"--map names a column the file does not have ({', '.join(frame.columns)})",
            )
        frame = frame.rename(dict(mapping))
    if venue:
        frame = frame.with_columns(pl.lit(venue).alias("venue"))
    if symbol:
        frame = frame.with_columns(pl.lit(symbol).alias("symbol"))
    ignored = [c for c in frame.columns if c not in ds.columns and c not in _IGNORED_ON_IMPORT]
    if ignored:
        report.skipped.append(f"columns not in the {name} dataset, ignored: {', '.join(ignored)}")
    if "quality" in frame.columns:
        recovered = f"; {QUALITY_RECOVERED} where interval_source is 'recovered'" if name == "funding" else ""
        report.skipped.append(
            f"{path.name}: column 'quality' ignored: the importer assigns it ({QUALITY_VENUE}, a venue record"
            f"{recovered})"
        )
        frame = frame.drop("quality")
    for col in ("venue", "symbol", "ts"):
        if col not in frame.columns:
            hint = " (use --venue/--symbol or --map)" if col in ("venue", "symbol") else " (use --map SRC=ts)"
            raise InputError(str(path), None, col, f"required column is missing{hint}")
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.lit(str(path)).alias(FILE))
    frame = _typed(ds, frame, str(path))
    frame = with_markets(frame, "venue", "symbol", str(path))
    if "source" not in frame.columns:
        frame = frame.with_columns(source=pl.lit(f"import:{path.name}"))
    if name == "funding" and "interval_hours" in frame.columns:
        frame = frame.with_columns(
            interval_source=pl.coalesce(
                pl.col("interval_source") if "interval_source" in frame.columns else pl.lit(None, pl.String),
                pl.when(pl.col("interval_hours").is_not_null()).then(pl.lit("file")),
            )
        )
    frame = frame.with_columns(quality=_quality(frame))
    batch = Batch(report)
    batch.add(name, frame)
    return batch


def _quality(frame: pl.DataFrame) -> pl.Expr:
    """The importer's quality for a canonical file's rows: a venue record, unless the row says it was recovered
    from a forward-filled panel (then a real settlement record must still replace it). Never the file's own."""
    if "interval_source" not in frame.columns:
        return pl.lit(QUALITY_VENUE, pl.Int8)
    recovered = pl.col("interval_source") == "recovered"
    return pl.when(recovered).then(pl.lit(QUALITY_RECOVERED)).otherwise(pl.lit(QUALITY_VENUE)).cast(pl.Int8)


def export_frame(
    store: Store,
    name: str,
    *,
    venues: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> pl.DataFrame:
    frame = store.read(name, venues=venues, symbols=symbols, start=start, end=end)
    return frame.drop("ts_ingest")


def write_frame(frame: pl.DataFrame, fmt: str, out: Path | None) -> None:
    """Write ``frame`` as csv / json / parquet to ``out`` or to standard output."""
    if fmt not in FORMATS:
        raise InputError("--format", None, None, f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    stream: IO[bytes] = open(out, "wb") if out else sys.stdout.buffer  # noqa: SIM115
    try:
        if fmt == "parquet":
            frame.write_parquet(stream)
            return
        texty = frame.with_columns(
            [
                pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                for c, t in frame.schema.items()
                if isinstance(t, pl.Datetime)
            ]
        )
        if fmt == "csv":
            texty.write_csv(stream)
        else:
            stream.write(dumps(texty.to_dicts()).encode() + b"\n")  # strict JSON: NaN/inf would be null
    finally:
        if out:
            stream.close()
        else:
            stream.flush()


__all__ = ["DATASETS", "FORMATS", "export_frame", "load_file", "parse_mapping", "write_frame"]
