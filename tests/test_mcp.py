"""``levradar mcp``: the real server process over stdio, driven by the official MCP SDK's client on the bundled real
sample; every tool's answer is the Python API's for the same as-of."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, Tool
from typer.testing import CliRunner

import levradar
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.journal import entries
from levradar.mcp_server import HISTORY_COLUMNS
from levradar.radar import Radar
from levradar.store import Store

AS_OF = "2025-10-11T02:00Z"  # hours after the 2025-10-10 cascade
TOOLS = {"scan", "asset", "heatmap", "scenario", "memo", "history"}
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "scan": ("scan", {"as_of": AS_OF, "assets": ["btc", "SOL"]}),
    "asset": ("asset", {"asset": "eth", "as_of": AS_OF}),
    "heatmap": ("heatmap", {"asset": "BTC", "as_of": AS_OF, "days": 30}),
    "scenario": ("scenario", {"asset": "SOL", "moves": [-0.05, 0.02], "as_of": AS_OF}),
    "memo": ("memo", {"asset": "BTC", "as_of": AS_OF}),
    "history": ("history", {"asset": "BTC", "start": "2025-10-10T20:00Z", "end": AS_OF}),
    "unknown_asset": ("asset", {"asset": "BTCC"}),
    "future": ("memo", {"asset": "BTC", "as_of": "2031-01-01"}),
    "bad_time": ("scan", {"as_of": "yesterday"}),
    "bad_move": ("scenario", {"asset": "BTC", "moves": [50.0]}),
    "long_history": ("history", {"asset": "BTC", "start": "2025-08-01", "end": AS_OF}),
    "absent_venue": ("heatmap", {"asset": "BTC", "venue": "kraken", "as_of": AS_OF}),
}


@dataclass(frozen=True)
class Session:
    data_dir: Path
    tools: dict[str, Tool]
    results: dict[str, CallToolResult]
    journal_before: int


def server_params(data_dir: Path) -> StdioServerParameters:
    """The real `levradar mcp` process, with this source tree on its path."""
    src = str(Path(levradar.__file__).parent.parent)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "levradar.cli", "mcp", "--data-dir", str(data_dir)],
        env={"PYTHONPATH": src},
    )


async def talk(data_dir: Path) -> tuple[dict[str, Tool], dict[str, CallToolResult]]:
    async with Client(server_params(data_dir), read_timeout_seconds=300) as client:
        listed = await client.list_tools()
        results = {key: await client.call_tool(name, args) for key, (name, args) in CALLS.items()}
        # between calls the server holds no lock on the store: a writer (sync, import) opens it meanwhile
        with Store(data_dir) as writer:
            writer.con.execute("CHECKPOINT")
        results["after_write"] = await client.call_tool(*CALLS["asset"])
    return {t.name: t for t in listed.tools}, results


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    data_dir = tmp_path_factory.mktemp("mcp")
    with Store(data_dir) as store:
        import_source(store, "sample", Path("."), Filters())
        before = entries(store).height
    tools, results = anyio.run(talk, data_dir)
    return Session(data_dir, tools, results, before)


@pytest.fixture(scope="module")
def radar(session: Session) -> Any:
    with Radar(session.data_dir) as r:  # read-only beside the server's read-only connection
        yield r


def answer(session: Session, key: str) -> dict[str, Any]:
    result = session.results[key]
    assert not result.is_error, result.content
    assert result.structured_content is not None
    text = result.content[0]
    assert text.type == "text" and json.loads(text.text) == result.structured_content  # text and data agree
    return result.structured_content


def error(session: Session, key: str) -> str:
    result = session.results[key]
    assert result.is_error and result.structured_content is None
    return " ".join(c.text for c in result.content if c.type == "text")


def plain(data: Any) -> Any:
    """The API's answer through JSON, as the client receives it."""
    return json.loads(levradar.jsonio.dumps(data))


def test_the_six_read_only_tools_are_listed_with_described_arguments(session: Session) -> None:
    assert set(session.tools) == TOOLS
    for tool in session.tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert len(tool.description or "") > 40  # the docstring tells the agent what it answers
        properties = tool.input_schema["properties"]
        assert properties and all(p.get("description") for p in properties.values()), tool.name
    assert session.tools["scenario"].input_schema["required"] == ["asset"]
    assert "fractions" in session.tools["scenario"].input_schema["properties"]["moves"]["description"]


def test_scan_and_asset_answer_the_python_api(session: Session, radar: Radar) -> None:
    scan = radar.scan(AS_OF, ["BTC", "SOL"])
    got = answer(session, "scan")
    assert got == {
        "as_of": "2025-10-11T02:00:00Z",
        "assets": plain(scan.assets.to_dicts()),
        "venues": plain(scan.venues.to_dicts()),
    }
    assert [a["asset"] for a in got["assets"]] == scan.assets["asset"].to_list() and len(got["assets"]) == 2
    assert {v["symbol_unified"] for v in got["venues"] if v["venue"] == "hyperliquid"} == {
        "BTC/USDC:USDC",
        "SOL/USDC:USDC",
    }
    assert answer(session, "asset") == radar.scan(AS_OF, ["ETH"]).read("ETH")


def test_heatmap_scenario_memo_history_answer_the_python_api(session: Session, radar: Radar) -> None:
    heatmap = radar.heatmap("BTC", AS_OF, days=30, measured=True).to_json()
    heatmap.pop("buckets")  # the tool leaves the per-bucket rows out
    assert heatmap["measured"] == []  # the demo sample holds no measured positions
    assert answer(session, "heatmap") == heatmap
    assert answer(session, "heatmap")["nearest_below"]["price"] < heatmap["price"]
    assert answer(session, "scenario") == radar.scenario("SOL", [-0.05, 0.02], AS_OF).to_json()
    assert answer(session, "memo") == radar.memo("BTC", AS_OF).to_json()
    hours = radar.history("BTC", "2025-10-10T20:00Z", AS_OF).select(HISTORY_COLUMNS)
    assert answer(session, "history") == {"asset": "BTC", "hours": plain(hours.to_dicts())}
    assert len(answer(session, "history")["hours"]) == 7


def test_a_writer_can_open_the_store_between_calls(session: Session) -> None:
    assert answer(session, "after_write") == answer(session, "asset")


def test_memo_is_not_journaled(session: Session) -> None:
    assert "journal_id" not in answer(session, "memo")
    with Store(session.data_dir, read_only=True) as store:
        assert entries(store).height == session.journal_before


def test_bad_questions_are_tool_errors_in_one_line(session: Session) -> None:
    assert "unknown asset BTCC (did you mean BTC?); the store has: BTC, DOGE, ETH, SOL, XRP" in error(
        session, "unknown_asset"
    )
    assert "as_of 2031-01-01 00:00 UTC is after the newest data in the store" in error(session, "future")
    assert "'yesterday' is not an ISO 8601 time" in error(session, "bad_time")
    assert "a move must be non-zero and within ±50 % (got +5000 %)" in error(session, "bad_move")
    assert "history spans at most 31 days per call" in error(session, "long_history")
    assert "no hourly data for BTC on kraken" in error(session, "absent_venue")
    assert all("\n" not in error(session, k) for k in ("unknown_asset", "future", "bad_time", "bad_move"))


def test_mcp_on_a_missing_store_fails_before_serving(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["mcp", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert (
        result.stderr.strip().startswith("error: no store at ")
        and len(result.stderr.strip().splitlines()) == 1
    )
