"""No message can stop the recorder: 1,000 mutated real frames per venue, each between two good ones, through the
real recorder over a local WebSocket server per venue.

The good frames are the recorded ones of tests/fixtures/ws-samples (each made unique by its time and size); the
poisons mutate a copy of them — deep nesting, a 400-digit number, 1e200, a timestamp of 1e300 or 1970, a string
where a list belongs, ``true`` / ``"NaN"`` / Unicode digits / ``"1_000"`` where a number belongs, truncated text,
bytes that are not UTF-8. Every poison must be counted and kept in rejected/<venue>.jsonl, every good frame after
it stored, and no stream may drop or reconnect.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from levradar.ingest.record import record
from levradar.store import Store
from tests.test_record import BINANCE_LIQ, HL_CTX, LIQ, OKX_LIQ, Frames

POISONS = 1000
Path_ = tuple[str | int, ...]


def _set(frame: Any, path: Path_, value: Any) -> None:
    for key in path[:-1]:
        frame = frame[key]
    frame[path[-1]] = value


OKX_BTC = copy.deepcopy(OKX_LIQ)
OKX_BTC["data"] = [
    {
        "instId": "BTC-USDT-SWAP",
        "details": [{"bkPx": "65000.5", "posSide": "long", "sz": "3", "ts": "1700000000000"}],
    }
]


class Venue:
    """A venue's real frame, where its numbers, its time and its containers sit, and how a good copy is made."""

    def __init__(
        self,
        name: str,
        base: dict[str, Any],
        numbers: list[Path_],
        time: Path_ | None,
        container: Path_,
        unique: Callable[[dict[str, Any], int], None],
    ) -> None:
        self.name, self.base, self.numbers, self.time, self.container = name, base, numbers, time, container
        self.unique = unique

    def good(self, i: int) -> str:
        frame = copy.deepcopy(self.base)
        self.unique(frame, i)
        return json.dumps(frame)

    def poison(self, i: int, rng: random.Random) -> str | bytes:
        frame = json.loads(self.good(10_000 + i))
        kinds = [
            "nest",
            "big",
            "huge",
            "bool",
            "nan",
            "unicode",
            "underscore",
            "container",
            "truncate",
            "bytes",
        ]
        kinds += ["time_huge", "time_1970"] if self.time is not None else []
        kind = kinds[i % len(kinds)]
        field = rng.choice(self.numbers)
        if kind == "nest":
            return "[" * 3000 + "]" * 3000
        if kind == "truncate":
            text = json.dumps(frame)
            return text[: rng.randrange(1, len(text) - 1)]
        if kind == "bytes":
            return b"\xff\xfe" + json.dumps(frame).encode()[:40]
        if kind == "container":
            _set(frame, self.container, "x")
            return json.dumps(frame)
        if kind in ("time_huge", "time_1970"):
            assert self.time is not None
            _set(frame, self.time, 1e300 if kind == "time_huge" else 1)
            return json.dumps(frame)
        value: Any = {
            "huge": "1e200",
            "bool": True,
            "nan": "NaN",
            "unicode": "١٢٣",
            "underscore": "1_000",
        }.get(kind, "__BIG__")
        _set(frame, field, value)
        return json.dumps(frame).replace('"__BIG__"', "1" + "0" * 400)


def _binance(frame: dict[str, Any], i: int) -> None:
    frame["data"]["o"]["T"] = 1_700_000_000_000 + i * 1000
    frame["data"]["o"]["z"] = f"0.{i + 1:04d}"
    frame["data"]["o"]["s"] = "BTCUSDT"


def _bybit(frame: dict[str, Any], i: int) -> None:
    frame["topic"] = "allLiquidation.BTCUSDT"
    frame["data"] = frame["data"][:1]
    frame["data"][0].update({"s": "BTCUSDT", "T": 1_700_000_000_000 + i * 1000, "v": f"0.{i + 1:04d}"})


def _okx(frame: dict[str, Any], i: int) -> None:
    frame["data"][0]["details"][0].update({"ts": str(1_700_000_000_000 + i * 1000), "sz": str(i + 1)})


def _hyperliquid(frame: dict[str, Any], i: int) -> None:
    frame["data"]["coin"] = "BTC"
    frame["data"]["ctx"]["openInterest"] = f"{1000 + i}.5"


VENUES = [
    Venue(
        "binance",
        BINANCE_LIQ,
        [("data", "o", k) for k in ("q", "p", "ap", "z")],
        ("data", "o", "T"),
        ("data", "o"),
        _binance,
    ),
    Venue("bybit", LIQ, [("data", 0, "v"), ("data", 0, "p")], ("data", 0, "T"), ("data",), _bybit),
    Venue(
        "okx",
        OKX_BTC,
        [("data", 0, "details", 0, k) for k in ("sz", "bkPx")],
        ("data", 0, "details", 0, "ts"),
        ("data",),
        _okx,
    ),
    Venue(
        "hyperliquid",
        HL_CTX,
        [("data", "ctx", k) for k in ("markPx", "oraclePx", "openInterest")],
        None,
        ("data", "ctx"),
        _hyperliquid,
    ),
]


def test_no_message_stops_a_stream_or_the_writer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rng = random.Random(2026)
    servers = {}
    for venue in VENUES:
        frames: list[str | bytes] = [venue.good(0)]
        for i in range(POISONS):
            frames += [venue.poison(i, rng), venue.good(i + 1)]
        servers[venue.name] = Frames(frames).start()  # good, poison, good, ... then open
        monkeypatch.setenv(
            f"LEVRADAR_{venue.name.upper()}_WS_URL", f"ws://127.0.0.1:{servers[venue.name].port}"
        )
    with Store(tmp_path) as store:
        rec = record(store, [v.name for v in VENUES], ["BTC"], duration_s=12.0, flush_s=0.2)
        liquidations = store.read("liquidations")
        oi = store.read("open_interest")
    assert all(s.sent.is_set() for s in servers.values())
    for venue in VENUES:
        stats = rec.stats[venue.name]
        assert servers[venue.name].connections == 1 and stats.reconnects == 0, (venue.name, stats.last_error)
        assert stats.messages == 2 * POISONS + 1
        assert stats.malformed == POISONS, (venue.name, stats.malformed)  # every poison counted
        rejected = (tmp_path / "rejected" / f"{venue.name}.jsonl").read_text().splitlines()
        reasons = [json.loads(line)["reason"] for line in rejected]
        assert len(rejected) == POISONS and all(reasons), Counter(
            r.split(":")[0] for r in reasons
        ).most_common(5)
        if venue.name == "hyperliquid":
            stored = oi.filter(oi["venue"] == "hyperliquid")
            assert sorted(stored["raw_value"].to_list()) == [1000.5 + i for i in range(POISONS + 1)]
        else:  # every good liquidation stored, nothing else
            assert liquidations.filter(liquidations["venue"] == venue.name).height == POISONS + 1, venue.name
    assert rec.write_errors == 0
