"""``levradar mcp``: the radar for AI agents over the Model Context Protocol (stdio), read-only.

Each tool is a thin wrapper of the Python API (levradar.radar) and answers its JSON: times in ISO 8601 UTC,
funding as ``rate_8h`` (fraction per 8h) and ``apr`` (fraction per year), OI and liquidations in USD, returns and
moves as fractions or ``*_pct``. An unknown asset, a bad or future ``as_of`` or a model that cannot run is a tool
error with one clear line, never a crash. Nothing is written: memos are not journaled. See docs/mcp.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from levradar.radar import Radar, to_time
from levradar.store import StoreError

T = TypeVar("T")
HISTORY_MAX_DAYS = 31  # an agent's history answer stays readable: at most a month of hours
HISTORY_COLUMNS = (
    "t",
    "price",
    "ret_24h",
    "rate_8h",
    "apr",
    "funding_regime",
    "oi_usd",
    "oi_roc_4h",
    "oi_roc_24h",
    "oi_regime",
    "rv_24h",
    "vol_regime",
    "quadrant",
    "crowding",
    "fragility",
    "squeeze_long",
    "squeeze_short",
    "lsi",
    "setup",
    "tag",
    "liq_proximity",
    "liq_below_pct",
    "liq_above_pct",
)
INSTRUCTIONS = (
    "levradar: leverage stress in crypto perpetual futures (funding, open interest, liquidations, price) from a "
    "local store. Start with `scan` (every asset, sorted by the leverage stress index LSI 0-100), then `asset` "
    "for one asset's full read, `heatmap` for modelled liquidation pockets, `scenario` for what a move "
    "liquidates, `memo` for a plain-language read, `history` for hourly labels. Every tool takes an optional "
    "`as_of` (ISO 8601 UTC) to read the past exactly as it was known then. Units: rate_8h is a fraction per 8 "
    "hours, apr a fraction per year, *_usd US dollars, *_pct percent, ret_* fractions, scores 0-100."
)

AsOf = Annotated[
    str | None,
    Field(
        description="Read as of this time, ISO 8601 UTC (e.g. 2025-10-11T02:00Z); default: the newest data."
    ),
]
Asset = Annotated[str, Field(description="The asset (base coin), e.g. BTC; case-insensitive.")]
Days = Annotated[
    int, Field(ge=1, le=730, description="Days of history the liquidation model runs over (default 90).")
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)


def table_json(frame: Any) -> list[dict[str, Any]]:
    """A polars frame as JSON rows (times ISO 8601 UTC, NaN → null), as the tools answer them."""
    import json

    from levradar.jsonio import dumps

    rows: list[dict[str, Any]] = json.loads(dumps(frame.to_dicts()))
    return rows


def scan_json(radar: Radar, as_of: str | None, assets: list[str] | None) -> dict[str, Any]:
    """The ``scan`` tool's answer: one flat row per asset (sorted by LSI) and per asset × venue."""
    result = radar.scan(as_of, assets)
    return {
        "as_of": result.to_json()["as_of"],
        "assets": table_json(result.assets),
        "venues": table_json(result.venues),
    }


def heatmap_json(radar: Radar, asset: str, as_of: str | None, venue: str | None, days: int) -> dict[str, Any]:
    """The ``heatmap`` tool's answer: ``levradar heatmap --measured --json`` without the per-bucket rows (the
    modelled ones and the measured ones)."""
    out = radar.heatmap(asset, as_of, venue, days, measured=True).to_json()
    out.pop("buckets")
    for entry in out["measured"]:
        entry.pop("buckets")
    return out


def history_json(radar: Radar, asset: str, start: str, end: str | None) -> dict[str, Any]:
    """The ``history`` tool's answer: the main hourly columns over at most ``HISTORY_MAX_DAYS``."""
    first, last = to_time(start, "start"), radar.when(end)
    if first is not None and last - first > timedelta(days=HISTORY_MAX_DAYS):
        raise ValueError(f"history spans at most {HISTORY_MAX_DAYS} days per call; narrow start/end")
    frame = radar.history(asset, start, end)
    return {"asset": frame["asset"][0], "hours": table_json(frame.select(HISTORY_COLUMNS))}


def build_server(data_dir: Path) -> MCPServer:
    """The MCP server over the store in ``data_dir`` (opened read-only now: a missing store fails here)."""
    from levradar import __version__

    with Radar(data_dir) as first:  # a folder without a store or candles fails here, before serving
        signals, heatmaps = first.signal_config, first.heatmap_config
    lock = threading.Lock()  # tools run in worker threads: one computes at a time

    def answer(compute: Callable[[Radar], T]) -> T:
        """``compute`` on the store, opened read-only for this call only: between calls `levradar sync` or an
        import can write to it."""
        with lock:
            try:
                with Radar(data_dir, signal_config=signals, heatmap_config=heatmaps) as radar:
                    return compute(radar)
            except (ValueError, StoreError) as exc:  # unknown asset, bad time, no data: the agent reads why
                raise ToolError(" ".join(str(exc).split())) from None

    server: MCPServer = MCPServer("levradar", instructions=INSTRUCTIONS, version=__version__)

    @server.tool(annotations=READ_ONLY)
    def scan(
        as_of: AsOf = None,
        assets: Annotated[
            list[str] | None, Field(description='Only these assets, e.g. ["BTC", "ETH"]; default: all.')
        ] = None,
    ) -> dict[str, Any]:
        """The radar: per asset its price (USD), funding (rate_8h, apr), OI (oi_usd, 4h/24h change), volatility,
        regimes, nearest liquidation pockets, scores and LSI, sorted by LSI; per venue its venue symbol and ccxt
        unified symbol (symbol_unified)."""
        return answer(lambda radar: scan_json(radar, as_of, assets))

    @server.tool(annotations=READ_ONLY)
    def asset(asset: Asset, as_of: AsOf = None) -> dict[str, Any]:
        """One asset's full radar read (as `levradar scan --json`): coverage, funding and its weighting, OI,
        volatility, liquidation proximity, scores with the LSI components, evidence, contradictions, transitions
        and every venue."""
        return answer(lambda radar: radar.scan(as_of, [asset]).read(asset))

    @server.tool(annotations=READ_ONLY)
    def heatmap(
        asset: Asset,
        as_of: AsOf = None,
        venue: Annotated[
            str | None, Field(description="Only this venue, e.g. binance; default: every venue with OI.")
        ] = None,
        days: Days = 90,
    ) -> dict[str, Any]:
        """The modelled liquidation map: nearest pockets above (shorts) and below (longs) with their USD and
        leverage mix, cumulative USD within 0.5-10 %, totals, likely zones next hour, forced flow expected in
        24h, and the real liquidation prints over the window."""
        return answer(lambda radar: heatmap_json(radar, asset, as_of, venue, days))

    @server.tool(annotations=READ_ONLY)
    def scenario(
        asset: Asset,
        moves: Annotated[
            list[float],
            Field(
                min_length=1,
                max_length=12,
                description="Price moves as signed fractions: -0.02 is -2 %, 0.01 is +1 % (above -0.9, below 10).",
            ),
        ] = [-0.02, 0.01],  # noqa: B006 - pydantic copies defaults
        as_of: AsOf = None,
        days: Days = 90,
    ) -> dict[str, Any]:
        """What each move liquidates (forced_usd, pockets hit) and whether the forced flow cascades (typical
        and stress impact: final_move_pct, forced_usd_total)."""
        return answer(lambda radar: radar.scenario(asset, moves, as_of, days=days).to_json())

    @server.tool(annotations=READ_ONLY)
    def memo(asset: Asset, as_of: AsOf = None) -> dict[str, Any]:
        """A short plain-language memo (text, side) from the four views, with every finding behind it. Not kept
        in the decision journal."""
        return answer(lambda radar: radar.memo(asset, as_of).to_json())

    @server.tool(annotations=READ_ONLY)
    def history(
        asset: Asset,
        start: Annotated[str, Field(description="From this time, ISO 8601 UTC.")],
        end: Annotated[
            str | None, Field(description="Up to this time, ISO 8601 UTC; default: the newest data.")
        ] = None,
    ) -> dict[str, Any]:
        """Hourly labels and scores of one asset, each hour as it was known then (at most 31 days per call)."""
        return answer(lambda radar: history_json(radar, asset, start, end))

    return server


def serve_stdio(data_dir: Path) -> None:
    """Serve the tools over stdin/stdout until the client disconnects."""
    build_server(data_dir).run("stdio")
