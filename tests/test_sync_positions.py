"""sync --positions against a real server on 127.0.0.1 replaying Hyperliquid's recorded clearinghouseState answer
(the official SDK's cassette, tests/fixtures/hyperliquid-positions-rest) and the leaderboard's documented shape:
positions as stored, failures per account, resumable snapshots, the documented request weights."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from levradar.domain.accounts import account_id
from levradar.ingest.sync import sync_positions
from levradar.net.http import RetryPolicy
from levradar.store import Store
from levradar.venues.hyperliquid import positions
from tests.http_replay import JsonHandler, serve

FIX = Path(__file__).parent / "fixtures" / "hyperliquid-positions-rest"
CASSETTE = yaml.safe_load((FIX / "test_get_user_state.yaml").read_text())["interactions"][0]
RECORDED_USER = json.loads(CASSETTE["request"]["body"])["user"]
RECORDED = json.loads(CASSETTE["response"]["body"]["string"])
LEADERBOARD = json.loads((FIX / "leaderboard.json").read_text())
NOW = datetime(2026, 11, 30, 3, 0, 7, tzinfo=UTC)
FAILING = "0x" + "a1" * 20  # answers 500 every time
GARBLED = "0x" + "b2" * 20  # answers a body that is not a clearinghouse state
OTHERS = ["0x" + f"{i:02x}" * 20 for i in range(3, 8)]  # answered with the recorded state


class Venue(JsonHandler):
    """Hyperliquid's info and the leaderboard host; ``drop_after`` state requests, the server stops answering."""

    state_requests = 0
    drop_after: int | None = None

    def do_GET(self) -> None:
        path, _ = self.route()
        if path == positions.LEADERBOARD_PATH:
            self.send_json(LEADERBOARD)
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("type") != "clearinghouseState":
            self.send_json({"error": "unexpected"}, 400)
            return
        cls = type(self)
        cls.state_requests += 1
        if cls.drop_after is not None and cls.state_requests > cls.drop_after:
            self.close_connection = True  # no answer at all: the venue went away
            self.connection.close()
            return
        if body["user"] == FAILING:
            self.send_json({"error": "internal"}, 500)
        elif body["user"] == GARBLED:
            self.send_json({"assetPositions": "not a list"})
        else:
            self.send_json(RECORDED)


@pytest.fixture
def venue(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Venue]]:
    handler = type("V", (Venue,), {"state_requests": 0, "drop_after": None})
    with serve(handler, monkeypatch, "hyperliquid") as url:
        monkeypatch.setenv("LEVRADAR_HYPERLIQUID_STATS_URL", url)
        yield handler


def run(store: Store, data_dir: Path, **kw: Any) -> positions.PositionsSummary:
    return sync_positions(  # type: ignore[no-any-return]
        store, data_dir=data_dir, policy=RetryPolicy(attempts=2), sleep=lambda s: None, now=NOW, **kw
    )


def test_a_snapshot_of_the_leaderboards_largest_account_is_stored_as_the_venue_says(
    venue: type[Venue], store: Store, tmp_path: Path
) -> None:
    s = run(store, tmp_path, top=1)
    assert (s.accounts, s.fetched, s.failed) == (1, 1, [])
    rows = store.read("positions").sort("symbol")
    recorded = {p["position"]["coin"]: p["position"] for p in RECORDED["assetPositions"]}
    assert rows.height == len(recorded)
    top = LEADERBOARD["leaderboardRows"][0]["ethAddress"]  # the larger account value of the two
    assert set(rows["account"]) == {account_id(top, keep=False)}
    assert set(rows["ts"]) == {NOW.replace(microsecond=0)} and set(rows["selection"]) == {"leaderboard-top1"}
    for r in rows.iter_rows(named=True):
        p = recorded[r["symbol"]]
        size = float(p["szi"])
        assert r["side"] == ("long" if size > 0 else "short") and r["qty_base"] == abs(size)
        assert r["liquidation_price"] == (None if p["liquidationPx"] is None else float(p["liquidationPx"]))
        assert (r["leverage"], r["margin_mode"]) == (20.0, "cross")
        assert r["position_usd"] == float(p["positionValue"])
        assert r["account_value_usd"] == float(RECORDED["marginSummary"]["accountValue"])
    assert not (tmp_path / "positions-sync" / "hyperliquid.json").exists()  # complete: nothing to resume


def test_one_account_failing_never_stops_the_others(venue: type[Venue], store: Store, tmp_path: Path) -> None:
    s = run(store, tmp_path, addresses=[FAILING, RECORDED_USER, GARBLED, OTHERS[0]])
    assert s.fetched == 2 and len(s.failed) == 2
    assert any("500" in f for f in s.failed) and any("assetPositions" in f for f in s.failed)
    assert not any(a[2:] in " ".join(s.failed) for a in (FAILING, GARBLED))  # failures name hashed accounts
    assert store.read("positions")["account"].n_unique() == 2
    assert venue.state_requests == 1 + 2 + 1 + 1  # the 500 was retried once (attempts=2), nothing else twice


def test_an_interrupted_snapshot_resumes_where_it_stopped(
    venue: type[Venue], store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(positions, "CHUNK", 2)
    accounts = [RECORDED_USER, *OTHERS]
    venue.drop_after = 3  # the fourth request gets no answer: the venue went away
    first = run(store, tmp_path, addresses=accounts)
    assert first.stopped and first.fetched == 3
    progress = json.loads((tmp_path / "positions-sync" / "hyperliquid.json").read_text())
    assert len(progress["done"]) == 3  # the first chunk and the third account, flushed before stopping
    venue.drop_after = None
    later = NOW + timedelta(minutes=20)
    second = sync_positions(
        store,
        data_dir=tmp_path,
        addresses=accounts,
        policy=RetryPolicy(attempts=1),
        sleep=lambda s: None,
        now=later,
    )
    assert second.resumed and second.snapshot == NOW and second.fetched == len(accounts) - 3
    stored = store.read("positions")
    assert stored["account"].n_unique() == len(accounts) and set(stored["ts"]) == {NOW}
    assert not (tmp_path / "positions-sync" / "hyperliquid.json").exists()


def test_an_unfinished_snapshot_older_than_an_hour_starts_over(
    venue: type[Venue], store: Store, tmp_path: Path
) -> None:
    old = positions.Progress(
        NOW - timedelta(hours=2), "addresses", [RECORDED_USER, OTHERS[0]], [RECORDED_USER]
    )
    old.save(tmp_path / "positions-sync" / "hyperliquid.json")
    s = run(store, tmp_path, addresses=[OTHERS[1]])
    assert not s.resumed and s.snapshot == NOW and s.accounts == 1


def test_requests_keep_to_the_documented_weight_budget(
    venue: type[Venue], store: Store, tmp_path: Path
) -> None:
    waits: list[float] = []
    accounts = ["0x" + f"{i:040x}" for i in range(60)]
    started = time.monotonic()
    sync_positions(
        store,
        data_dir=tmp_path,
        addresses=accounts,
        policy=RetryPolicy(attempts=1),
        sleep=waits.append,
        now=NOW,
    )
    elapsed = time.monotonic() - started
    budget = positions.STATE_BUDGET
    # 60 requests of weight 2 against 1,200 weight per minute with a burst of 40 take at least (120 − 40) / 20 s:
    # waited (the injected sleep returns at once) plus the time that really passed
    assert sum(waits) + elapsed >= (60 * 2.0 - budget.burst) / budget.rate - 1e-6
    assert sum(waits) > 0


def test_cli(venue: type[Venue], tmp_path: Path) -> None:
    listed = tmp_path / "accounts.txt"
    listed.write_text(f"{RECORDED_USER}\n{FAILING}\n")
    cli = [sys.executable, "-m", "levradar.cli", "sync"]
    out = subprocess.run(
        [
            *cli,
            "--venues",
            "hyperliquid",
            "--positions",
            "--addresses",
            str(listed),
            "--retries",
            "1",
            "--keep-addresses",
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert (
        data["fetched"] == 1
        and len(data["failed"]) == 1
        and data["positions"] == len(RECORDED["assetPositions"])
    )
    with Store(tmp_path / "d", read_only=True) as s:
        assert set(s.read("positions")["account"]) == {RECORDED_USER}
    wrong = subprocess.run(
        [*cli, "--venues", "bybit", "--positions", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0 and "use --venues hyperliquid" in wrong.stderr + wrong.stdout
    assert "Traceback" not in wrong.stderr
