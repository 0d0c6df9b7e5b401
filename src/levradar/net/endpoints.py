"""Venue base URLs: defaults, a config file, and ``LEVRADAR_<VENUE>_REST_URL`` / ``LEVRADAR_<VENUE>_WS_URL`` (and
``LEVRADAR_HYPERLIQUID_STATS_URL``, the leaderboard's host).

Precedence: environment variable > ``venues.toml`` in the data directory (``[binance] rest_url = "..."``) > default.
So the tool can use a mirror or a test server.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

Kind = Literal["rest", "ws", "stats"]

DEFAULTS: dict[str, dict[str, str]] = {
    "binance": {"rest": "https://fapi.binance.com", "ws": "wss://fstream.binance.com"},
    "bybit": {"rest": "https://api.bybit.com", "ws": "wss://stream.bybit.com/v5/public/linear"},
    "okx": {"rest": "https://www.okx.com", "ws": "wss://ws.okx.com:8443/ws/v5/public"},
    "hyperliquid": {
        "rest": "https://api.hyperliquid.xyz",
        "ws": "wss://api.hyperliquid.xyz/ws",
        "stats": "https://stats-data.hyperliquid.xyz",  # the public leaderboard (sync --positions)
    },
}


class EndpointError(ValueError):
    """An unknown venue, or a configured URL that is not http(s)/ws(s)."""


def endpoint(venue: str, kind: Kind, data_dir: Path | None = None) -> str:
    """The base URL for ``venue``'s REST or WebSocket API."""
    if venue not in DEFAULTS:
        raise EndpointError(f"no endpoints known for venue {venue!r}; known: {', '.join(DEFAULTS)}")
    if kind not in DEFAULTS[venue]:
        raise EndpointError(f"{venue} has no {kind} endpoint")
    env = os.environ.get(f"LEVRADAR_{venue.upper()}_{kind.upper()}_URL")
    url = env or _from_file(venue, kind, data_dir) or DEFAULTS[venue][kind]
    schemes = ("ws://", "wss://") if kind == "ws" else ("http://", "https://")
    if not url.startswith(schemes):
        raise EndpointError(f"{venue} {kind} URL must start with {' or '.join(schemes)}: {url!r}")
    return url.rstrip("/")


def _from_file(venue: str, kind: Kind, data_dir: Path | None) -> str | None:
    if data_dir is None:
        return None
    file = data_dir / "venues.toml"
    if not file.exists():
        return None
    try:
        table = tomllib.loads(file.read_text()).get(venue, {})
    except tomllib.TOMLDecodeError as exc:
        raise EndpointError(f"{file}: {exc}") from exc
    value = table.get(f"{kind}_url")
    return str(value) if value else None
