"""The ``levradar`` command line: a thin layer over ingest, store and analytics."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from rich.table import Table

from levradar.cli_support import (
    OptionError,
    console,
    err_console,
    fail,
    frame_records,
    log,
    parse_time,
    print_json,
    print_report,
    setup_logging,
    split_list,
    working,
)
from levradar.names import DATASET_NAMES, FILE_FORMATS, SOURCE_NAMES

# Commands import what they use when they run: `levradar --help` and `--version` load none of polars, DuckDB
# or the analytics (docs/signals.md §9, start-up).
if TYPE_CHECKING:
    import polars as pl

    from levradar.analytics.config import SignalConfig
    from levradar.store import Store

app = typer.Typer(
    name="levradar",
    help="Crypto Leverage Radar: funding, open interest and liquidations across perpetual-futures venues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Store folder (default: $LEVRADAR_DATA_DIR, else the user's data dir).",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
F = TypeVar("F", bound=Callable[..., Any])


def _expected_errors() -> tuple[type[Exception], ...]:
    """The failures a user can cause (bad input, unknown names, an unreadable store): one line, exit code 2."""
    import duckdb

    from levradar.analytics.config import ConfigError
    from levradar.domain.datasets import UnknownDatasetError
    from levradar.domain.records import RecordError
    from levradar.domain.symbols import SymbolError
    from levradar.domain.units import UnitError
    from levradar.domain.venues import UnknownVenueError
    from levradar.ingest.normalize import InputError
    from levradar.ingest.run import UnknownSourceError
    from levradar.store import StoreError

    return (
        InputError,
        StoreError,
        UnknownDatasetError,
        UnknownVenueError,
        UnknownSourceError,
        SymbolError,
        OptionError,
        RecordError,
        UnitError,
        ConfigError,
        ValueError,
        duckdb.Error,
    )


def clean_errors(func: F) -> F:
    """Turn expected failures into one clear line on stderr and exit code 2 — never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name, started = func.__name__.removesuffix("_cmd").replace("_", " "), time.perf_counter()
        log.debug("command %s: %s", name, {k: str(v) for k, v in kwargs.items() if v is not None})
        try:
            out = func(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.exceptions.ClickException):
            raise  # an exit code or a usage error the command chose: not a failure to report
        except Exception as exc:
            if not isinstance(exc, _expected_errors()):
                # a bug: Python prints its traceback once; the log (-vv, --log-file) keeps it with the command
                log.debug("command %s failed", name, exc_info=True)
                raise
            log.debug("command %s stopped: %s", name, exc, exc_info=True)
            if type(exc).__module__.startswith("duckdb"):
                raise fail(f"store error: {exc}") from None
            raise fail(str(exc)) from None
        log.info("command %s done in %.2f s", name, time.perf_counter() - started)
        return out

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        from levradar import __version__

        typer.echo(f"levradar {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log steps on stderr (-vv: debug lines too).")
    ] = 0,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="Append every debug line, timestamped in UTC, to this file."),
    ] = None,
) -> None:
    """levradar — leverage stress radar for crypto perpetual futures."""
    try:
        setup_logging(verbose, log_file)
    except OptionError as exc:
        raise fail(str(exc)) from None


@app.command("import-source")
@clean_errors
def import_source_cmd(
    name: Annotated[str, typer.Argument(help=f"Source set: {', '.join(SOURCE_NAMES)}.")],
    path: Annotated[Path, typer.Argument(help="The set's folder (or file).")] = Path("."),
    assets: Annotated[str | None, typer.Option(help="Only these assets, comma-separated (BTC,ETH).")] = None,
    venues: Annotated[
        str | None, typer.Option(help="Only these venues, comma-separated (binance,bybit).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Only data from this time (ISO 8601, UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Only data up to this time (ISO 8601, UTC).")
    ] = None,
    keep_addresses: Annotated[
        bool,
        typer.Option(
            "--keep-addresses",
            help="Measured positions: store account addresses as they are (default: hashed).",
        ),
    ] = False,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Import a real data set (perp-panels, multivenue-2025, funding-7venues, hyperliquid-rest,
    hyperliquid-positions, canonical, sample)."""
    from levradar.ingest.normalize import InputError
    from levradar.ingest.run import UnknownSourceError, write_batch
    from levradar.ingest.sources import SOURCES, Filters
    from levradar.store import Store, resolve_data_dir

    if name not in SOURCE_NAMES:
        raise UnknownSourceError(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}")
    if name != "sample" and not path.exists():
        raise InputError(str(path), None, None, "no such file or folder")
    filters = Filters(
        assets=frozenset(split_list(assets, upper=True) or []) or None,
        venues=frozenset(split_list(venues) or []) or None,
        start=parse_time(start, "--from"),
        end=parse_time(end, "--to"),
        keep_addresses=keep_addresses,
    )
    with working(f"reading {name} from {path}", total=2) as step:
        batch = SOURCES[name](path, filters)  # read and check everything before the store is touched
        step(f"writing {name} into the store")
        with Store(resolve_data_dir(data_dir)) as store:
            report = write_batch(store, batch, "import-source")
    print_json(report.to_dict()) if as_json else print_report(report)


@app.command("import")
@clean_errors
def import_cmd(
    dataset: Annotated[str, typer.Argument(help=f"One of: {', '.join(DATASET_NAMES)}.")],
    file: Annotated[Path, typer.Argument(help="A .csv, .parquet or .json file.")],
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="Rename a column: SRC=DST (repeatable).")
    ] = None,
    venue: Annotated[
        str | None, typer.Option(help="Venue of every row (when the file has no venue column).")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbol of every row, any spelling (BTCUSDT, BTC-USDT-SWAP).")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Import a canonical file, or your own export with --map, into the store."""
    from levradar.ingest.files import load_file, parse_mapping
    from levradar.ingest.normalize import InputError
    from levradar.ingest.run import write_batch
    from levradar.store import Store, resolve_data_dir

    if not file.exists():
        raise InputError(str(file), None, None, "no such file")
    batch = load_file(dataset, file, mapping=parse_mapping(mapping or []), venue=venue, symbol=symbol)
    with Store(resolve_data_dir(data_dir)) as store:
        report = write_batch(store, batch, "import")
    print_json(report.to_dict()) if as_json else print_report(report)


@app.command("export")
@clean_errors
def export_cmd(
    dataset: Annotated[str, typer.Argument(help=f"One of: {', '.join(DATASET_NAMES)}.")],
    venue: Annotated[str | None, typer.Option(help="Venues, comma-separated.")] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbols, comma-separated (any spelling; needs --venue).")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="From this time (ISO 8601, UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Up to this time (ISO 8601, UTC).")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FILE_FORMATS)}.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: standard output).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Export a dataset as CSV, JSON or Parquet (re-importable with `levradar import`)."""
    from levradar.domain.symbols import canonical_market
    from levradar.ingest.files import export_frame, write_frame
    from levradar.ingest.normalize import InputError
    from levradar.store import Store, resolve_data_dir

    venues = split_list(venue)
    symbols = None
    if symbol:
        if not venues:
            raise InputError("--symbol", None, None, "give --venue too, so the symbol can be resolved")
        symbols = [
            canonical_market(v, s).symbol for v in venues for s in split_list(symbol, upper=True) or []
        ]
    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        frame = export_frame(
            store,
            dataset,
            venues=venues,
            symbols=symbols,
            start=parse_time(start, "--from"),
            end=parse_time(end, "--to"),
        )
    write_frame(frame, fmt, out)
    if out:
        console.print(f"wrote {frame.height:,} {dataset} rows to {out}", highlight=False)


@app.command("status")
@clean_errors
def status_cmd(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """What the store holds: rows, time range and gaps per dataset, venue and symbol."""
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    with Store(directory, read_only=True) as store:
        frame = store.status()
    if as_json:
        print_json({"data_dir": str(directory), "markets": frame_records(frame)})
        return
    table = Table(title=f"store {directory}", title_justify="left")
    for col in (
        "dataset",
        "venue",
        "symbol",
        "interval",
        "rows",
        "first (UTC)",
        "last (UTC)",
        "gaps",
        "largest gap h",
    ):
        table.add_column(col, justify="right" if col in ("rows", "gaps", "largest gap h") else "left")
    for r in frame.iter_rows(named=True):
        table.add_row(
            r["dataset"],
            r["venue"],
            r["symbol"],
            r["interval"] or "",
            f"{r['rows']:,}",
            f"{r['first']:%Y-%m-%d %H:%M}",
            f"{r['last']:%Y-%m-%d %H:%M}",
            str(r["gaps"]),
            f"{r['largest_gap_h']:.0f}" if r["gaps"] else "",
        )
    console.print(table)


@app.command("demo")
@clean_errors
def demo_cmd(
    data_dir: DataDir = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Radar as of this time (default: newest data).")
    ] = None,
    assets: Annotated[str | None, typer.Option(help="Only these assets, comma-separated.")] = None,
    as_json: JsonOut = False,
) -> None:
    """Load the bundled real sample into a store and print the radar table."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="levradar-demo-") as tmp:
            _demo(Path(tmp), as_of, assets, as_json)
    else:
        _demo(data_dir, as_of, assets, as_json)


def _demo(directory: Path, as_of_text: str | None, assets: str | None, as_json: bool) -> None:
    from levradar.ingest.run import import_source
    from levradar.store import Store

    with Store(directory) as store:
        with working("loading the bundled sample"):
            report = import_source(store, "sample", Path("."))
        if not as_json:
            print_report(report)
        _scan(store, as_of_text, assets, None, as_json, extra={"data_dir": str(directory)})


NO_BARS = "the store holds no 1h, 4h, 8h or 1d candles: import or sync price data first"


def not_after_data(store: Store, when: datetime, option: str) -> datetime:
    """``when`` unless it lies after the newest bar close in the store (nothing is known there yet)."""
    from levradar.analytics.coverage import market_weights

    newest = market_weights(store)["last_close"].max()
    if isinstance(newest, datetime) and when > newest:
        raise OptionError(
            f"{option} {when:%Y-%m-%d %H:%M} UTC is after the newest data in the store "
            f"({newest:%Y-%m-%d %H:%M} UTC); the store holds nothing later"
        )
    return when


def _as_of(store: Store, text: str | None, option: str = "--as-of") -> datetime:
    from levradar.analytics.scan import newest_time
    from levradar.store import StoreError

    given = parse_time(text, option)
    if given is not None:
        return not_after_data(store, given, option)
    as_of = newest_time(store)
    if as_of is None:
        raise StoreError(NO_BARS)
    log.debug("as-of: newest hour with every asset's main venues, %s", as_of)
    return as_of


def _as_of_rule(
    store: Store, text: str | None, cfg: SignalConfig, assets: list[str] | None
) -> tuple[datetime, dict[str, Any]]:
    """The as-of of a scan and how it was chosen (given, or the default rule with each asset's main venues)."""
    from levradar.analytics.coverage import choose_as_of
    from levradar.store import StoreError

    given = parse_time(text, "--as-of")
    if given is not None:
        return not_after_data(store, given, "--as-of"), {"as_of": given, "rule": "given with --as-of"}
    choice = choose_as_of(store, cfg, assets)
    if choice.as_of is None:
        raise StoreError(NO_BARS)
    return choice.as_of, choice.to_json()


def _scan(
    store: Store,
    as_of_text: str | None,
    assets: str | None,
    config: Path | None,
    as_json: bool,
    extra: dict[str, Any] | None = None,
    wide: bool = False,
) -> None:
    from levradar.analytics.config import load_config
    from levradar.analytics.scan import scan
    from levradar.ingest.normalize import InputError
    from levradar.render import print_scan

    cfg = load_config(config)
    asked = split_list(assets, upper=True)
    names = known_assets(store, asked) if asked else None
    as_of, rule = _as_of_rule(store, as_of_text, cfg, names)
    with working(f"scanning {len(names) if names else 'every'} asset(s) as of {as_of:%Y-%m-%d %H:%M} UTC"):
        reads = scan(store, as_of, names, cfg)
    if not reads and not as_json:
        raise InputError(
            "scan", None, None, f"no price data at or before {as_of:%Y-%m-%d %H:%M} UTC for these assets"
        )
    if as_json:
        print_json({"as_of": as_of, "as_of_rule": rule, **(extra or {}), "assets": reads})
    else:
        print_scan(reads, as_of, rule.get("stale_assets"), wide=wide)


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Signal configuration file (default: the packaged signals.toml)."),
]
AsOf = Annotated[
    str | None, typer.Option("--as-of", help="As of this time, ISO 8601 UTC (default: newest data).")
]
Assets = Annotated[str | None, typer.Option(help="Only these assets, comma-separated (BTC,ETH).")]
Cluster = Annotated[
    str | None,
    typer.Option(help="Fan per-asset work out over this Dask scheduler, tcp://HOST:PORT (or LEVRADAR_DASK)."),
]


def store_assets(store: Store) -> list[str]:
    from levradar.radar import store_assets as assets_of

    return assets_of(store)


def known_assets(store: Store, names: list[str]) -> list[str]:
    """``names`` as the store spells them (levradar.radar: case-insensitive); an unknown one is a clear error
    listing what the store has and the nearest spelling ('did you mean BTC?')."""
    from levradar.radar import known_assets as resolve

    return resolve(store, names)


@app.command("scan")
@clean_errors
def scan_cmd(
    as_of: AsOf = None,
    assets: Assets = None,
    config: ConfigOpt = None,
    cluster: Cluster = None,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Every column (scores, regimes, proximity); default: fits 120 columns."),
    ] = False,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """The radar: regimes, scores, LSI, setup, tag, contradictions and transitions per asset, sorted by LSI."""
    from levradar.analytics.config import load_config
    from levradar.evaluation.fanout import cluster_address
    from levradar.render import print_scan
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    address = cluster_address(cluster)
    if not address:
        with Store(directory, read_only=True) as store:
            _scan(store, as_of, assets, config, as_json, wide=wide)
        return
    from levradar.evaluation.fanout import scan_distributed

    with Store(directory, read_only=True) as store:
        given = known_assets(store, split_list(assets, upper=True) or []) or None
        when, rule = _as_of_rule(store, as_of, load_config(config), given)
        names = given or store_assets(store)
    with working(f"scanning {len(names)} asset(s) on {address}"):
        reads = scan_distributed(directory, names, when, config, address)
    if as_json:
        print_json({"as_of": when, "as_of_rule": rule, "cluster": address, "assets": reads})
    else:
        print_scan(reads, when, rule.get("stale_assets"), wide=wide)


@app.command("screen")
@clean_errors
def screen_cmd(
    as_of: AsOf = None,
    assets: Assets = None,
    config: ConfigOpt = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Most crowded, most fragile, highest squeeze risk — vs the market and vs each asset's own last 30 days."""
    from levradar.analytics.config import load_config
    from levradar.analytics.scan import screen
    from levradar.render import print_screen
    from levradar.store import Store, resolve_data_dir

    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        when = _as_of(store, as_of)
        names = known_assets(store, split_list(assets, upper=True) or []) or None
        with working("screening"):
            result = screen(store, when, names, load_config(config))
    if as_json:
        print_json({"as_of": when, **result})
    else:
        print_screen(result, when)


@app.command("history")
@clean_errors
def history_cmd(
    asset: Annotated[str, typer.Argument(help="The asset, e.g. BTC.")],
    start: Annotated[str, typer.Option("--from", help="From this time (ISO 8601, UTC).")],
    end: Annotated[str | None, typer.Option("--to", help="Up to this time (default: newest data).")] = None,
    config: ConfigOpt = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Hourly labels and scores of one asset over a period, each hour as it was known then."""
    from levradar.analytics.config import load_config
    from levradar.analytics.scan import history
    from levradar.ingest.normalize import InputError
    from levradar.render import print_history
    from levradar.store import Store, resolve_data_dir

    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        known_assets(store, [asset.upper()])
        first = parse_time(start, "--from")
        assert first is not None
        not_after_data(store, first, "--from")
        last = _as_of(store, end, "--to")
        if first > last:
            raise OptionError(
                f"--from {first:%Y-%m-%d %H:%M} UTC is after "
                + (
                    f"--to {last:%Y-%m-%d %H:%M} UTC"
                    if end
                    else f"the default --to (newest data, {last:%Y-%m-%d %H:%M} UTC)"
                )
            )
        if (last - first).days > 400:
            raise OptionError("--from/--to: at most 400 days at a time")
        with working(f"{asset.upper()} hourly radar"):
            frame = history(store, asset.upper(), first, last, load_config(config))
    if frame.is_empty():
        raise InputError(asset, None, None, "no data for this asset in the store for that period")
    if as_json:
        print_json({"asset": asset.upper(), "from": first, "to": last, "hours": frame_records(frame)})
    else:
        print_history(frame, asset.upper())


@app.command("heatmap")
@clean_errors
def heatmap_cmd(
    asset: Annotated[str, typer.Argument(help="The asset, e.g. BTC.")],
    venue: Annotated[
        str | None, typer.Option(help="Only this venue (default: every venue with OI, summed).")
    ] = None,
    as_of: AsOf = None,
    days: Annotated[int, typer.Option(min=1, max=730, help="History the model runs over, in days.")] = 90,
    config: Annotated[Path | None, typer.Option("--config", help="Heatmap model configuration file.")] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the price × time heatmap to this PNG.")
    ] = None,
    grid: Annotated[
        bool,
        typer.Option(
            "--grid",
            help="The price × time grid (USD per bucket per hour): its cells with --json, its size and span in "
            "the table.",
        ),
    ] = False,
    measured: Annotated[
        bool,
        typer.Option(
            "--measured",
            help="Beside the model: the measured positions of the 6 h up to the as-of (Hyperliquid snapshots), on "
            "the same buckets, with their coverage of the venue's OI.",
        ),
    ] = False,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """The modelled liquidation map: long clusters below price, short clusters above, nearest pockets."""
    from levradar.analytics.heatmap import grid_json, load_heatmap_config
    from levradar.radar import heatmap_report
    from levradar.render import print_heatmap
    from levradar.store import Store, resolve_data_dir

    cfg = load_heatmap_config(config)
    with (
        Store(resolve_data_dir(data_dir), read_only=True) as store,
        working(
            f"modelling the {asset.upper()} liquidation map over {days} days", total=3 if png else 2
        ) as step,
    ):
        name = known_assets(store, [asset])[0]
        when = _as_of(store, as_of)
        # the price × time grid only when it is printed or drawn: the summary needs the as-of hour alone
        run = heatmap_report(
            store,
            name,
            when,
            days=days,
            venue=venue,
            cfg=cfg,
            grid=grid or png is not None,
            measured=measured,
        )
        ah, prints, out = run.model, run.prints, run.body
        if png:
            step(f"drawing {png}")
            from levradar.plot import heatmap_png  # matplotlib only when a picture is asked for

            title = (
                f"{name} modelled liquidation heatmap ({', '.join(ah.venues)}), to {when:%Y-%m-%d %H:%M} UTC"
            )
            heatmap_png(ah.map, png, title, cfg.display_range_pct, prints, measured=out.get("measured") or ())
    if grid:
        out["grid"] = grid_json(ah.map, cfg)
    if png:
        out["png"] = str(png.resolve())
    if as_json:
        print_json(out)
    else:
        print_heatmap(out)


def _move(text: str) -> float:
    """'-2%', '1.5%', '-0.02' → a signed fraction."""
    raw = text.strip()
    try:
        value = float(raw.rstrip("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        raise OptionError(f"--move: {text!r} is not a move like -2% or 1.5%") from None
    from levradar.analytics.scenario import check_move

    try:
        return check_move(value)
    except ValueError as exc:
        raise OptionError(f"--move: {text!r}: {exc}") from None


@app.command("scenario")
@clean_errors
def scenario_cmd(
    asset: Annotated[str, typer.Argument(help="The asset, e.g. BTC.")],
    moves: Annotated[
        list[str] | None, typer.Option("--move", help="A price move, e.g. -2% (repeatable).")
    ] = None,
    venue: Annotated[str | None, typer.Option(help="Only this venue's positions.")] = None,
    as_of: AsOf = None,
    days: Annotated[
        int, typer.Option(min=1, max=730, help="History the heatmap model runs over, in days.")
    ] = 90,
    config: Annotated[Path | None, typer.Option("--config", help="Heatmap model configuration file.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """What a ±x % move liquidates, and whether the forced flow cascades into the next pockets."""
    from levradar.analytics.heatmap import asset_heatmap, book, load_heatmap_config
    from levradar.analytics.scenario import scenario
    from levradar.render import print_scenarios
    from levradar.store import Store, resolve_data_dir

    changes = [_move(m) for m in (moves or ["-2%", "-1%", "1%", "2%"])]
    cfg = load_heatmap_config(config)
    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        known_assets(store, [asset.upper()])
        when = _as_of(store, as_of)
        with working(f"modelling the {asset.upper()} book and {len(changes)} scenario(s)"):
            ah = asset_heatmap(store, asset.upper(), when, days=days, venue=venue, cfg=cfg, grid=False)
            current = book(ah.map, cfg)
            results = [scenario(current, m, ah.impact_per_usd, ah.stress_impact) for m in changes]
    out = {
        "asset": asset.upper(),
        "as_of": when,
        "price": ah.map.price,
        "venues": ah.venues,
        "venues_skipped": ah.skipped,
        "scenarios": results,
    }
    if as_json:
        print_json(out)
    else:
        print_scenarios(out)


@app.command("sync")
@clean_errors
def sync_cmd(
    venues: Annotated[
        str, typer.Option(help="Venues, comma-separated (binance,bybit,okx,hyperliquid).")
    ] = "binance,bybit,okx,hyperliquid",
    assets: Annotated[str, typer.Option(help="Assets, comma-separated.")] = "BTC,ETH,SOL",
    all_assets: Annotated[
        bool, typer.Option("--all", help="Every USDT perpetual each venue lists (instead of --assets).")
    ] = False,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="Backfill from this time (ISO 8601, UTC). Without it: continue from what the store holds.",
        ),
    ] = "",
    until: Annotated[str | None, typer.Option("--until", help="Up to this time (default: now).")] = None,
    retries: Annotated[int, typer.Option(min=1, max=20, help="Attempts per request (429/5xx/timeouts).")] = 5,
    positions: Annotated[
        bool,
        typer.Option(
            "--positions",
            help="Hyperliquid only: one snapshot of measured positions (leaderboard accounts → clearinghouseState).",
        ),
    ] = False,
    top: Annotated[
        int, typer.Option(min=1, max=5000, help="--positions: the leaderboard's top N accounts.")
    ] = 100,
    addresses: Annotated[
        Path | None,
        typer.Option(help="--positions: these accounts instead (a file, one 0x address per line)."),
    ] = None,
    keep_addresses: Annotated[
        bool,
        typer.Option("--keep-addresses", help="--positions: store addresses as they are (default: hashed)."),
    ] = False,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Backfill from the venues' public REST APIs, then increment; one venue failing never stops the others."""
    from levradar.ingest.sync import summary_dict, sync
    from levradar.net.http import RetryPolicy
    from levradar.store import Store, resolve_data_dir

    start = parse_time(since or None, "--since")
    directory = resolve_data_dir(data_dir)
    if positions:
        _sync_positions(venues, directory, top, addresses, keep_addresses, retries, as_json)
        return
    venue_list, asset_list, end = (
        split_list(venues) or [],
        None if all_assets else split_list(assets, upper=True) or [],
        parse_time(until, "--until"),
    )
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    result = []
    with (
        Store(directory) as store,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            console=err_console,
            disable=as_json or not err_console.is_terminal,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(f"sync {', '.join(venue_list)}", total=len(venue_list))
        result += sync(  # the venues run concurrently; the bar moves as each one finishes
            store,
            venue_list,
            asset_list,
            start,
            end,
            data_dir=directory,
            policy=RetryPolicy(attempts=retries),
            on_venue_done=lambda summary: progress.advance(task),
        )
    rows = [summary_dict(s) for s in result]
    if as_json:
        print_json({"venues": rows})
    else:
        for r in rows:
            status = "ok" if r["ok"] else f"FAILED: {r['error']}"
            console.print(
                f"{r['venue']}: {status}; {r['assets']} assets; inserted {r['inserted']}; {r['requests']} requests",
                highlight=False,
            )
    if not any(r["ok"] for r in rows):
        raise typer.Exit(1)


def _sync_positions(
    venues: str, directory: Path, top: int, addresses: Path | None, keep: bool, retries: int, as_json: bool
) -> None:
    """`sync --positions`: one measured snapshot of Hyperliquid positions, resumable."""
    from levradar.domain.accounts import is_address
    from levradar.ingest.sync import sync_positions
    from levradar.net.http import RetryPolicy
    from levradar.store import Store

    if split_list(venues) != ["hyperliquid"]:
        raise OptionError("--positions measures Hyperliquid positions: use --venues hyperliquid")
    listed = None
    if addresses is not None:
        listed = [line.strip() for line in addresses.read_text().splitlines() if line.strip()]
        bad = [a for a in listed if not is_address(a)]
        if bad:
            raise OptionError(f"{addresses}: not an address (0x and 40 hex digits): {bad[0]!r}")
    with Store(directory) as store:
        s = sync_positions(
            store,
            data_dir=directory,
            top=top,
            addresses=listed,
            keep_addresses=keep,
            policy=RetryPolicy(attempts=retries),
        )
    out = {
        "snapshot": s.snapshot,
        "resumed": s.resumed,
        "accounts": s.accounts,
        "fetched": s.fetched,
        "positions": s.positions,
        "failed": s.failed,
        "unnamed_markets": sorted(s.unnamed),
        "stopped": s.stopped,
    }
    if as_json:
        print_json(out)
    else:
        console.print(
            f"hyperliquid positions snapshot {s.snapshot:%Y-%m-%d %H:%M:%S} UTC{' (resumed)' if s.resumed else ''}: "
            f"{s.fetched}/{s.accounts} accounts, {s.positions} positions stored; {len(s.failed)} accounts failed",
            highlight=False,
        )
        for line in s.failed[:10]:
            console.print(f"  failed {line}", highlight=False)
        if s.unnamed:
            console.print(
                f"  not stored (markets levradar cannot name): {', '.join(sorted(s.unnamed))}",
                highlight=False,
            )
        if s.stopped:
            console.print(f"  stopped early: {s.stopped}; run again to resume", highlight=False)
    if s.stopped or s.fetched == 0:
        raise typer.Exit(1)


@app.command("record")
@clean_errors
def record_cmd(
    venues: Annotated[
        str, typer.Option(help="Venues, comma-separated (binance,bybit,okx,hyperliquid).")
    ] = "bybit",
    assets: Annotated[str, typer.Option(help="Assets, comma-separated.")] = "BTC,ETH,SOL",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    flush: Annotated[float, typer.Option(help="Seconds between batched writes.")] = 1.0,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Record live liquidations and mark/OI tickers; Ctrl-C, SIGTERM or --duration flush everything received."""
    from levradar.ingest.record import record
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    venue_list, asset_list = split_list(venues) or [], split_list(assets, upper=True) or []
    with Store(directory) as store:
        typer.echo(
            f"recording {', '.join(venue_list)} for {', '.join(asset_list)} (Ctrl-C to stop)", err=True
        )
        rec = record(store, venue_list, asset_list, duration, data_dir=directory, flush_s=flush)
    rows = [
        {
            "venue": v,
            "messages": st.messages,
            "records": st.records,
            "malformed": st.malformed,
            "set_aside": st.set_aside,
            "connections": st.connections,
            "reconnects": st.reconnects,
            "disconnected_s": round(sum(st.gaps_s), 3),
            "last_error": st.last_error,
        }
        for v, st in rec.stats.items()
    ]
    never = [v for v, st in rec.stats.items() if st.connections == 0]
    if as_json:
        print_json({"venues": rows, "inserted": dict(rec.written), "never_connected": never})
    else:
        for r in rows:
            state = "NEVER CONNECTED, " if r["connections"] == 0 else ""
            console.print(
                f"{r['venue']}: {state}{r['messages']} messages, {r['records']} records, {r['malformed']} "
                f"malformed (kept in rejected/{r['venue']}.jsonl), {r['reconnects']} reconnects "
                f"({r['disconnected_s']} s disconnected)"
                + (f"; last error: {r['last_error']}" if state else ""),
                highlight=False,
            )
        console.print(f"inserted: {dict(rec.written)}", highlight=False)
    if never:  # a recording that never reached a venue is a failure, not "0 messages"
        typer.echo(f"error: never connected to {', '.join(never)}", err=True)
        raise typer.Exit(1)


@app.command("memo")
@clean_errors
def memo_cmd(
    asset: Annotated[str, typer.Argument(help="The asset, e.g. BTC.")],
    as_of: AsOf = None,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm",
            help="Rephrase through an OpenAI-compatible endpoint (LEVRADAR_LLM_URL, _MODEL, _KEY); a rewrite "
            "that adds a number or claim is rejected and the deterministic memo is used.",
        ),
    ] = False,
    journal: Annotated[bool, typer.Option(help="Keep the memo in the decision journal.")] = True,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """A short plain-language memo from the four views (Derivatives, Structure, Risk, Execution)."""
    from levradar.analytics.memo import memo
    from levradar.journal import record_memo
    from levradar.llm import rephrase
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    with Store(directory, read_only=True) as store:
        name, when = known_assets(store, [asset.upper()])[0], _as_of(store, as_of)
        with working(f"{name} memo as of {when:%Y-%m-%d %H:%M} UTC"):
            out = memo(store, name, when)
    if llm:
        out["rephrased"] = rephrase(out["text"])
    if journal:
        with Store(directory) as store:
            out["journal_id"] = record_memo(store, out)
    if as_json:
        print_json(out)
        return
    text = out["rephrased"]["text"] if llm else out["text"]
    console.print(
        f"[bold]{out['asset']}[/bold] memo, as of {out['as_of']:%Y-%m-%d %H:%M} UTC", highlight=False
    )
    console.print(text, highlight=False, soft_wrap=True)
    if llm and out["rephrased"]["source"] != "llm":
        err_console.print(f"LLM rewrite not used: {out['rephrased']['rejected']}", highlight=False)


@app.command("checklist")
@clean_errors
def checklist_cmd(
    assets: Annotated[
        str | None, typer.Option(help="Watchlist, comma-separated (default: every asset).")
    ] = None,
    as_of: AsOf = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """The daily checklist: pockets above/below, funding vs its 90-day percentile, OI 4h/24h, continuation or
    mean reversion, where the invalidation goes."""
    from levradar.analytics.memo import checklist
    from levradar.analytics.scan import scan
    from levradar.render import print_checklist
    from levradar.store import Store, resolve_data_dir

    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        when = _as_of(store, as_of)
        with working("the daily checklist", total=2) as step:
            watch = known_assets(store, split_list(assets, upper=True) or []) or [
                r["asset"] for r in scan(store, when, liquidation=False)
            ]
            step(f"checklist of {len(watch)} asset(s)")
            rows = checklist(store, when, watch)
    if as_json:
        print_json({"as_of": when, "assets": rows})
    else:
        print_checklist(rows, when)


@app.command("evaluate")
@clean_errors
def evaluate_cmd(
    start: Annotated[
        str | None, typer.Option("--from", help="From (ISO 8601; default: the oldest candle).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="To (ISO 8601; default: the newest data).")] = None,
    assets: Assets = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write evaluation.md and PNG plots here.")] = None,
    train_share: Annotated[
        float,
        typer.Option(min=0.1, max=0.9, help="Share of the period whose distributions fix the thresholds."),
    ] = 0.4,
    liquidations: Annotated[
        Path | None,
        typer.Option(
            "--liquidations",
            help="Realised liquidations (CSV/Parquet: ts, asset, long_usd, short_usd) for the decile ratios' "
            "forward liquidation flow; default: the liquidations recorded in the store.",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="Rename a --liquidations column: SRC=DST.")
    ] = None,
    cluster: Cluster = None,
    data_dir: DataDir = None,
    as_json: JsonOut = True,
) -> None:
    """Walk-forward evaluation of every signal and state: forward returns, drawdowns, run-ups and OI changes vs
    each asset's own baseline, stationary-bootstrap intervals, q-values, stress events, top-vs-bottom decile
    ratios of LSI and fragility, calibrated models against a price-only model and without each input group."""
    from levradar.evaluation import report
    from levradar.evaluation.fanout import cluster_address
    from levradar.evaluation.liquidations import read_realised
    from levradar.ingest.files import parse_mapping
    from levradar.store import Store, resolve_data_dir

    realised = read_realised(liquidations, parse_mapping(mapping or [])) if liquidations else None
    directory = resolve_data_dir(data_dir)
    with Store(directory, read_only=True) as store:
        names = known_assets(store, split_list(assets, upper=True) or []) or store_assets(store)
        first = parse_time(start, "--from") or store.query("SELECT min(ts) AS t FROM candles")["t"][0]
        last = _as_of(store, end, "--to")
        if first >= last:
            raise OptionError(
                f"--from {first:%Y-%m-%d %H:%M} UTC is not before --to / the newest data ({last:%Y-%m-%d %H:%M} UTC)"
            )
    with working(f"walk-forward evaluation of {len(names)} asset(s), {first:%Y-%m-%d} .. {last:%Y-%m-%d}"):
        result = report.run(
            directory,
            names,
            first,
            last,
            cluster=cluster_address(cluster),
            train_share=train_share,
            realised=realised,
        )
    if out is not None:
        result["written"] = [str(p) for p in report.write(result, out)]
    if as_json:
        print_json(result)
    else:
        console.print(report.markdown(result), highlight=False)


# the anomaly features as a reader says them; each is followed by its robust z ("funding z -159.5")
FEATURE_WORDS = {
    "funding_z": "funding",
    "oi_roc_24h": "OI 24h change",
    "basis": "basis",
    "rv_24h": "realised vol 24h",
}


@app.command("anomalies")
@clean_errors
def anomalies_cmd(
    as_of: AsOf = None,
    assets: Assets = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Today's outliers across the universe (robust z-scores, IsolationForest) and the features that make them so."""
    from levradar.evaluation.anomalies import anomalies
    from levradar.store import Store, resolve_data_dir

    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        when = _as_of(store, as_of)
        names = known_assets(store, split_list(assets, upper=True) or []) or store_assets(store)
        with working(f"anomalies across {len(names)} asset(s)"):
            out = anomalies(store, when, names)
    if as_json:
        print_json(out)
        return
    console.print(
        f"Anomalies as of {when:%Y-%m-%d %H:%M} UTC (score cutoff {out['score_cutoff']:.3f})", highlight=False
    )
    for r in out["assets"]:
        why = (
            ", ".join(f"{FEATURE_WORDS[w['feature']]} z {w['z']:+.1f}" for w in r["why"])
            or "nothing beyond |z| 3"
        )
        flag = "UNUSUAL" if r["unusual"] else "normal "
        console.print(f"  {r['asset']:<6} {flag} score {r['score']:.3f}  {why}", highlight=False)


alerts_app = typer.Typer(help="Alert rules: test delivery, replay over history, check the newest hour.")
journal_app = typer.Typer(help="The decision journal: what each memo and alert said, and how it turned out.")
validate_app = typer.Typer(help="Validate the models against realised outcomes.")
app.add_typer(alerts_app, name="alerts")
app.add_typer(journal_app, name="journal")
app.add_typer(validate_app, name="validate")


@validate_app.command("liquidations")
@clean_errors
def validate_liquidations_cmd(
    file: Annotated[
        Path, typer.Argument(help="Realised liquidations (CSV/Parquet): ts, asset, long_usd, short_usd.")
    ],
    period: Annotated[str, typer.Option(help="The file's period: 1h, 4h or 1d.")] = "4h",
    assets: Assets = None,
    start: Annotated[str | None, typer.Option("--from", help="First period start (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period start (ISO 8601).")] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="Rename a file column: SRC=DST (e.g. period_start=ts).")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """The liquidation model against realised liquidations, period by period and point-in-time: swept levels,
    fuel near the price, the ex-ante forecast, LSI and fragility vs naive baselines (Spearman, block-bootstrap
    intervals, partial correlations). See docs/heatmap.md."""
    from levradar.evaluation.liquidations import PERIODS, Span, read_realised, validate
    from levradar.ingest.files import parse_mapping
    from levradar.ingest.normalize import InputError
    from levradar.render import print_validation
    from levradar.store import Store, resolve_data_dir

    if period not in PERIODS:
        raise InputError("--period", None, None, f"expected one of {', '.join(PERIODS)}, got {period!r}")
    realised = read_realised(file, parse_mapping(mapping or []))
    span = Span(timedelta(hours=PERIODS[period]), parse_time(start, "--from"), parse_time(end, "--to"))
    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        names = known_assets(store, split_list(assets, upper=True) or []) if assets else None
        with working(f"validating the liquidation model, {period} periods"):
            result = validate(store, realised, span, names)
    if as_json:
        print_json(result)
    else:
        print_validation(result)


@validate_app.command("positions")
@clean_errors
def validate_positions_cmd(
    asset: Annotated[str, typer.Argument(help="The asset (BTC).")],
    venue: Annotated[str, typer.Option(help="The venue whose positions were measured.")] = "hyperliquid",
    days: Annotated[int, typer.Option(help="Days of history behind each modelled map.")] = 90,
    start: Annotated[str | None, typer.Option("--from", help="First snapshot (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last snapshot (ISO 8601).")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Measured positions (dataset positions) against the modelled map at each snapshot, point-in-time: the share
    of measured USD in the model's dense buckets vs a naive band of equal width, distances by side and leverage,
    measured band shares vs the model's weights, and what became of the levels by the next snapshot."""
    from levradar.analytics.measured import compare, measured_asset
    from levradar.render import print_measured_comparison
    from levradar.store import Store, resolve_data_dir

    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        result = compare(
            store,
            measured_asset(store, asset, venue.lower()),
            venue=venue.lower(),
            days=days,
            start=parse_time(start, "--from"),
            end=parse_time(end, "--to"),
        )
    if as_json:
        print_json(result)
    else:
        print_measured_comparison(result)


RulesFile = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="Alert rules file (default: alerts.toml in the data dir, else the bundled rules)."
    ),
]
Urls = Annotated[
    str | None,
    typer.Option("--url", help="Deliver to these apprise URLs (comma-separated) instead of the config's."),
]
Retries = Annotated[
    int, typer.Option("--retries", min=1, max=10, help="Attempts per URL, with exponential backoff between.")
]


def _alert_hours(store: Store, assets: list[str], start: datetime, end: datetime) -> dict[str, pl.DataFrame]:
    from levradar.analytics.scan import history

    return {a: h for a in assets if not (h := history(store, a, start, end)).is_empty()}


def _rule_lookback(config: Any) -> timedelta:
    return timedelta(hours=max([r.persist_hours + r.cooldown_hours for r in config.rules] or [1]) + 1)


def _delivery_line(result: dict[str, Any]) -> str:
    """One delivery result as printed: the redacted target, and why it failed."""
    if result["status"] == "sent":
        return f"sent: {result['target']}"
    return f"FAILED after {result['attempts']} attempts: {result['target']}: {result.get('error')}"


@alerts_app.command("test")
@clean_errors
def alerts_test_cmd(
    rules: RulesFile = None, url: Urls = None, retries: Retries = 4, data_dir: DataDir = None
) -> None:
    """Send one test alert to every configured URL (printed redacted: no token is shown)."""
    from levradar.alerts import Retry, Rule, alert_payload, deliver, load_alert_config, rules_path
    from levradar.store import resolve_data_dir

    config = load_alert_config(rules_path(rules, resolve_data_dir(data_dir)))
    urls = split_list(url) or config.urls
    if not urls:
        raise OptionError("no delivery URL: give --url or set [delivery] urls / LEVRADAR_ALERT_URLS")
    rule = Rule("test", "match", "levradar test alert", {})
    row = {"asset": "TEST", "t": datetime.now(UTC).replace(minute=0, second=0, microsecond=0)}
    results = deliver(alert_payload(rule, row, config.digest), urls, Retry(attempts=retries))
    for result in results:
        console.print(_delivery_line(result), highlight=False, markup=False)
    if any(r["status"] != "sent" for r in results):
        raise typer.Exit(1)


@alerts_app.command("replay")
@clean_errors
def alerts_replay_cmd(
    start: Annotated[str, typer.Option("--from", help="From this time (ISO 8601, UTC).")],
    end: Annotated[
        str | None, typer.Option("--to", help="Up to this time (default: the newest data).")
    ] = None,
    assets: Annotated[
        str | None, typer.Option(help="Assets, comma-separated (default: every asset).")
    ] = None,
    rules: RulesFile = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Run the rules over history: what would have fired, and when."""
    from levradar.alerts import evaluate, load_alert_config, rules_path
    from levradar.analytics.scan import scan
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    config = load_alert_config(rules_path(rules, directory))
    first = parse_time(start, "--from")
    assert first is not None
    with Store(directory, read_only=True) as store:
        last = _as_of(store, end)
        names = split_list(assets, upper=True) or [r["asset"] for r in scan(store, last, liquidation=False)]
        frames = _alert_hours(store, names, first - _rule_lookback(config), last)
    fired = [a for a in evaluate(config, frames) if a["time"] >= first]
    if as_json:
        print_json({"from": first, "to": last, "rules": [r.id for r in config.rules], "alerts": fired})
        return
    console.print(
        f"{len(fired)} alerts from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC", highlight=False
    )
    for a in fired:
        console.print(
            f"{a['time']:%Y-%m-%d %H:%M}  {a['asset']:<6} {a['rule']:<30} {a['text']}", highlight=False
        )


@alerts_app.command("check")
@clean_errors
def alerts_check_cmd(
    assets: Annotated[
        str | None, typer.Option(help="Assets, comma-separated (default: every asset).")
    ] = None,
    rules: RulesFile = None,
    url: Urls = None,
    retries: Retries = 4,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Evaluate the rules at the newest hour; deliver what fires now, once: each alert is journaled with its
    delivery (sent, or failed with the reason); a failed target is tried again by the next check. Exit 1 when a
    delivery failed."""
    import polars as pl

    from levradar.alerts import Retry, deliver, evaluate, load_alert_config, redact, rules_path
    from levradar.analytics.scan import scan
    from levradar.journal import delivered_before, exists, record_alert
    from levradar.store import Store, resolve_data_dir

    directory = resolve_data_dir(data_dir)
    config = load_alert_config(rules_path(rules, directory))
    urls = split_list(url) or config.urls
    with Store(directory, read_only=True) as store:
        now = _as_of(store, None)
        names = split_list(assets, upper=True) or [r["asset"] for r in scan(store, now, liquidation=False)]
        frames = _alert_hours(store, names, now - _rule_lookback(config), now)
    newest: Any = pl.concat([f.select("t") for f in frames.values()])["t"].max() if frames else None
    due = [a for a in evaluate(config, frames) if a["time"] == newest]
    sent = []
    with Store(directory) as store:
        for a in due:
            if exists(store, "alert", a["asset"], a["rule"], a["time"]):
                continue  # delivered before (or journaled without a target): de-duplicated
            done = [
                r for r in delivered_before(store, a["asset"], a["rule"], a["time"]) if r["status"] == "sent"
            ]
            todo = [
                u for u in urls if redact(u) not in {r["target"] for r in done}
            ]  # a retry: the failed ones
            a["delivered"] = done + deliver(a, todo, Retry(attempts=retries))
            record_alert(store, a)
            sent.append(a)
    failed = any(r["status"] != "sent" for a in sent for r in a["delivered"])
    if as_json:
        print_json({"as_of": newest, "alerts": sent})
    else:
        console.print(f"{len(sent)} new alerts at {newest}", highlight=False)
        for a in sent:
            console.print(f"{a['asset']:<6} {a['rule']:<30} {a['text']}", highlight=False)
            for r in a["delivered"]:
                console.print(f"       {_delivery_line(r)}", highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


@journal_app.command("list")
@clean_errors
def journal_list_cmd(
    kind: Annotated[str | None, typer.Option(help="memo or alert.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Every journal entry: what was said, when, from which inputs and config; an alert with its delivery."""
    from levradar.journal import KINDS, entries
    from levradar.store import Store, resolve_data_dir

    if kind is not None and kind not in KINDS:
        raise OptionError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        rows = frame_records(entries(store, kind).drop("findings_json"))
        where = store.data_dir
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no {kind + 's' if kind else 'entries'} in the journal at {where}")
        return
    for r in rows:
        sent = {None: "", "sent": " sent", "none": " journaled only (no delivery URL)"}.get(
            r["delivery"], f" DELIVERY FAILED: {r['delivery_error']}"
        )
        console.print(
            f"#{r['id']} {r['kind']:<5} {r['as_of']:%Y-%m-%d %H:%M} {r['asset']:<6} {r['rule'] or ''}{sent}",
            highlight=False,
            markup=False,
        )
        console.print(f"   {r['text'].splitlines()[0]}", highlight=False, markup=False)


@journal_app.command("review")
@clean_errors
def journal_review_cmd(
    kind: Annotated[str | None, typer.Option(help="memo or alert.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Score past reads against what happened next: forward return, max adverse move, pockets hit,
    invalidations, realised liquidations; then what worked and what did not."""
    from levradar.journal import KINDS, review
    from levradar.render import print_review
    from levradar.store import Store, resolve_data_dir

    if kind is not None and kind not in KINDS:
        raise OptionError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    with Store(resolve_data_dir(data_dir), read_only=True) as store:
        out = review(store, kind)
    if as_json:
        print_json(out)
    else:
        print_review(out)


@app.command("serve")
@clean_errors
def serve_cmd(
    host: Annotated[
        str, typer.Option(help="Interface to bind; off loopback LEVRADAR_TOKEN is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    record: Annotated[
        bool,
        typer.Option("--record", help="Also record live streams and sync hourly data, refreshing the radar."),
    ] = False,
    venues: Annotated[
        str, typer.Option(help="With --record: venues, comma-separated.")
    ] = "binance,bybit,okx,hyperliquid",
    assets: Annotated[str, typer.Option(help="With --record: assets, comma-separated.")] = "BTC,ETH,SOL",
    data_dir: DataDir = None,
) -> None:
    """The dashboard and the HTTP API (OpenAPI at /docs) over the store, in one process."""
    from levradar.api.server import ServeError, serve  # the web stack only when serving
    from levradar.store import resolve_data_dir

    directory = resolve_data_dir(data_dir)
    try:
        serve(
            directory,
            host,
            port,
            record=record,
            venues=split_list(venues) or [],
            assets=split_list(assets, upper=True) or [],
        )
    except ServeError as exc:
        raise OptionError(str(exc)) from None


@app.command("mcp")
@clean_errors
def mcp_cmd(data_dir: DataDir = None) -> None:
    """Serve the radar to AI agents over the Model Context Protocol on stdio (read-only tools: scan, asset,
    heatmap, scenario, memo, history). See docs/mcp.md."""
    from levradar.mcp_server import serve_stdio  # the MCP SDK only when serving
    from levradar.store import resolve_data_dir

    serve_stdio(resolve_data_dir(data_dir))


if __name__ == "__main__":
    app()
