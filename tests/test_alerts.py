"""Alert rules: persistence, cooldown, de-duplication, replay over the bundled real sample (2025-10-10 cascade),
delivery through apprise to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from levradar.alerts import AlertConfigError, Rule, condition, fires, load_alert_config, parse_delivered
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store
from tests.test_api import demo_store

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def frame(flags: list[bool]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "t": [T0 + timedelta(hours=i) for i in range(len(flags))],
            "oi_regime": ["Rising Fast" if f else "Stable" for f in flags],
        }
    )


def rule(persist: int, cooldown: int) -> Rule:
    return Rule("r", "transition", "t", {"family": "oi_regime", "to": "Rising Fast"}, persist, cooldown)


@given(st.lists(st.booleans(), max_size=120), st.integers(1, 6), st.integers(0, 30))
def test_fires_only_after_persistence_and_never_inside_the_cooldown(
    flags: list[bool], persist: int, cooldown: int
) -> None:
    hours = frame(flags)
    idx = fires(rule(persist, cooldown), hours)
    for i in idx:
        assert all(flags[i - persist + 1 : i + 1]) and i - persist + 1 >= 1  # held long enough, onset seen
        assert not flags[i - persist]  # it is the first hour the run reaches the persistence
    for a, b in itertools.pairwise(idx):
        assert b - a >= max(cooldown, 1)


def test_a_condition_already_true_at_the_first_hour_does_not_fire() -> None:
    assert fires(rule(1, 0), frame([True, True, False, True])) == [3]


def test_match_and_cross_rules() -> None:
    hours = frame([False, True, True]).with_columns(lsi=pl.Series([50.0, 69.0, 75.0]))
    cross = Rule("c", "cross", "lsi", {"metric": "lsi", "above": 70}, 1, 0)
    assert condition(cross, hours).to_list() == [False, False, True]
    both = Rule("m", "match", "m", {"when": {"oi_regime": "Rising Fast", "lsi": {"above": 70}}}, 1, 0)
    assert condition(both, hours).to_list() == [False, False, True]


def test_bad_rules_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nid = "x"\nkind = "sometimes"\n')
    with pytest.raises(AlertConfigError, match="kind must be one of match, transition, cross, pocket"):
        load_alert_config(bad)
    bad.write_text('[[rule]]\nid = "x"\nkind = "cross"\nmetric = "lsi"\n')
    with pytest.raises(AlertConfigError, match="needs above or below"):
        load_alert_config(bad)
    unknown = Rule("u", "match", "u", {"when": {"nonsense": 1}}, 1, 0)
    with pytest.raises(AlertConfigError, match="unknown field"):
        condition(unknown, frame([True]))


def test_replay_shows_the_2025_10_10_cascade(tmp_path: Path) -> None:
    data_dir = demo_store(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "alerts",
            "replay",
            "--from",
            "2025-10-10",
            "--to",
            "2025-10-11T12:00",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    fired = json.loads(result.stdout)["alerts"]
    flush = {a["asset"] for a in fired if a["rule"] == "flush" and a["time"] == "2025-10-10T22:00:00Z"}
    assert {"BTC", "ETH", "SOL"} <= flush
    assert {a["rule"] for a in fired} <= {r.id for r in load_alert_config(None).rules}
    per_asset_day = len(fired) / (len({a["asset"] for a in fired}) * 1.5)
    assert per_asset_day <= 3  # a crash day, yet a handful per asset, not a flood
    for a in fired:
        assert a["levradar_alert"] == 1 and a["id"] == f"{a['rule']}:{a['asset']}:{a['time'][:16]}Z"
        assert "2025-10-10T00:00:00Z" <= a["time"] <= "2025-10-11T12:00:00Z"


def test_pocket_rules_replay_from_the_hourly_model(tmp_path: Path) -> None:
    """Proximity is modelled every hour, so a pocket rule replays like any other: each alert shows a pocket within
    reach holding at least the asked share of OI."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "near"\nkind = "pocket"\nwithin_vol = 0.5\nmin_oi_share = 0.05\ncooldown_hours = 6\n'
    )
    data_dir = demo_store(tmp_path)
    args = ["alerts", "replay", "--from", "2025-10-08", "--to", "2025-10-14", "--json", "--data-dir", str(data_dir)]
    result = CliRunner().invoke(app, [*args, "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    fired = json.loads(result.stdout)["alerts"]
    assert len({a["asset"] for a in fired}) >= 3
    for a in fired:
        v = a["values"]
        reach = 0.5 * v["rv_24h"] / 365**0.5 * 100
        sides = [
            (v[f"liq_{side}_pct"], v[f"liq_{side}_usd"])
            for side in ("below", "above")
            if v[f"liq_{side}_pct"] is not None
        ]
        assert any(abs(pct) <= reach and usd >= 0.05 * v["oi_usd"] for pct, usd in sides), a
    times = sorted(a["time"] for a in fired if a["asset"] == fired[0]["asset"])
    assert all(b > a for a, b in itertools.pairwise(times))


def test_a_pocket_rule_names_one_reach(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nid = "p"\nkind = "pocket"\nwithin_pct = 0.5\nwithin_vol = 0.25\n')
    with pytest.raises(AlertConfigError, match="within_pct or within_vol"):
        load_alert_config(bad)
    bad.write_text('[[rule]]\nid = "p"\nkind = "pocket"\nmin_usd = 1\n')
    with pytest.raises(AlertConfigError, match="within_pct or within_vol"):
        load_alert_config(bad)


class Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        Receiver.got.append(
            {"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.got = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"json://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


def test_alerts_test_sends_one_json_webhook(receiver: str) -> None:
    result = CliRunner().invoke(app, ["alerts", "test", "--url", receiver])
    assert result.exit_code == 0, result.output
    (post,) = Receiver.got
    assert post["path"] == "/hook" and post["body"]["title"] == "TEST: levradar test alert"
    alert = parse_delivered(post["body"]["message"])  # apprise's payload carries the alert JSON as message
    assert alert["rule"] == "test" and alert["asset"] == "TEST"


def test_check_delivers_what_fires_now_once(tmp_path: Path, receiver: str) -> None:
    with Store(tmp_path) as store:  # the sample up to the cascade: the newest hour is 2025-10-10 22:00
        import_source(store, "sample", Path("."), Filters(end=datetime(2025, 10, 10, 22, tzinfo=UTC)))
        store.con.execute(
            "DELETE FROM candles WHERE ts >= TIMESTAMP '2025-10-10 22:00'"
        )  # that bar is still open
    args = ["alerts", "check", "--url", receiver, "--json", "--data-dir", str(tmp_path)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    sent = json.loads(first.stdout)["alerts"]
    assert {a["rule"] for a in sent} >= {"flush"} and all(a["time"] == "2025-10-10T22:00:00Z" for a in sent)
    assert len(Receiver.got) == len(sent)
    assert {parse_delivered(p["body"]["message"])["id"] for p in Receiver.got} == {a["id"] for a in sent}
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert again["alerts"] == [] and len(Receiver.got) == len(sent)  # de-duplicated: nothing sent twice
    listed = CliRunner().invoke(
        app, ["journal", "list", "--kind", "alert", "--json", "--data-dir", str(tmp_path)]
    )
    assert len(json.loads(listed.stdout)) == len(sent)  # every alert is in the decision journal
