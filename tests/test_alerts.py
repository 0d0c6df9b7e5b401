"""Alert rules: persistence, cooldown, de-duplication, replay over the bundled real sample (2025-10-10 cascade),
delivery through apprise to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levradar.alerts import (
    AlertConfigError,
    Retry,
    Rule,
    alert_payload,
    condition,
    deliver,
    fires,
    load_alert_config,
    parse_delivered,
    redact,
    scrub,
)
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.journal import entries, record_alert
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
    args = [
        "alerts",
        "replay",
        "--from",
        "2025-10-08",
        "--to",
        "2025-10-14",
        "--json",
        "--data-dir",
        str(data_dir),
    ]
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
    """A JSON webhook on 127.0.0.1: answers 500 to the first ``failures`` posts, then 200; keeps what it got
    (accepted or not) with the arrival time."""

    got: ClassVar[list[dict[str, Any]]] = []
    failures: ClassVar[float] = 0

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.got.append({"path": self.path, "body": body, "at": time.monotonic()})
        self.send_response(500 if len(Receiver.got) <= Receiver.failures else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.got, Receiver.failures = [], 0
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
    cascade_store(tmp_path)
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


def cascade_store(path: Path) -> Path:
    """The sample up to the cascade: the newest hour is 2025-10-10 22:00, when the flush rule fires."""
    with Store(path) as store:
        import_source(store, "sample", Path("."), Filters(end=datetime(2025, 10, 10, 22, tzinfo=UTC)))
        store.con.execute(
            "DELETE FROM candles WHERE ts >= TIMESTAMP '2025-10-10 22:00'"
        )  # that bar is still open
    return path


def test_alerts_test_takes_the_data_dir_and_its_rules_file(tmp_path: Path, receiver: str) -> None:
    """Every command takes --data-dir; for alerts it is where an alerts.toml overrides the bundled rules (here
    it names the delivery URL, so no --url is needed)."""
    (tmp_path / "alerts.toml").write_text(f'[delivery]\nurls = ["{receiver}"]\n')
    result = CliRunner().invoke(app, ["alerts", "test", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(Receiver.got) == 1 and result.output.strip() == f"sent: {redact(receiver)}"
    empty = CliRunner().invoke(app, ["alerts", "test", "--data-dir", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "no delivery URL" in empty.output


def test_a_failing_target_is_retried_with_backoff_until_it_takes_the_alert(receiver: str) -> None:
    Receiver.failures = 2  # the webhook answers 500 twice, then 200
    alert = alert_payload(Rule("t", "match", "t", {}), {"asset": "BTC", "t": T0}, "cfg")
    (result,) = deliver(alert, [receiver], Retry(attempts=4, first_wait_s=0.2, max_wait_s=5))
    assert result == {"target": redact(receiver), "status": "sent", "attempts": 3}
    at = [p["at"] for p in Receiver.got]
    assert len(at) == 3 and at[1] - at[0] >= 0.2 and at[2] - at[1] >= 0.4  # the wait doubles
    assert {parse_delivered(p["body"]["message"])["id"] for p in Receiver.got} == {alert["id"]}


def test_a_target_that_always_fails_is_reported_failed_with_the_reason(receiver: str) -> None:
    Receiver.failures = math.inf
    alert = alert_payload(Rule("t", "match", "t", {}), {"asset": "BTC", "t": T0}, "cfg")
    (result,) = deliver(alert, [receiver], Retry(attempts=3, first_wait_s=0.05, max_wait_s=1))
    assert result["status"] == "failed" and result["attempts"] == 3 and len(Receiver.got) == 3
    assert "error=500" in result["error"]


def test_a_failed_delivery_is_journaled_failed_and_the_next_check_retries_it(
    tmp_path: Path, receiver: str
) -> None:
    data_dir = cascade_store(tmp_path)
    Receiver.failures = math.inf  # the receiver is down for the first check
    args = ["alerts", "check", "--url", receiver, "--retries", "1", "--json", "--data-dir", str(data_dir)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1  # a delivery failed: cron sees it
    due = json.loads(first.stdout)["alerts"]
    assert due
    for a in due:
        (result,) = a["delivered"]
        assert (result["target"], result["status"], result["attempts"]) == (redact(receiver), "failed", 1)
        assert "error=500" in result["error"]
    listed = CliRunner().invoke(
        app, ["journal", "list", "--kind", "alert", "--json", "--data-dir", str(data_dir)]
    )
    rows = json.loads(listed.stdout)
    assert len(rows) == len(due) and {r["delivery"] for r in rows} == {"failed"}  # never "sent"
    assert all("error=500" in r["delivery_error"] for r in rows)
    text = CliRunner().invoke(app, ["journal", "list", "--kind", "alert", "--data-dir", str(data_dir)]).stdout
    assert text.count("DELIVERY FAILED") == len(due)

    Receiver.failures = 0  # back up: the next check sends what failed, once
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert {a["id"] for a in json.loads(second.stdout)["alerts"]} == {a["id"] for a in due}
    rows = json.loads(
        CliRunner()
        .invoke(app, ["journal", "list", "--kind", "alert", "--json", "--data-dir", str(data_dir)])
        .stdout
    )
    assert len(rows) == len(due) and {r["delivery"] for r in rows} == {"sent"}
    third = CliRunner().invoke(app, args)
    assert json.loads(third.stdout)["alerts"] == []  # delivered now: never again


def test_journal_list_says_when_it_has_no_alerts(tmp_path: Path) -> None:
    data_dir = demo_store(tmp_path)
    result = CliRunner().invoke(app, ["journal", "list", "--kind", "alert", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and result.stdout.strip() == f"no alerts in the journal at {data_dir}"
    bad = CliRunner().invoke(app, ["journal", "list", "--kind", "alerts", "--data-dir", str(data_dir)])
    assert bad.exit_code == 2 and "--kind must be one of memo, alert, got 'alerts'" in bad.output


TOKEN = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{11,39}", fullmatch=True)  # tokens look random: no run of 0s


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=TOKEN, password=TOKEN, path=TOKEN, header=TOKEN, bot=TOKEN, webhook=TOKEN)
def test_no_secret_of_a_delivery_url_is_ever_stored_or_printed(
    tmp_path_factory: pytest.TempPathFactory,
    user: str,
    password: str,
    path: str,
    header: str,
    bot: str,
    webhook: str,
) -> None:
    """Tokens in the user, password, path, query and service fields of apprise URLs: none of them reaches the
    delivery results, the journal (every column) or the CLI's output — as JSON or as text."""
    secrets = [user, password, path, header, bot, webhook]
    with socket.socket() as s:  # a port nothing listens on: the delivery fails at once, with apprise's reason
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    webhook_url = f"json://{user}:{password}@127.0.0.1:{port}/{path}?-X-Token={header}"
    others = [f"tgram://123456789:{bot}/-100123456", f"discord://123456789012/{webhook}"]
    for url in [webhook_url, *others]:
        assert not any(secret in redact(url) for secret in secrets)
    data_dir = tmp_path_factory.mktemp("redact")
    out = CliRunner().invoke(
        app, ["alerts", "test", "--url", webhook_url, "--retries", "1", "--data-dir", str(data_dir)]
    )
    assert out.exit_code == 1 and "FAILED" in out.output and "127.0.0.1" in out.output
    alert = alert_payload(Rule("r", "match", "r", {}), {"asset": "BTC", "t": T0}, "cfg")
    alert["delivered"] = deliver(alert, [webhook_url], Retry(attempts=1)) + [
        {"target": redact(u), "status": "failed", "attempts": 1, "error": scrub(f"POST {u} refused", u)}
        for u in others
    ]
    with Store(data_dir) as store:
        record_alert(store, alert)
        stored = entries(store, "alert").write_json()
    shown = [out.output, json.dumps(alert["delivered"]), stored]
    assert not [s for s in secrets for text in shown if s in text]


def test_apprise_debug_lines_reach_a_log_without_the_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """apprise logs the whole URL it posts to at DEBUG (what -v or a log file would keep): masked."""
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"json://me:Pw0rdSecret42@127.0.0.1:{port}/hook/PathSecret42?-X-Token=HeaderSecret42"
    alert = alert_payload(Rule("r", "match", "r", {}), {"asset": "BTC", "t": T0}, "cfg")
    (result,) = deliver(alert, [url], Retry(attempts=1))
    assert result["status"] == "failed" and "JSON POST URL" in caplog.text  # the debug line is there
    assert f"127.0.0.1:{port}" in caplog.text
    assert not [s for s in ("Pw0rdSecret42", "PathSecret42", "HeaderSecret42") if s in caplog.text]
