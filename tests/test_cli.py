"""The command line, driven through typer's CliRunner (and a real subprocess where the process matters)."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from levradar.cli import app
from levradar.ingest.sources.canonical import sample_dir
from levradar.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
ASSETS = ["BTC", "DOGE", "ETH", "SOL", "XRP"]
DATASETS = {"candles", "funding", "open_interest", "liquidations", "mark_index"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
runner = CliRunner()


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=env)


def ok_json(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def flat(text: str) -> str:
    """Whitespace-normalised text (so a wrapped message can still be searched)."""
    return " ".join(plain(text).split())


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DemoRuns:
    data_dir: Path
    first: dict[str, Any]  # demo --json
    status_before: list[dict[str, Any]]
    as_of: dict[str, Any]  # demo --as-of 2025-10-11T00:00 --json, the second demo run into the same folder
    rerun: dict[str, Any]  # import-source sample --json, a third load of the sample into the same folder
    status_after: list[dict[str, Any]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuns]:
    """One store loaded with the sample by `demo`, then re-loaded twice; the results of every step."""
    d = tmp_path_factory.mktemp("demo") / "store"
    first = ok_json("demo", "--data-dir", d, "--json")
    before = ok_json("status", "--data-dir", d, "--json")["markets"]
    as_of = ok_json("demo", "--data-dir", d, "--as-of", "2025-10-11T00:00", "--json")
    rerun = ok_json("import-source", "sample", "--data-dir", d, "--json")
    after = ok_json("status", "--data-dir", d, "--json")["markets"]
    yield DemoRuns(d, first, before, as_of, rerun, after)


# --------------------------------------------------------------------------------------------------------
# version and help
# --------------------------------------------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"levradar {version('levradar')}\n"
    assert version("levradar") != "0.0.0+unknown"


def test_version_in_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "levradar.cli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"levradar {version('levradar')}"
    assert proc.stderr == ""


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    text = plain(result.stdout)
    for command in ("import-source", "import", "export", "status", "demo"):
        assert re.search(rf"\b{re.escape(command)}\b", text), command
    assert "--version" in text


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("import-source", ["--assets", "--venues", "--from", "--to", "--data-dir", "--json"]),
        ("import", ["--map", "--venue", "--symbol", "--data-dir", "--json"]),
        ("export", ["--venue", "--symbol", "--from", "--to", "--format", "--out", "--data-dir"]),
        ("status", ["--data-dir", "--json"]),
        ("demo", ["--data-dir", "--as-of", "--assets", "--json"]),
    ],
)
def test_command_help_names_its_options(command: str, options: list[str]) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    assert f"levradar {command}" in text
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), option


# --------------------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------------------


def test_demo_json_has_one_row_per_asset(demo: DemoRuns) -> None:
    assert demo.first["data_dir"] == str(demo.data_dir)
    assert (demo.data_dir / "levradar.duckdb").is_file()
    rows = demo.first["assets"]  # the full radar (scan JSON), sorted by LSI
    assert sorted(r["asset"] for r in rows) == ASSETS
    assert [r["scores"]["lsi"] for r in rows] == sorted((r["scores"]["lsi"] for r in rows), reverse=True)
    for r in rows:
        assert isinstance(r["price"], float) and math.isfinite(r["price"]) and r["price"] > 0, r
        rv = r["volatility"]["rv_24h"]
        assert isinstance(rv, float) and math.isfinite(rv) and rv > 0, r
        assert math.isfinite(r["returns"]["ret_24h"]), r
    # default "now": the newest hour at which every asset's main venues have a closed bar (not the newest bar of
    # any venue: Hyperliquid's sample runs a day past the others)
    candles = pl.read_parquet(sample_dir() / "candles.parquet").filter(pl.col("interval") == "1h")
    last_close = candles.group_by("asset", "venue").agg(
        (pl.col("ts").max() + timedelta(hours=1)).alias("close")
    )
    rule = demo.first["as_of_rule"]
    ready = [
        min(last_close.filter((pl.col("asset") == a) & pl.col("venue").is_in(v))["close"].to_list())
        for a, v in rule["main_venues"].items()
    ]
    assert demo.first["as_of"] == iso(min(ready)) and rule["stale_assets"] == {}
    assert demo.first["as_of"] < iso(candles["ts"].max())


def test_demo_rerun_into_the_same_folder_changes_nothing(demo: DemoRuns) -> None:
    datasets = demo.rerun["datasets"]
    assert set(datasets) == DATASETS
    for name, rep in datasets.items():
        assert (rep["inserted"], rep["updated"]) == (0, 0), name
        assert rep["unchanged"] == rep["rows"] == pl.read_parquet(sample_dir() / f"{name}.parquet").height

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return (r["dataset"], r["venue"], r["symbol"], r["interval"] or "")

    assert sorted(demo.status_after, key=key) == sorted(demo.status_before, key=key)
    assert len(demo.status_after) == len(demo.status_before) > 0
    with Store(demo.data_dir, read_only=True) as store:
        kinds = store.imports()["source"].to_list()
    assert kinds == ["sample", "sample", "sample"]


def test_demo_as_of_the_day_after_the_cascade(demo: DemoRuns) -> None:
    assert demo.as_of["as_of"] == "2025-10-11T00:00:00Z"
    rows = {r["asset"]: r for r in demo.as_of["assets"]}
    assert sorted(rows) == ASSETS
    btc = rows["BTC"]
    assert btc["returns"]["ret_24h"] < 0
    assert [v["venue"] for v in btc["venues"] if v["oi"]["usd"]] == ["bybit"]
    assert btc["oi"]["roc_24h"] < 0
    # the same numbers from the stored rows: Binance's last closed bar, Bybit's OI now vs 24 h earlier
    with Store(demo.data_dir, read_only=True) as store:
        bars = store.read(
            "candles",
            venues=["binance"],
            symbols=["BTCUSDT"],
            interval="1h",
            start=datetime(2025, 10, 9, tzinfo=UTC),
        )
        oi = store.read(
            "open_interest", venues=["bybit"], symbols=["BTCUSDT"], start=datetime(2025, 10, 10, tzinfo=UTC)
        )
    close = dict(zip(bars["ts"].to_list(), bars["close"].to_list(), strict=True))
    usd = dict(zip(oi["ts"].to_list(), oi["oi_usd"].to_list(), strict=True))
    last, day_before = datetime(2025, 10, 10, 23, tzinfo=UTC), datetime(2025, 10, 9, 23, tzinfo=UTC)
    coin = dict(zip(oi["ts"].to_list(), oi["oi_base"].to_list(), strict=True))
    assert btc["price_venue"] == "binance" and btc["price"] == close[last]
    assert btc["returns"]["ret_24h"] == pytest.approx(close[last] / close[day_before] - 1)
    now, then = datetime(2025, 10, 11, tzinfo=UTC), datetime(2025, 10, 10, tzinfo=UTC)
    assert btc["oi"]["usd"] == pytest.approx(usd[now], abs=1.0)
    # OI change is measured in coin, so the price fall does not masquerade as positioning
    assert btc["oi"]["roc_24h"] == pytest.approx(coin[now] / coin[then] - 1, rel=1e-5)
    assert btc["oi"]["roc_24h"] < -0.2  # the cascade wiped out over a fifth of Bybit's BTC OI
    assert btc["scores"]["deleveraging"] == "flushing"


def test_demo_table_output(demo: DemoRuns) -> None:
    result = invoke("demo", "--data-dir", demo.data_dir, "--as-of", "2025-10-11", "--assets", "btc,eth")
    assert result.exit_code == 0, result.output
    report, sep, radar = plain(result.stdout).partition(
        "levradar — as of 2025-10-11 00:00 UTC (sorted by LSI)"
    )
    assert sep, result.stdout
    assert "import sample" in report  # the import report comes first
    assert re.search(r"\bBTC\b", radar) and re.search(r"\bETH\b", radar)
    assert not re.search(r"\b(SOL|XRP|DOGE)\b", radar)


# --------------------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------------------


def test_status_json_lists_every_market(demo: DemoRuns) -> None:
    rows = demo.status_before
    assert {r["dataset"] for r in rows} == DATASETS
    for r in rows:
        assert {"dataset", "venue", "symbol", "rows", "first", "last", "gaps"} <= set(r)
        assert r["rows"] > 0 and r["first"] <= r["last"] and r["gaps"] >= 0
    keyed = {(r["dataset"], r["venue"], r["symbol"], r["interval"]): r for r in rows}
    # one row per dataset × venue × symbol (× interval for candles), as in the sample files
    for name in DATASETS:
        frame = pl.read_parquet(sample_dir() / f"{name}.parquet")
        by = ["venue", "symbol", "interval"] if name == "candles" else ["venue", "symbol"]
        expected = frame.group_by(by).agg(
            pl.len(), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
        )
        assert sum(1 for k in keyed if k[0] == name) == expected.height, name
        for r in expected.iter_rows(named=True):
            got = keyed[(name, r["venue"], r["symbol"], r.get("interval"))]
            assert (got["rows"], got["first"], got["last"]) == (r["len"], iso(r["first"]), iso(r["last"]))
    btc_1h = keyed[("candles", "binance", "BTCUSDT", "1h")]
    assert btc_1h["gaps"] == 0
    # Bybit BTC open interest has holes longer than 1.5 h in the sample
    oi = pl.read_parquet(sample_dir() / "open_interest.parquet").filter(
        (pl.col("venue") == "bybit") & (pl.col("symbol") == "BTCUSDT")
    )
    steps = oi.sort("ts")["ts"].diff().drop_nulls()
    holes = steps.filter(steps > timedelta(hours=1.5))
    bybit = keyed[("open_interest", "bybit", "BTCUSDT", None)]
    assert bybit["gaps"] == holes.len() > 0
    assert bybit["largest_gap_h"] == pytest.approx(holes.max().total_seconds() / 3600)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """A fresh ``python -m levradar.cli`` process with output to pipes and no terminal (as in a script or CI
    log); COLUMNS/LINES removed so the console width is the same everywhere."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "levradar.cli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_status_table_shows_full_values(tmp_path: Path) -> None:
    """`levradar status > status.txt`: the table must still show each symbol and its first/last time."""
    d = tmp_path / "store"
    ok_json("import-source", "funding-7venues", FIXTURES / "funding-7venues", "--data-dir", d, "--json")
    proc = _run("status", "--data-dir", d)
    assert proc.returncode == 0, proc.stderr
    assert f"store {d}" in proc.stdout
    for text in (
        "funding",
        "binance",
        "BTCUSDT",
        "BTC_USDT",
        "BTC-USDT",
        "2020-01-01 00:00",
        "2022-01-03 11:00",
    ):
        assert text in proc.stdout, text


# --------------------------------------------------------------------------------------------------------
# data folder and import-source options
# --------------------------------------------------------------------------------------------------------


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    env_dir = tmp_path / "from-env"
    env = {"LEVRADAR_DATA_DIR": str(env_dir)}
    report = ok_json("import-source", "funding-7venues", FIXTURES / "funding-7venues", "--json", env=env)
    assert report["datasets"]["funding"]["inserted"] == 300
    assert (env_dir / "levradar.duckdb").is_file()
    status = ok_json("status", "--json", env=env)
    assert status["data_dir"] == str(env_dir)
    assert {(r["venue"], r["rows"]) for r in status["markets"]} == {
        ("binance", 60),
        ("bybit", 60),
        ("dydx", 60),
        ("gate", 60),
        ("htx", 60),
    }
    # --data-dir beats the environment
    other = tmp_path / "explicit"
    result = invoke("status", "--json", "--data-dir", other, env=env)
    assert result.exit_code == 2
    assert str(other) in flat(result.stderr).replace(" ", "")


def _markets(data_dir: Path) -> set[tuple[str, str, str]]:
    status = ok_json("status", "--json", "--data-dir", data_dir)
    return {(r["dataset"], r["venue"], r["symbol"]) for r in status["markets"]}


def test_import_source_comma_separated_assets_and_venues(tmp_path: Path) -> None:
    d = tmp_path / "store"
    args = ["--assets", "BTC,ETH", "--venues", "binance,bybit", "--data-dir", str(d), "--json"]
    report = ok_json("import-source", "perp-panels", FIXTURES / "perp-panels", *args)
    assert report["files"] == 5  # binance BTC + bybit BTC panels, binance_funding and 8h klines, bybit OI
    assert {(v, s) for _, v, s in _markets(d)} == {("binance", "BTCUSDT"), ("bybit", "BTCUSDT")}
    # spelling is forgiving: lower-case assets, spaces, upper-case venues
    d2 = tmp_path / "store2"
    args = ["--assets", "sol, eth", "--venues", "BINANCE,okx", "--data-dir", str(d2)]
    result = invoke("import-source", "perp-panels", FIXTURES / "perp-panels", *args)
    assert result.exit_code == 0, result.output
    assert {(v, s) for _, v, s in _markets(d2)} == {("binance", "SOLUSDT")}


def test_import_source_time_window(tmp_path: Path) -> None:
    d = tmp_path / "store"
    args = ["--from", "2025-10-09", "--to", "2025-10-10T12:00Z", "--data-dir", str(d)]
    result = invoke("import-source", "perp-panels", FIXTURES / "perp-panels", *args)
    assert result.exit_code == 0, result.output
    status = ok_json("status", "--json", "--data-dir", d)["markets"]
    assert status
    for r in status:
        assert r["first"] >= "2025-10-09T00:00:00Z" and r["last"] <= "2025-10-10T12:00:00Z", r


def test_import_source_venue_filter_that_leaves_a_file_empty(tmp_path: Path) -> None:
    """multivenue-2025's liquidation fills are OKX/Hyperliquid only; --venues binance,bybit must import the
    funding and candles of those venues, not crash on the emptied liquidation file."""
    d = tmp_path / "store"
    args = ["--assets", "BTC,ETH", "--venues", "binance,bybit", "--data-dir", str(d)]
    result = invoke("import-source", "multivenue-2025", FIXTURES / "multivenue-2025", *args)
    assert "Traceback" not in result.output
    assert result.exit_code == 0, repr(result.exception)
    assert {(v, s) for _, v, s in _markets(d)} == {
        ("binance", "BTCUSDT"),
        ("binance", "ETHUSDT"),
        ("bybit", "BTCUSDT"),
        ("bybit", "ETHUSDT"),
    }


def test_import_source_report_table(tmp_path: Path) -> None:
    result = invoke("import-source", "perp-panels", FIXTURES / "perp-panels", "--data-dir", tmp_path / "s")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "+149% in one step at 2021-05-19 15:00 UTC" in text
    assert "8h -> 1h at 2023-06-08 01:00 UTC" in text
    assert "anomalies flagged" in text and "funding-interval changes" in text


def test_export_json(demo: DemoRuns) -> None:
    args = ["--venue", "bybit", "--symbol", "BTC-USDT", "--from", "2025-10-10", "--to", "2025-10-11"]
    rows = ok_json("export", "funding", *args, "--format", "json", "--data-dir", demo.data_dir)
    assert [r["ts"] for r in rows] == [
        "2025-10-10T00:00:00.000000Z",
        "2025-10-10T08:00:00.000000Z",
        "2025-10-10T16:00:00.000000Z",
        "2025-10-11T00:00:00.000000Z",
    ]
    assert {r["symbol"] for r in rows} == {"BTCUSDT"} and {r["interval_hours"] for r in rows} == {8.0}


# --------------------------------------------------------------------------------------------------------
# errors: exit code 2, one line on stderr, no traceback
# --------------------------------------------------------------------------------------------------------

ERROR_CASES = [
    "unknown-source",
    "missing-path",
    "unknown-dataset",
    "export-unknown-dataset",
    "bad-from",
    "no-store",
    "bad-csv",
]


def _error_case(case: str, tmp: Path, demo_dir: Path) -> tuple[list[str | Path], str]:
    store = tmp / "store"
    if case == "unknown-source":
        return ["import-source", "nope", FIXTURES, "--data-dir", store], "unknown source 'nope'"
    if case == "missing-path":
        return [
            "import-source",
            "perp-panels",
            tmp / "does-not-exist",
            "--data-dir",
            store,
        ], "no such file or folder"
    if case == "unknown-dataset":
        file = FIXTURES / "multivenue-2025" / "candles.parquet"
        return ["import", "nodataset", file, "--data-dir", store], "unknown dataset 'nodataset'"
    if case == "export-unknown-dataset":
        return ["export", "nodataset", "--data-dir", demo_dir], "unknown dataset 'nodataset'"
    if case == "bad-from":
        return ["import-source", "sample", "--from", "notatime", "--data-dir", store], "'notatime'"
    if case == "no-store":
        return ["status", "--data-dir", tmp / "missing"], "no store at"
    assert case == "bad-csv"
    src = next((FIXTURES / "funding-7venues").glob("BTC-USDT_gate_*.csv"))
    lines = src.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",oops"
    folder = tmp / "f7"
    folder.mkdir()
    (folder / src.name).write_text("\n".join(lines) + "\n")
    return [
        "import-source",
        "funding-7venues",
        folder,
        "--data-dir",
        store,
    ], "column 'Funding Rate': not a number"


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_exit_2_without_traceback(case: str, tmp_path: Path, demo: DemoRuns) -> None:
    args, fragment = _error_case(case, tmp_path, demo.data_dir)
    result = invoke(*args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert fragment in flat(result.stderr)
    if case == "no-store":
        assert not (tmp_path / "missing").exists()  # looking does not create a store
    if case == "bad-from":
        assert "--from" in flat(result.stderr)


@pytest.mark.parametrize("case", ["unknown-source", "bad-from"])
def test_error_message_is_one_line(case: str, tmp_path: Path) -> None:
    """README: malformed input stops the import with *one line*. Run as a user would, stderr to a pipe
    (not a terminal), in a fresh process."""
    args, fragment = _error_case(case, tmp_path, tmp_path)
    proc = _run(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and fragment in lines[0]


def _modules_after(runs: list[list[str]], modules: tuple[str, ...]) -> tuple[list[str], str]:
    """Run each CLI argument list in one fresh interpreter (each must exit 0); which of ``modules`` got loaded,
    and what the runs printed."""
    probe = (
        "import sys\n"
        "from levradar.cli import app\n"
        f"for args in {runs!r}:\n"
        "    try:\n"
        "        app(args, standalone_mode=False)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code in (0, None), (args, exit.code)\n"
        f"print(sorted(m for m in {modules!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    *printed, loaded = done.stdout.strip().splitlines()
    return ast.literal_eval(loaded), "\n".join(printed)


def test_help_and_version_load_no_heavy_module() -> None:
    """Start-up stays fast: `--version` and `--help` (of the app and of a command) import none of polars, DuckDB,
    numba, scipy or the analytics; the command's own imports run only when it does."""
    heavy = ("polars", "duckdb", "numba", "scipy", "levradar.analytics.scan", "levradar.store")
    runs = [["--version"], ["--help"], ["scan", "--help"], ["import-source", "--help"]]
    loaded, printed = _modules_after(runs, heavy)
    assert loaded == []
    assert "levradar " in printed and "Source set: perp-panels" in printed


def test_map_scan_and_memo_load_no_jit_compiler(demo: DemoRuns) -> None:
    """The model's kernel is compiled at install (Cython): the commands a user waits on most — heatmap, scan,
    memo — never load numba or scipy (~1 s per process between them) and still draw a map. Nor pyarrow (store reads
    reach polars through the Arrow C stream interface) or pydantic (typer below 0.29): ~0.1 s each."""
    d = str(demo.data_dir)
    runs = [["heatmap", "BTC", "--data-dir", d], ["scan", "--data-dir", d], ["memo", "BTC", "--data-dir", d]]
    loaded, printed = _modules_after(runs, ("numba", "scipy", "sklearn", "pyarrow", "pydantic"))
    assert loaded == []
    assert "forced-flow USD outward from price" in printed and "nearest dense pockets" in printed


def test_a_command_that_chooses_its_exit_code_prints_no_traceback(tmp_path: Path) -> None:
    """sync against a refused venue exits 1 with its summary line — never a logged traceback on stderr."""
    env = {**os.environ, "LEVRADAR_BYBIT_REST_URL": "http://127.0.0.1:9"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "levradar.cli",
            "sync",
            "--venues",
            "bybit",
            "--assets",
            "BTC",
            "--since",
            "2026-01-01",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 1
    assert "bybit: FAILED" in run.stdout and "connection refused" in run.stdout
    assert "Traceback" not in run.stderr + run.stdout and "failed" not in run.stderr
