"""The radar commands (scan, screen, history) through typer's CliRunner, on a store loaded with the real sample."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from levradar.analytics.config import default_config_path
from levradar.cli import app
from levradar.fmt import ordinal
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store

ASSETS = ["BTC", "DOGE", "ETH", "SOL", "XRP"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok_json(*args: str | Path) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def parse_z(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = plain(lines[0])
    assert line.startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-signals") / "store"
    with Store(directory) as store:  # closed again: the commands open it read-only
        import_source(store, "sample", Path("."), Filters())
    return directory


@pytest.fixture(scope="module")
def scan_json(data_dir: Path) -> Any:
    return ok_json("scan", "--json", "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)


# --------------------------------------------------------------------------------------------------------
# scan
# --------------------------------------------------------------------------------------------------------


def test_scan_json_parses_with_five_assets(scan_json: Any) -> None:
    assert scan_json["as_of"] == "2025-10-11T00:00:00Z"
    rows = scan_json["assets"]
    assert sorted(r["asset"] for r in rows) == ASSETS
    lsi = [r["scores"]["lsi"] for r in rows]
    assert lsi == sorted(lsi, reverse=True)
    for r in rows:
        assert r["as_of"] == "2025-10-11T00:00:00Z"
        assert isinstance(r["price"], float) and r["price"] > 0
        liq = r["liquidation"]
        assert liq["proximity"] in (None, "Very Near", "Near", "Medium", "Far")
        assert ("unavailable" in liq["status"]) == (liq["proximity"] is None)
        for t in r["transitions"]:
            assert parse_z(t["at"]) <= datetime(2025, 10, 11, tzinfo=UTC)
    by_asset = {r["asset"]: r for r in rows}
    for asset in ("BTC", "ETH", "SOL"):  # the day after the 2025-10-10 cascade
        assert by_asset[asset]["scores"]["deleveraging"] == "flushing"
        assert by_asset[asset]["oi"]["roc_24h"] < -0.15


def test_scan_as_of_accepts_other_spellings(data_dir: Path, scan_json: Any) -> None:
    """The same instant written with a Z and with an offset gives the same radar."""
    for spelling in ("2025-10-11T00:00Z", "2025-10-11T02:00+02:00"):
        other = ok_json("scan", "--json", "--as-of", spelling, "--data-dir", data_dir)
        assert other == scan_json, spelling


def test_scan_assets_filter_shows_only_those_in_the_table(data_dir: Path) -> None:
    result = invoke("scan", "--assets", "btc,eth", "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    assert "2025-10-11 00:00" in text
    table_rows = [line.split()[0] for line in text.splitlines() if line.split()[:1] in (["ETH"], ["BTC"])]
    assert table_rows == ["ETH", "BTC"]  # sorted by LSI: ETH 62, BTC 31 the day after the cascade
    for other in ("SOL", "XRP", "DOGE"):
        assert not re.search(rf"\b{other}\b", text), other
    assert "Deleveraging" in text  # the tag's head; --wide shows "Deleveraging (Post-Flush)"


def test_scan_assets_filter_in_json(data_dir: Path) -> None:
    data = ok_json(
        "scan", "--json", "--assets", "sol, xrp", "--as-of", "2025-10-11T00:00", "--data-dir", data_dir
    )
    assert sorted(r["asset"] for r in data["assets"]) == ["SOL", "XRP"]


def test_scan_default_as_of_is_the_newest_data(data_dir: Path) -> None:
    """The default as-of is the newest hour at which every asset's main venues have a closed bar — not the newest
    bar of any venue (Hyperliquid's runs a day past the others in the sample)."""
    data = ok_json("scan", "--json", "--data-dir", data_dir)
    as_of = parse_z(data["as_of"])
    with Store(data_dir, read_only=True) as store:
        newest = store.read("candles", interval="1h", derived=False)["ts"].max()
        bars = store.read("candles", interval="1h", derived=False, start=as_of - timedelta(hours=1))
    assert isinstance(newest, datetime) and as_of < newest
    assert sorted(r["asset"] for r in data["assets"]) == ASSETS
    closed = bars.filter(pl.col("ts") == as_of - timedelta(hours=1))
    for read in data["assets"]:
        main = data["as_of_rule"]["main_venues"][read["asset"]]
        have = set(closed.filter(pl.col("asset") == read["asset"])["venue"].to_list())
        assert set(main) <= have, (read["asset"], main, have)
        assert read["coverage"]["status"] in {"complete", "partial"}
    # one hour later a main venue of some asset has no bar any more
    later = bars.filter(pl.col("ts") == as_of)
    assert any(
        not set(data["as_of_rule"]["main_venues"][a])
        <= set(later.filter(pl.col("asset") == a)["venue"].to_list())
        for a in ASSETS
    ), later


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.toml", "[baseline\nwindow_days = 90\n"),  # not TOML
        ("binary.toml", None),  # not text
        ("missing.toml", ""),  # no such file (not created)
    ],
)
def test_scan_with_a_bad_config_exits_2_naming_the_file(
    data_dir: Path, tmp_path: Path, name: str, content: str | None
) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes(b"\xff\xfe\x00\x81 not utf-8")
    elif content:
        path.write_text(content)
    result = invoke("scan", "--config", path, "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)
    assert_one_line_error(result, str(path))


@pytest.mark.parametrize(
    ("case", "old", "new", "fragment"),
    [
        (
            "decreasing-boundaries",
            "boundaries = [-2.5, -1.0, 1.0, 2.5]",
            "boundaries = [2.5, 1.0, -1.0, -2.5]",
            "boundaries",
        ),
        ("no-baseline-section", "[baseline]", "[baseline_renamed]", "baseline"),
    ],
    ids=["decreasing-boundaries", "no-baseline-section"],
)
def test_scan_with_invalid_config_values_exits_2_naming_the_file(
    data_dir: Path, tmp_path: Path, case: str, old: str, new: str, fragment: str
) -> None:
    """A readable TOML file with a wrong value or a missing section: the error must say which file is wrong.

    BUG: only unreadable/unparsable files are named (load_config wraps OSError/TOMLDecodeError with the path);
    a ConfigError from validation (RegimeSpec) or from a missing section/key at scan time says e.g.
    "error: boundaries must increase: (2.5, 1.0, -1.0, -2.5)" with no file name."""
    text = default_config_path().read_text()
    bad = text.replace(old, new)
    assert bad != text
    path = tmp_path / f"{case}.toml"
    path.write_text(bad)
    result = invoke("scan", "--config", path, "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)
    assert_one_line_error(result, fragment, str(path))


def test_scan_with_a_copy_of_the_default_config_gives_the_same_scores(
    data_dir: Path, tmp_path: Path, scan_json: Any
) -> None:
    path = tmp_path / "copy.toml"
    path.write_bytes(default_config_path().read_bytes())
    data = ok_json("scan", "--json", "--config", path, "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)
    assert data == scan_json


def test_scan_on_a_missing_store_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = invoke("scan", "--data-dir", missing)
    assert_one_line_error(result, "no store", str(missing))
    assert not missing.exists()  # a read-only command never creates a store


@pytest.mark.parametrize("command", ["scan", "screen"])
def test_bad_as_of_exits_2(data_dir: Path, command: str) -> None:
    result = invoke(command, "--as-of", "yesterday", "--data-dir", data_dir)
    assert_one_line_error(result, "--as-of", "yesterday")


# --------------------------------------------------------------------------------------------------------
# screen
# --------------------------------------------------------------------------------------------------------


def test_screen_json(data_dir: Path) -> None:
    data = ok_json("screen", "--json", "--as-of", "2025-10-11T00:00", "--data-dir", data_dir)
    assert data["as_of"] == "2025-10-11T00:00:00Z"
    assert set(data) == {"as_of", "most_crowded", "most_fragile", "highest_squeeze_risk"}
    for name in ("most_crowded", "most_fragile", "highest_squeeze_risk"):
        rows = data[name]
        assert sorted(r["asset"] for r in rows) == ASSETS, name
        scores = [r["score"] for r in rows]
        assert scores == sorted(scores, reverse=True), name
        for r in rows:
            assert 0.0 <= r["vs_own_history_pct"] <= 1.0, r
            assert isinstance(r["vs_market"], float)
    assert {r["side"] for r in data["highest_squeeze_risk"]} <= {"long squeeze", "short squeeze"}


def test_screen_table(data_dir: Path) -> None:
    result = invoke("screen", "--as-of", "2025-10-11T00:00", "--assets", "btc,sol", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    for title in ("most crowded", "most fragile", "highest squeeze risk"):
        assert title in text, title
    assert re.search(r"\bBTC\b", text) and re.search(r"\bSOL\b", text)
    assert not re.search(r"\b(ETH|XRP|DOGE)\b", text)


# --------------------------------------------------------------------------------------------------------
# history
# --------------------------------------------------------------------------------------------------------


def test_history_json_gives_25_hourly_rows(data_dir: Path) -> None:
    data = ok_json(
        "history", "SOL", "--from", "2025-10-10", "--to", "2025-10-11", "--json", "--data-dir", data_dir
    )
    assert data["asset"] == "SOL"
    assert (data["from"], data["to"]) == ("2025-10-10T00:00:00Z", "2025-10-11T00:00:00Z")
    hours = data["hours"]
    assert len(hours) == 25
    times = [parse_z(h["t"]) for h in hours]
    assert times[0] == datetime(2025, 10, 10, tzinfo=UTC) and times[-1] == datetime(2025, 10, 11, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(times))
    for h in hours:
        assert h["asset"] == "SOL"
        assert isinstance(h["price"], float) and h["price"] > 0
        assert h["tag"] in {
            "Crowded Longs (Fragile)",
            "Crowded Shorts (Squeeze Risk)",
            "Deleveraging (Post-Flush)",
            "Stable Trend (Tradeable)",
            "Neutral",
        }
    # the cascade hour: from 22:00 UTC OI Falling Fast and flushing
    last = hours[-1]
    assert last["oi_regime"] == "Falling Fast" and last["deleveraging"] == "flushing"


def test_history_lowercase_asset_and_table(data_dir: Path) -> None:
    result = invoke(
        "history", "btc", "--from", "2025-10-10T20:00", "--to", "2025-10-10T23:00", "--data-dir", data_dir
    )
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    for hour in ("20:00", "21:00", "22:00", "23:00"):
        assert hour in text, hour
    assert "BTC" in text


def test_history_of_an_unknown_asset_exits_2_with_one_line(data_dir: Path) -> None:
    result = invoke("history", "NOPE", "--from", "2025-10-10", "--to", "2025-10-11", "--data-dir", data_dir)
    assert_one_line_error(result, "NOPE")


def test_history_reversed_window_exits_2(data_dir: Path) -> None:
    result = invoke("history", "BTC", "--from", "2025-10-11", "--to", "2025-10-10", "--data-dir", data_dir)
    assert_one_line_error(result, "--from")


def test_history_window_over_400_days_exits_2(data_dir: Path) -> None:
    result = invoke("history", "BTC", "--from", "2024-01-01", "--to", "2025-10-10", "--data-dir", data_dir)
    assert_one_line_error(result, "400 days")


def test_history_without_from_is_a_usage_error(data_dir: Path) -> None:
    result = invoke("history", "BTC", "--data-dir", data_dir)
    assert result.exit_code == 2
    assert "--from" in plain(result.output)


# --------------------------------------------------------------------------------------------------------
# help
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("scan", ["--as-of", "--assets", "--json", "--data-dir", "--config"]),
        ("screen", ["--as-of", "--assets", "--json", "--data-dir", "--config"]),
        ("history", ["--from", "--to", "--json", "--data-dir", "--config"]),
    ],
)
def test_radar_command_help_names_its_options(command: str, options: list[str]) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    assert f"levradar {command}" in text
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), option


def test_main_help_lists_the_radar_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    text = plain(result.stdout)
    for command in ("scan", "screen", "history", "demo"):
        assert re.search(rf"\b{command}\b", text), command


# --------------------------------------------------------------------------------------------------------
# readable tables (issue 17): the scan at 120 columns, sides and signs, units, ordinals, coverage marks
# --------------------------------------------------------------------------------------------------------

CASCADE = "2025-10-11T02:00"  # hours after the 2025-10-10 cascade


def _cli(*args: str | Path, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """levradar in a real process, stdout to a pipe (COLUMNS sets the table width as a terminal's would)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "levradar.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def _row(text: str, asset: str) -> str:
    """The table line of ``asset`` (its first cell)."""
    rows = [line for line in text.splitlines() if line.split()[:1] == [asset]]
    assert len(rows) == 1, (asset, text)
    return rows[0]


@pytest.fixture(scope="module")
def cascade_json(data_dir: Path) -> Any:
    return ok_json("scan", "--json", "--as-of", CASCADE, "--data-dir", data_dir)


def test_default_scan_fits_120_columns_one_line_per_asset(data_dir: Path, cascade_json: Any) -> None:
    done = _cli("scan", "--as-of", CASCADE, "--data-dir", data_dir, columns=120)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 120
    header = next(line for line in done.stdout.splitlines() if line.split()[:2] == ["asset", "tag"])
    for col in ("LSI", "funding rate_8h", "OI USD", "OI 24h", "price", "24h", "pocket below", "pocket above"):
        assert col in header, col
    assert "crowding" not in header and "quadrant" not in header  # those are --wide
    for read in cascade_json["assets"]:
        row = _row(done.stdout, read["asset"])  # one line: no cell wrapped onto a second line
        f, liq = read["funding"], read["liquidation"]
        pct_90d = round(f["pct_90d"] * 100)
        assert f"{f['rate_8h'] * 100:+.4f}%" in row and re.search(rf"\b{pct_90d}(st|nd|rd|th) pct\b", row), (
            row
        )
        assert f"{read['oi']['roc_24h'] * 100:+.1f}%" in row
        for key in ("nearest_below", "nearest_above"):
            assert f"{liq[key]['distance_pct']:+.1f}%" in row, (key, row)
        assert read["tag"].split(" (")[0] in row


def test_wide_scan_has_every_column_and_proximity_in_both_units(data_dir: Path, cascade_json: Any) -> None:
    done = _cli("scan", "--wide", "--as-of", CASCADE, "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for col in ("crowding", "fragility", "sq long", "quadrant", "deleveraging", "proximity"):
        assert col in text, col
    for read in cascade_json["assets"]:
        row = _row(text, read["asset"])
        liq, crowding = read["liquidation"], read["scores"]["crowding"]
        nearest = min((liq["nearest_below"], liq["nearest_above"]), key=lambda p: abs(p["distance_pct"]))
        label = f"{liq['proximity']}: {nearest['distance_pct']:+.1f} % ({liq['distance_in_daily_vol']:.1f} daily σ)"
        assert label in row, (label, row)
        assert f"{crowding:+.0f}" in row  # the crowding sign is shown
        assert read["tag"] in row  # the full tag


@pytest.mark.parametrize(
    ("as_of", "status"), [("2026-03-06T00:00", "partial"), ("2026-03-07T01:00", "stale")]
)
def test_scan_marks_partial_and_stale_rows(data_dir: Path, as_of: str, status: str) -> None:
    """2026-03-06 00:00: OKX's bar is missing (partial); 2026-03-07 01:00: only Hyperliquid runs on (stale)."""
    data = ok_json("scan", "--json", "--as-of", as_of, "--data-dir", data_dir)
    marked = {r["asset"]: r["coverage"] for r in data["assets"]}
    assert status in {c["status"] for c in marked.values()}, marked
    text = plain(invoke("scan", "--as-of", as_of, "--data-dir", data_dir).stdout)
    for asset, cov in marked.items():
        row = _row(text, asset).rstrip()
        if cov["status"] == "stale":
            behind = max([cov["behind_h"] or 0.0] + [m["behind_h"] or 0.0 for m in cov["missing"]])
            assert row.endswith(f"stale {behind:.0f}h"), row
        elif cov["status"] == "partial":
            assert row.endswith("partial"), row
        else:
            assert not row.endswith(("partial", "h")), row


def test_screen_most_crowded_names_the_side_and_signs_the_crowding(data_dir: Path) -> None:
    data = ok_json("screen", "--json", "--as-of", CASCADE, "--data-dir", data_dir)
    text = plain(invoke("screen", "--as-of", CASCADE, "--data-dir", data_dir).stdout)
    crowded = text.split("most fragile")[0]
    sides = set()
    for r in data["most_crowded"]:
        side = "longs crowded" if r["crowding"] > 0 else "shorts crowded"
        sides.add(side)
        line = next(line for line in crowded.splitlines() if f" {r['asset']} " in line)
        assert side in line and f"{r['crowding']:+.1f}" in line, line
        own = round(r["vs_own_history_pct"] * 100)
        assert re.search(rf"\b{own}(st|nd|rd|th) pct\b", line), line
    assert sides == {"longs crowded", "shorts crowded"}  # DOGE's longs vs the others' shorts that hour
    assert "th pct" in text and not re.search(r"\b(1|2|3|21|22|23|71)th\b", text)


def test_anomalies_print_feature_z_without_the_column_name(data_dir: Path) -> None:
    from levradar.cli import FEATURE_WORDS
    from levradar.evaluation.anomalies import FEATURES

    assert set(FEATURE_WORDS) == set(FEATURES)
    data = ok_json("anomalies", "--json", "--as-of", CASCADE, "--data-dir", data_dir, "--assets", "sol,btc")
    text = plain(
        invoke("anomalies", "--as-of", CASCADE, "--data-dir", data_dir, "--assets", "sol,btc").stdout
    )
    assert "funding_z" not in text and "oi_roc_24h" not in text
    for r in data["assets"]:
        for w in r["why"]:
            assert f"{FEATURE_WORDS[w['feature']]} z {w['z']:+.1f}" in text
    assert re.search(r"funding z -\d", text), text


# --------------------------------------------------------------------------------------------------------
# errors that say what is true (issue 17)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "screen", "memo", "heatmap"])
def test_future_as_of_says_it_is_after_the_newest_data(data_dir: Path, command: str) -> None:
    args = [command, "BTC"] if command in ("memo", "heatmap") else [command]
    result = invoke(*args, "--as-of", "2030-01-01", "--data-dir", data_dir)
    line = assert_one_line_error(result, "--as-of 2030-01-01 00:00 UTC is after the newest data")
    with Store(data_dir, read_only=True) as store:
        newest = store.query("SELECT max(ts) AS t FROM candles WHERE \"interval\" = '1h'")["t"][0]
    assert f"{newest + timedelta(hours=1):%Y-%m-%d %H:%M} UTC" in line  # the newest bar's close
    assert "no price data" not in line


def test_history_from_in_the_future_without_to(data_dir: Path) -> None:
    result = invoke("history", "BTC", "--from", "2030-01-01", "--data-dir", data_dir)
    line = assert_one_line_error(result, "--from 2030-01-01 00:00 UTC is after the newest data")
    assert "--to" not in line  # no --to was given


def test_history_from_after_the_default_to_names_it(data_dir: Path) -> None:
    """Between the default as-of (main venues) and the newest bar of any venue: after the *default* --to."""
    scan = ok_json("scan", "--json", "--data-dir", data_dir)
    start = parse_z(scan["as_of"]) + timedelta(hours=1)
    result = invoke("history", "BTC", "--from", start.isoformat(), "--data-dir", data_dir)
    assert_one_line_error(result, "is after the default --to (newest data")


@pytest.mark.parametrize("command", ["scan", "screen", "anomalies", "heatmap", "scenario", "history", "memo"])
def test_unknown_asset_lists_the_known_ones(data_dir: Path, command: str) -> None:
    if command in ("scan", "screen", "anomalies"):
        args = [command, "--assets", "BTCC"]
    else:
        args = [command, "BTCC", *(["--from", "2025-10-10"] if command == "history" else [])]
    result = invoke(*args, "--data-dir", data_dir)
    assert_one_line_error(
        result, "unknown asset BTCC (did you mean BTC?)", "the store has: BTC, DOGE, ETH, SOL, XRP"
    )


def test_a_store_held_by_another_process_says_so_with_its_pid(data_dir: Path, tmp_path: Path) -> None:
    """A second process holding the store for writing (as `serve --record` or `record` do): one true line."""
    copy = tmp_path / "held"
    copy.mkdir()
    shutil.copy(data_dir / "levradar.duckdb", copy / "levradar.duckdb")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom levradar.store import Store\ns = Store(sys.argv[1])\n"
            "print('ready', flush=True)\nsys.stdin.read()",
            str(copy),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = invoke("scan", "--data-dir", copy)
        line = assert_one_line_error(
            result, f"the store {copy} is in use by another levradar process (pid {holder.pid})", "HTTP API"
        )
        assert "IO Error" not in line and "Conflicting lock" not in line
    finally:
        holder.communicate("", timeout=60)


def test_missing_store_hint_names_the_demo_command_with_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    result = invoke("status", "--data-dir", missing)
    assert_one_line_error(result, f"levradar demo --data-dir {missing}")


# --------------------------------------------------------------------------------------------------------
# heatmap: where the picture went, --grid in a table
# --------------------------------------------------------------------------------------------------------


def test_heatmap_png_says_where_it_wrote_and_grid_is_summarised(data_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "btc.png"
    args = ["heatmap", "BTC", "--as-of", CASCADE, "--days", "7", "--data-dir", data_dir]
    result = invoke(*args, "--png", png, "--grid")
    assert result.exit_code == 0, result.output
    text = " ".join(plain(result.stdout).split())
    assert f"wrote the heatmap picture to {png.resolve()}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = ok_json(*args, "--grid", "--json")["grid"]
    assert f"grid: {len(grid['times']):,} hours × {len(grid['prices']):,} price buckets" in text
    assert "every cell with --json" in text


def test_heatmap_without_grid_prints_no_grid_line(data_dir: Path) -> None:
    result = invoke("heatmap", "BTC", "--as-of", CASCADE, "--days", "7", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "grid:" not in result.stdout and "wrote" not in result.stdout


# --------------------------------------------------------------------------------------------------------
# -v / --log-file, progress
# --------------------------------------------------------------------------------------------------------


def test_log_file_gets_timestamped_debug_lines_and_verbose_logs_on_stderr(
    data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "levradar.log"
    done = _cli("-v", "--log-file", log, "screen", "--as-of", CASCADE, "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^levradar: command screen done in \d+\.\d\d s$", done.stderr, re.M), done.stderr
    lines = log.read_text().splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG levradar: command screen: ", lines[0]), (
        lines
    )
    assert any(" INFO levradar: screening" in line for line in lines)
    quiet = _cli("screen", "--as-of", CASCADE, "--data-dir", data_dir)
    assert quiet.returncode == 0 and quiet.stderr == ""  # no -v, stderr not a terminal: no log, no progress


def test_unwritable_log_file_is_one_line(tmp_path: Path) -> None:
    done = _cli("--log-file", tmp_path / "no" / "such" / "dir.log", "status", "--data-dir", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --log-file {tmp_path / 'no' / 'such' / 'dir.log'}: cannot write it (No such file or directory)"
    ]


def test_progress_shows_on_a_terminal_stderr_only(data_dir: Path) -> None:
    """stderr a real terminal (a pty), stdout a pipe: the bar is drawn on stderr, the table alone on stdout."""
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "levradar.cli", "screen", "--as-of", CASCADE, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        env=env,
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=600)
    os.close(leader)
    assert proc.returncode == 0
    assert b"screening" in drawn and b"0:00:0" in drawn  # the step and its elapsed time
    assert "screening" not in out and "most crowded" in out


@pytest.mark.parametrize(("command", "option"), [("evaluate", "--to"), ("history", "--to")])
def test_future_to_names_the_option_given(data_dir: Path, command: str, option: str) -> None:
    args = [command, "BTC", "--from", "2025-10-01"] if command == "history" else [command]
    result = invoke(*args, option, "2030-01-01", "--data-dir", data_dir)
    line = assert_one_line_error(result, f"{option} 2030-01-01 00:00 UTC is after the newest data")
    assert "--as-of" not in line


def test_memo_percentile_is_a_proper_ordinal(data_dir: Path, cascade_json: Any) -> None:
    pct = next(r for r in cascade_json["assets"] if r["asset"] == "BTC")["funding"]["pct_90d"]
    assert round(pct * 100) == 2  # BTC funding hours after the cascade: the 2nd percentile of 90 days
    memo = ok_json("memo", "BTC", "--as-of", CASCADE, "--no-journal", "--json", "--data-dir", data_dir)
    assert "2nd percentile of 90 days" in memo["text"]
    for m in re.finditer(r"\b(\d+)(st|nd|rd|th) percentile", memo["text"]):
        assert ordinal(int(m[1])) == m[0].split()[0], m[0]


def test_a_short_history_ends_where_the_scan_reads_that_hour(data_dir: Path) -> None:
    """A history shorter than the label window is not a cold start: its last hour equals the scan's read."""
    end = "2025-10-11T02:00"
    short = ok_json("history", "BTC", "--from", "2025-10-10T18:00", "--to", end, "--json", "--data-dir", data_dir)
    scan = ok_json("scan", "--as-of", end, "--assets", "BTC", "--json", "--data-dir", data_dir)["assets"][0]
    last = short["hours"][-1]
    assert last["tag"] == scan["tag"]
    assert (last["oi_regime"], last["vol_regime"], last["funding_regime"]) == (
        scan["oi"]["regime"],
        scan["volatility"]["regime"],
        scan["funding"]["regime"],
    )
