"""Small helpers for the command line: option parsing, error reporting, rendering."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from levradar.ingest.report import ImportReport
from levradar.jsonio import dumps

if TYPE_CHECKING:
    import polars as pl

# Tables keep their full width when the output goes to a file or a pipe (a terminal wraps them itself), unless
# $COLUMNS sets the width (COLUMNS=120 levradar scan | less).
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250)
err_console = Console(stderr=True)  # progress and notes: never mixed into the output a user pipes on
log = logging.getLogger("levradar")
_HANDLER_TAG = "levradar-cli"


def setup_logging(verbosity: int, log_file: Path | None) -> None:
    """``-v``: INFO lines on stderr, ``-vv``: DEBUG; ``--log-file``: every DEBUG line, timestamped in UTC."""
    log.setLevel(logging.DEBUG)
    for old in [h for h in log.handlers if getattr(h, "name", None) == _HANDLER_TAG]:
        log.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = []
    if verbosity:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        stderr.setFormatter(logging.Formatter("levradar: %(message)s"))
        handlers.append(stderr)
    if log_file is not None:
        try:
            to_file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise OptionError(f"--log-file {log_file}: cannot write it ({exc.strerror})") from None
        stamp = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        stamp.converter = time.gmtime
        to_file.setFormatter(stamp)
        to_file.setLevel(logging.DEBUG)
        handlers.append(to_file)
    for h in handlers:
        h.name = _HANDLER_TAG
        log.addHandler(h)
    log.propagate = not handlers  # without -v or a log file, warnings reach Python's last-resort stderr line


@contextmanager
def working(text: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr while slow work runs, when stderr is a terminal (never on stdout, nothing in a pipe
    or file): a spinner with the elapsed time, or a bar of ``total`` steps of which ``text`` is the first. Yields
    ``step(text)``: the previous step is done (the bar advances), ``text`` runs now (named on the bar, logged)."""
    log.info(text)
    if not err_console.is_terminal:  # no bar to draw: rich.progress is not even imported (~40 ms)
        yield lambda what: log.info(what)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if total else []
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(text, total=total)

        def step(what: str) -> None:
            log.info(what)
            progress.update(task, description=what, advance=1 if total else 0)

        yield step


def split_list(value: str | None, *, upper: bool = False) -> list[str] | None:
    """``"BTC,ETH"`` → ``["BTC", "ETH"]``; None or empty → None."""
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return [v.upper() if upper else v.lower() for v in items] or None


def parse_time(value: str | None, option: str) -> datetime | None:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    if value is None:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise OptionError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2025-10-10 or 2025-10-10T14:00Z)"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class OptionError(ValueError):
    """A command-line option has a value levradar cannot use."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one plain line on stderr (never wrapped, never a traceback) and give the exit to raise."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


def _fmt_ts(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if isinstance(ts, datetime) else "-"


def print_report(report: ImportReport) -> None:
    table = Table(
        title=f"import {report.source} ← {report.path} ({report.files} files)", title_justify="left"
    )
    for col in (
        "dataset",
        "rows",
        "markets",
        "first (UTC)",
        "last (UTC)",
        "gaps",
        "dups dropped",
        "missing dropped",
        "inserted",
        "updated",
        "unchanged",
        "superseded",
    ):
        table.add_column(col, justify="right" if col not in ("dataset",) else "left")
    for rep in report.datasets.values():
        table.add_row(
            rep.dataset,
            f"{rep.rows:,}",
            str(rep.markets),
            _fmt_ts(rep.first),
            _fmt_ts(rep.last),
            str(rep.gaps),
            str(rep.duplicates_dropped),
            str(rep.missing_dropped),
            *(
                f"{v:,}" if v is not None else "-"
                for v in (rep.inserted, rep.updated, rep.unchanged, rep.superseded)
            ),
        )
    console.print(table)
    for title, lines in (
        ("unit assumptions", report.assumptions),
        ("anomalies flagged", report.anomalies),
        ("funding-interval changes", report.interval_changes),
        ("skipped", report.skipped),
        ("conflicting duplicates (one kept)", report.conflicts),
        ("corrections of stored rows", report.corrections),
        ("set aside", report.set_aside_lines()),
    ):
        if lines:
            console.print(f"[bold]{title}[/] ({len(lines)})")
            shown = (
                lines if len(lines) <= 25 else [*lines[:25], f"... and {len(lines) - 25} more (see --json)"]
            )
            for line in shown:
                console.print(f"  • {line}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(dumps(data, indent=2))


def frame_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dicts()
    ]
