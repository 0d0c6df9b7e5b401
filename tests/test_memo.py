"""Views, memo, checklist, the LLM rephrasing guard and the decision journal, on the bundled real sample."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from levradar.analytics.memo import analyse, checklist, memo
from levradar.analytics.views import efficiency_ratio, round_levels
from levradar.cli import app
from levradar.journal import review
from levradar.llm import check_rewrite, rephrase
from levradar.store import Store
from tests.test_api import demo_store

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
BEFORE_CASCADE = datetime(2025, 10, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("memo"))


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir, read_only=True) as s:
        yield s


def numbers(text: str) -> set[str]:
    return {n.replace(",", "").lstrip("+") for n in NUMBER.findall(text)}


def test_views_carry_values_thresholds_and_times(store: Store) -> None:
    a = analyse(store, "ETH", BEFORE_CASCADE)
    assert set(a.views) == {"derivatives", "structure", "risk", "execution"}
    ids = {v: [f.id for f in fs] for v, fs in a.views.items()}
    assert {"read", "funding", "open_interest", "positioning", "liquidations"} <= set(ids["derivatives"])
    assert {"trend", "levels", "volatility", "character"} <= set(ids["structure"])
    assert {"size", "what_changes"} <= set(ids["risk"]) and {"bias", "trigger"} <= set(ids["execution"])
    for findings in a.views.values():
        for f in findings:
            assert f.text and f.data_time is not None and f.data_time <= BEFORE_CASCADE, f
    funding = next(f for f in a.views["derivatives"] if f.id == "funding")
    assert funding.thresholds["z_boundaries"] == [-2.5, -1.0, 1.0, 2.5]
    levels = next(f for f in a.views["structure"] if f.id == "levels").values
    price = next(f for f in a.views["structure"] if f.id == "trend").values["price"]
    assert all(x > price for x in levels["resistance"]) and all(x < price for x in levels["support"])
    assert levels["round_below"] <= price < levels["round_above"]
    assert a.inputs["radar_data_time"] <= BEFORE_CASCADE and a.inputs["config"]


def test_invalidation_sits_beyond_the_pocket_on_the_losing_side(store: Store) -> None:
    for asset in ("BTC", "ETH", "SOL", "XRP", "DOGE"):
        a = analyse(store, asset, BEFORE_CASCADE)
        inv = next((f for f in a.views["risk"] if f.id == "invalidation"), None)
        if a.side == "none":
            assert inv is None
            continue
        assert inv is not None
        stop, level = inv.values["invalidation"], inv.values["level"]
        price = a.read["price"]
        if a.side == "long":
            assert stop < level < price  # below the long pocket / swing low, where forced selling starts
        else:
            assert stop > level > price


def test_memo_is_deterministic_and_every_number_is_a_findings(store: Store) -> None:
    first, second = memo(store, "SOL", BEFORE_CASCADE), memo(store, "SOL", BEFORE_CASCADE)
    assert first["text"] == second["text"]
    finding_text = " ".join(f["text"] for fs in first["views"].values() for f in fs)
    assert numbers(first["text"]) <= numbers(finding_text)
    assert first["text"].startswith("SOL reads ")
    assert set(first["views"]) == {"derivatives", "structure", "risk", "execution"}


def test_a_stale_reading_says_so_first(store: Store) -> None:
    """2026-03-07 02:00: only Hyperliquid's sample reaches that hour; the memo opens with what the read rests on."""
    out = memo(store, "BTC", datetime(2026, 3, 7, 2, tzinfo=UTC))
    first = out["text"].splitlines()[0]
    assert first.startswith("Read stale at 2026-03-07 02:00 UTC from hyperliquid")
    assert "missing binance (last bar 2026-03-06 00:00 UTC)" in first
    finding_text = " ".join(f["text"] for fs in out["views"].values() for f in fs)
    assert numbers(out["text"]) <= numbers(finding_text)
    assert "Read " not in memo(store, "BTC", BEFORE_CASCADE)["text"].splitlines()[0]  # complete: no line


def test_memo_after_the_cascade_reads_the_flush(store: Store) -> None:
    out = memo(store, "SOL", datetime(2025, 10, 11, 2, tzinfo=UTC))
    assert "Deleveraging (Post-Flush)" in out["text"] and "base-building" in out["text"]
    assert out["side"] == "none"


def _read(setup: str | None, crowding: float = 0.0) -> dict[str, Any]:
    return {
        "setup": setup,
        "tag": "t",
        "data_time": BEFORE_CASCADE,
        "scores": {"crowding": crowding, "deleveraging": "stable"},
        "volatility": {"pct_90d": 0.5},
    }


def _structure(trend: str, character: str) -> list[Any]:
    from levradar.analytics.views import Finding

    return [
        Finding("trend", "", {"trend": trend}, {}, BEFORE_CASCADE),
        Finding("character", "", {"character": character}, {}, BEFORE_CASCADE),
    ]


@pytest.mark.parametrize(
    ("setup", "trend", "crowding", "side", "trigger", "words"),
    [
        ("A", "up", 80.0, "none", "flush-and-reclaim", "avoid late longs"),  # never "look for shorts"
        ("B", "down", -80.0, "none", "break-and-hold", "do not chase breakdowns"),
        ("C", "down", 0.0, "none", "base-building", "volatility compression"),
        ("D", "up", 20.0, "long", "break-and-hold", "trend-follow"),
        ("D", "down", -20.0, "short", "break-and-hold", "trend-follow"),
        (None, "up", 20.0, "long", "break-and-hold", "clear uptrend"),
        (None, "up", 80.0, "none", "wick-and-close", "stand aside"),  # the most crowded asset: no "look for longs"
        (None, "flat", 0.0, "none", "wick-and-close", "stand aside"),
    ],
)
def test_execution_follows_each_playbook(
    setup: str | None, trend: str, crowding: float, side: str, trigger: str, words: str
) -> None:
    from levradar.analytics.views import bias, execution, load_views_config

    read = _read(setup, crowding)
    struct = _structure(trend, "trending" if trend != "flat" else "ranging")
    got_side, why = bias(read, struct)
    assert got_side == side and words in why
    findings = {f.id: f for f in execution(read, struct, got_side, why, load_views_config())}
    assert findings["trigger"].values["trigger"] == trigger


def test_checklist_covers_the_watchlist(store: Store) -> None:
    rows = checklist(store, BEFORE_CASCADE, ["BTC", "ETH"])
    assert [r["asset"] for r in rows] == ["BTC", "ETH"]
    for r in rows:
        assert r["mode"] in ("continuation", "mean reversion") and r["funding_pct_90d"] is not None


@given(st.floats(min_value=1e-6, max_value=1e7, allow_nan=False))
def test_round_levels_bracket_the_price(price: float) -> None:
    below, above = round_levels(price)
    assert below <= price < above and above - below <= price * 0.1 + 1e-12


@given(st.lists(st.floats(min_value=1.0, max_value=1e5), min_size=30, max_size=200))
def test_efficiency_ratio_is_between_0_and_1(closes: list[float]) -> None:
    er = efficiency_ratio(np.array(closes), 12)
    valid = er[~np.isnan(er)]
    assert ((valid >= 0) & (valid <= 1 + 1e-12)).all()
    line = efficiency_ratio(np.linspace(1, 2, 50), 12)
    assert np.allclose(line[12:], 1.0)


# -- the LLM guard --------------------------------------------------------------------------------------------


class FakeLLM(BaseHTTPRequestHandler):
    """A small OpenAI-compatible chat endpoint: answers with whatever the test sets."""

    reply: ClassVar[str] = ""
    status: ClassVar[int] = 200
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLLM.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        answer = {"choices": [{"message": {"role": "assistant", "content": FakeLLM.reply}}]}
        payload = json.dumps(answer).encode()
        self.send_response(FakeLLM.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    monkeypatch.setenv("LEVRADAR_LLM_URL", url)
    monkeypatch.setenv("LEVRADAR_LLM_MODEL", "tiny")
    monkeypatch.setenv("LEVRADAR_LLM_KEY", "k")
    FakeLLM.seen, FakeLLM.status = [], 200
    yield url
    httpd.shutdown()
    httpd.server_close()


MEMO = "BTC reads Neutral: fragility 31.1, LSI 37.9. Funding Neutral: +0.0053 % per 8h. Bias: stand aside."


def test_a_faithful_rewrite_is_used(llm: str) -> None:
    FakeLLM.reply = "BTC is Neutral. Fragility is 31.1 and the LSI 37.9; funding Neutral at +0.0053 % per 8h. Stand aside."
    out = rephrase(MEMO)
    assert out == {"text": FakeLLM.reply, "source": "llm", "rejected": None, "model": "tiny"}
    (call,) = FakeLLM.seen
    assert call["path"] == "/v1/chat/completions" and call["auth"] == "Bearer k"
    assert call["body"]["model"] == "tiny" and call["body"]["messages"][1]["content"] == MEMO


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            "BTC is Neutral, fragility 31.1, LSI 37.9, funding +0.0053 % per 8h; expect a 15 % move.",
            "numbers not in the facts: 15",
        ),
        (
            "BTC looks bullish: fragility 31.1, LSI 37.9, funding +0.0053 % per 8h. Stand aside.",
            "claims not in the facts: bullish",
        ),
        ("", "empty rewrite"),
    ],
)
def test_a_rewrite_adding_numbers_or_claims_is_rejected(llm: str, reply: str, why: str) -> None:
    FakeLLM.reply = reply
    out = rephrase(MEMO)
    assert out["source"] == "deterministic" and out["text"] == MEMO and why in out["rejected"]


def test_an_endpoint_failure_keeps_the_memo(llm: str) -> None:
    FakeLLM.status = 500
    out = rephrase(MEMO)
    assert out["source"] == "deterministic" and "endpoint failed" in out["rejected"]
    assert check_rewrite("a 2 % move", "a 2 % move") is None


def test_memo_cli_with_llm_and_the_journal(tmp_path: Path, llm: str) -> None:
    data_dir = demo_store(tmp_path)
    FakeLLM.reply = "nothing like the facts: 99 %"
    runner = CliRunner()
    args = ["memo", "ETH", "--as-of", "2025-10-10T12:00", "--llm", "--json", "--data-dir", str(data_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["rephrased"]["source"] == "deterministic" and "99" in out["rephrased"]["rejected"]
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["journal_id"] == out["journal_id"]  # the same read is journaled once
    runner.invoke(app, ["memo", "SOL", "--as-of", "2025-10-10T12:00", "--data-dir", str(data_dir)])
    with Store(data_dir, read_only=True) as store:
        scored = review(store)
    assert scored["entries"] == 2 and scored["scored"] == 2
    eth = next(r for r in scored["rows"] if r["asset"] == "ETH")
    with Store(data_dir, read_only=True) as store:
        bars = store.read("candles", assets=["ETH"], venues=["binance"], interval="1h")
    close = dict(zip(bars["ts"].to_list(), bars["close"].to_list(), strict=True))
    entry_price = close[BEFORE_CASCADE - timedelta(hours=1)]  # the close of the bar ending at as_of
    later = close[BEFORE_CASCADE + timedelta(hours=23)]  # the close 24h later
    assert eth["ret_24h"] == pytest.approx(later / entry_price - 1, abs=0.01)
    assert eth["ret_24h"] < -0.05  # the cascade came: the 24h return after the memo
    assert eth["pocket_below_hit"] is True  # the long pocket below was traded through
    review_cli = runner.invoke(app, ["journal", "review", "--data-dir", str(data_dir)])
    assert review_cli.exit_code == 0 and "2 journal entries, 2 with data after them" in review_cli.stdout
