"""The live recorder against a real WebSocket server on 127.0.0.1 replaying recorded Bybit frames.

The server drops the first connection mid-stream (after a malformed message), then on the reconnect re-sends a
frame already delivered (a duplicate) and a new one. SIGTERM is tested on a real subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import websockets

from levradar.ingest.record import record, subscriptions
from levradar.store import Store

SAMPLES = Path(__file__).parent / "fixtures" / "ws-samples"
LIQ = json.loads((SAMPLES / "bybit-allLiquidation.json").read_text())[0]
TICKER = next(
    f for f in json.loads((SAMPLES / "bybit-v5.json").read_text()) if f.get("topic") == "tickers.BTCUSDT"
)


def later(frame: dict[str, Any], ms: int) -> dict[str, Any]:
    out = json.loads(json.dumps(frame))
    out["data"][0]["T"] += ms
    out["ts"] += ms
    return out


class Replay:
    """Connection 1: liquidation, ticker, a malformed message, then an abrupt drop.
    Connection 2+: the same liquidation again (a re-delivery), a new one, then the stream stays open."""

    def __init__(self) -> None:
        self.connections = 0
        self.subscribed: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.ready = threading.Event()

    async def handler(self, ws: Any) -> None:
        self.connections += 1
        self.subscribed.append(json.loads(await ws.recv()))
        if self.connections == 1:
            await ws.send(json.dumps(LIQ))
            await ws.send(json.dumps(TICKER))
            await ws.send("{not json")
            ws.transport.abort()  # disconnect mid-stream, no close frame
            return
        await ws.send(json.dumps(LIQ))
        await ws.send(json.dumps(later(LIQ, 1000)))
        await asyncio.sleep(60)

    def start(self) -> None:
        async def main() -> None:
            async with websockets.serve(self.handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                await asyncio.Future()

        threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True).start()
        assert self.ready.wait(5)


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    server = Replay()
    server.start()
    monkeypatch.setenv("LEVRADAR_BYBIT_WS_URL", f"ws://127.0.0.1:{server.port}")
    yield server


def test_reconnect_keeps_everything_once_and_skips_malformed(replay: Replay, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        rec = record(store, ["bybit"], ["BTC"], duration_s=2.5, flush_s=0.2)
        liq = store.read("liquidations")
        marks = store.read("mark_index")
        oi = store.read("open_interest")
    stats = rec.stats["bybit"]
    assert replay.connections >= 2 and stats.reconnects >= 1 and stats.gaps_s
    assert stats.malformed == 1  # the malformed message was counted and skipped, the stream went on
    (kept,) = (tmp_path / "rejected" / "bybit.jsonl").read_text().splitlines()  # kept verbatim, with why
    assert json.loads(kept)["raw"] == "{not json" and "malformed" not in json.loads(kept)["reason"]
    assert "ConnectionClosed" in (stats.last_error or "")  # the drop is reported
    # three liquidation messages arrived (one twice) → two rows; side = the position's side (Sell = short)
    assert (
        liq.height == 2 and set(liq["liquidated_side"]) == {"short"} and set(liq["symbol"]) == {"PIPPINUSDT"}
    )
    assert marks.height == 1 and oi.height == 1 and oi["raw_value"][0] == 52774.528
    assert oi["oi_base"][0] == 52774.528 / 2 and oi["raw_sides"][0] == 2  # Bybit counts both sides
    assert replay.subscribed[0] == {"op": "subscribe", "args": ["allLiquidation.BTCUSDT", "tickers.BTCUSDT"]}


def test_sigterm_flushes_what_was_received(replay: Replay, tmp_path: Path) -> None:
    env = {**os.environ, "LEVRADAR_BYBIT_WS_URL": f"ws://127.0.0.1:{replay.port}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "levradar.cli",
            "record",
            "--venues",
            "bybit",
            "--assets",
            "BTC",
            "--duration",
            "60",
            "--flush",
            "30",
            "--json",
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while replay.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the second connection's frames are in; the writer would not flush for 30 s
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["inserted"]["liquidations"] == 2
    with Store(tmp_path, read_only=True) as store:
        assert store.read("liquidations").height == 2


def test_subscriptions_per_venue() -> None:
    path, msgs = subscriptions("binance", ["BTC", "ETH"])
    assert (
        path
        == "/stream?streams=btcusdt@forceOrder/btcusdt@markPrice@1s/ethusdt@forceOrder/ethusdt@markPrice@1s"
    )
    assert msgs == []
    _, okx = subscriptions("okx", ["BTC"])
    assert {"channel": "open-interest", "instId": "BTC-USDT-SWAP"} in okx[0]["args"]
    _, hl = subscriptions("hyperliquid", ["BTC", "SOL"])
    assert [m["subscription"]["coin"] for m in hl] == ["BTC", "SOL"]
    with pytest.raises(ValueError, match="no stream subscriptions"):
        subscriptions("kraken", ["BTC"])


# -- every venue at once ---------------------------------------------------------------------------------

BINANCE_LIQ = next(
    f for f in json.loads((SAMPLES / "binance-futures.json").read_text()) if "forceOrder" in json.dumps(f)
)
HL_CTX = next(
    f for f in json.loads((SAMPLES / "hyperliquid.json").read_text()) if f.get("channel") == "activeAssetCtx"
)
OKX_OI = next(
    f for f in json.loads((SAMPLES / "okex-swap-v5.json").read_text()) if "open-interest" in json.dumps(f)
)
# No OKX *swap* liquidation frame is in the samples: the shape of the recorded futures frame, on a swap whose
# contract value is not in levradar's built-in table (WNCG), plus an unknown one (ZZZ) the recorder must keep aside.
OKX_LIQ = {
    "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
    "data": [
        {
            "instId": "WNCG-USDT-SWAP",
            "details": [{"bkPx": "0.05", "posSide": "long", "sz": "3", "ts": "1700000000000"}],
        },
        {
            "instId": "ZZZ-USDT-SWAP",
            "details": [{"bkPx": "1", "posSide": "short", "sz": "1", "ts": "1700000000001"}],
        },
    ],
}


class Frames:
    """One WebSocket server replaying a list of frames to every connection, then staying open."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames, self.paths, self.connections = frames, [], 0
        self.port = 0
        self.ready, self.sent = threading.Event(), threading.Event()

    async def handler(self, ws: Any) -> None:
        self.connections += 1
        self.paths.append(ws.request.path)
        for frame in self.frames:  # text or bytes as they are (raw, even broken, frames), objects as JSON
            await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
        self.sent.set()
        await asyncio.sleep(60)

    def start(self) -> Frames:
        async def main() -> None:
            async with websockets.serve(self.handler, "127.0.0.1", 0, max_size=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                await asyncio.Future()

        threading.Thread(
            target=lambda: asyncio.new_event_loop().run_until_complete(main()), daemon=True
        ).start()
        assert self.ready.wait(5)
        return self


def test_all_venues_record_side_by_side_and_a_dead_venue_stops_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    servers = {
        "binance": Frames([BINANCE_LIQ]).start(),
        "okx": Frames([OKX_LIQ, OKX_OI]).start(),
        "hyperliquid": Frames([HL_CTX]).start(),
    }
    for venue, server in servers.items():
        monkeypatch.setenv(f"LEVRADAR_{venue.upper()}_WS_URL", f"ws://127.0.0.1:{server.port}")
    # bybit keeps the conftest's closed port: it never connects, and the others record regardless
    with Store(tmp_path) as store:
        store.write(
            {},
            instruments=pl.DataFrame(  # what `levradar sync` stores from OKX's instrument list
                {
                    "venue": ["okx"],
                    "symbol": ["WNCG-USDT-SWAP"],
                    "asset": ["WNCG"],
                    "quote": ["USDT"],
                    "contract_size": [10.0],
                    "contract_unit": ["WNCG"],
                }
            ),
        )
        rec = record(store, ["binance", "bybit", "okx", "hyperliquid"], ["BTC"], duration_s=2.0, flush_s=0.2)
        liq = store.read("liquidations").sort("venue")
        oi = store.read("open_interest").sort("venue")
    assert rec.stats["bybit"].messages == 0 and "Connect" in (rec.stats["bybit"].last_error or "")
    assert liq["venue"].to_list() == ["binance", "okx"]
    binance, okx = liq.row(0, named=True), liq.row(1, named=True)
    assert (
        binance["liquidated_side"] == "short" and binance["qty_base"] == 0.014
    )  # a forced BUY closes a short
    assert okx["liquidated_side"] == "long" and okx["qty_base"] == 30.0 and okx["sampled"]  # 3 contracts × 10
    assert set(oi["venue"]) == {"okx", "hyperliquid"}
    assert servers["binance"].paths == ["/stream?streams=btcusdt@forceOrder/btcusdt@markPrice@1s"]
    rejected = [json.loads(line) for line in (tmp_path / "rejected" / "okx.jsonl").read_text().splitlines()]
    assert len(rejected) == 1 and "ZZZ" in rejected[0]["raw"] and "contract value" in rejected[0]["reason"]
    assert rec.stats["okx"].malformed == 1


def test_record_against_a_dead_venue_fails_and_says_so(tmp_path: Path) -> None:
    """A recording that never reached its venue is an error (exit 1, "never connected"), not "0 messages"."""
    from typer.testing import CliRunner

    from levradar.cli import app

    result = CliRunner().invoke(
        app,
        ["record", "--venues", "bybit", "--assets", "BTC", "--duration", "1", "--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 1, result.output
    assert "NEVER CONNECTED" in result.output and "never connected to bybit" in result.output
    assert "Traceback" not in result.output
