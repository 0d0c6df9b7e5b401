"""Prometheus ``/metrics`` of a real ``levradar serve`` on 127.0.0.1, read with prometheus_client's own parser:
data freshness per venue and dataset, request counts and latencies by route template, and the live recorder's
counters under ``serve --record`` (a real WebSocket server replaying recorded Bybit frames)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from levradar.domain.datasets import DATASETS
from levradar.store import Store
from levradar.venues import parse
from tests.test_api import demo_store
from tests.test_dashboard import start_server
from tests.test_record import LIQ, TICKER, Replay, later

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[Samples, float]:
    """Every sample of /metrics by (name, labels), and when it was read (Unix seconds)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return samples_of(text), time.time()


def samples_of(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("metrics"))


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[str]:
    proc, url = start_server(data_dir)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def newest_per_venue(data_dir: Path) -> dict[tuple[str, str], datetime]:
    """(venue, dataset) → the newest row's ts, read from the store directly."""
    with Store(data_dir, read_only=True) as store:
        frames = {name: store.read(name) for name in DATASETS}
    return {
        (r["venue"], name): r["ts"]
        for name, frame in frames.items()
        if not frame.is_empty()
        for r in frame.group_by("venue").agg(pl.col("ts").max()).iter_rows(named=True)
    }


def test_freshness_is_now_minus_the_newest_row_per_venue_and_dataset(server: str, data_dir: Path) -> None:
    expected = newest_per_venue(data_dir)
    samples, at = scrape(server)
    ages = {
        (dict(labels)["venue"], dict(labels)["dataset"]): v
        for (name, labels), v in samples.items()
        if name == "levradar_data_age_seconds"
    }
    assert set(ages) == set(expected) and ("okx", "liquidations") in ages
    for key, ts in expected.items():
        assert abs(ages[key] - (at - ts.timestamp())) < 5.0, key
        newest = value(samples, "levradar_data_newest_timestamp_seconds", venue=key[0], dataset=key[1])
        assert newest == pytest.approx(ts.timestamp(), abs=1e-3)
    later_samples, later_at = scrape(server)  # the same rows, later: the age grows with the clock
    key = next(iter(expected))
    grown = value(later_samples, "levradar_data_age_seconds", venue=key[0], dataset=key[1]) - ages[key]
    assert abs(grown - (later_at - at)) < 1.0
    assert not any(name.startswith("levradar_recorder") for name, _ in samples)  # no --record, no recorder


def test_requests_are_counted_and_timed_per_route_template(server: str) -> None:
    route = "/api/assets/{asset}"
    before, _ = scrape(server)
    codes = [
        get(server + "/api/assets/BTC"),
        get(server + "/api/assets/eth"),
        get(server + "/api/assets/SOL?as_of=2025-10-10T23:00Z"),
        get(server + "/api/assets/NOPE"),
        get(server + "/no/such/page"),
    ]
    assert codes == [200, 200, 200, 404, 404]
    after, _ = scrape(server)

    def rose(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert rose("levradar_http_requests_total", route=route, method="GET", status="200") == 3
    assert rose("levradar_http_requests_total", route=route, method="GET", status="404") == 1
    assert rose("levradar_http_requests_total", route="(none)", method="GET", status="404") == 1
    assert rose("levradar_http_request_duration_seconds_count", route=route, method="GET") == 4
    assert rose("levradar_http_request_duration_seconds_sum", route=route, method="GET") > 0
    assert (
        rose("levradar_http_requests_total", route="/metrics", method="GET", status="200") == 1
    )  # the first
    raw = {v for _, labels in after for k, v in labels if k == "route"}
    assert not any(a in r for r in raw for a in ("BTC", "eth", "SOL", "NOPE", "no/such"))  # templates only
    slowest = value(
        after, "levradar_http_request_duration_seconds_bucket", route=route, method="GET", le="+Inf"
    )
    assert slowest == value(after, "levradar_http_request_duration_seconds_count", route=route, method="GET")


def test_recorder_counters_under_serve_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replayed stream: a liquidation, a ticker and a malformed message, a dropped connection, then the
    liquidation again and a new one. /metrics counts each message, the records stored, the rejected message and
    the reconnect — and the freshness of Bybit liquidations becomes the newest recorded fill."""
    ws = Replay()
    ws.start()
    monkeypatch.setenv("LEVRADAR_BYBIT_WS_URL", f"ws://127.0.0.1:{ws.port}")
    frames = [LIQ, TICKER, LIQ, later(LIQ, 1000)]
    now = datetime.now(UTC)
    records = sum(len(parse("bybit", f, now)) for f in frames)
    proc, url = start_server(demo_store(tmp_path), "--record", "--venues", "bybit", "--assets", "BTC")
    try:
        deadline = time.monotonic() + 60
        while True:
            samples, _ = scrape(url)
            if value(samples, "levradar_recorder_records_stored_total", venue="bybit") >= records:
                break
            assert time.monotonic() < deadline, samples
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert value(samples, "levradar_recorder_messages_total", venue="bybit") == 5
    assert value(samples, "levradar_recorder_records_stored_total", venue="bybit") == records
    assert value(samples, "levradar_recorder_rejected_total", venue="bybit") == 1  # the malformed message
    assert value(samples, "levradar_recorder_reconnects_total", venue="bybit") == 1
    assert value(samples, "levradar_recorder_connected", venue="bybit") == 1
    assert value(samples, "levradar_sync_rounds_total") >= 1  # the sync ran (its venue is down here)
    newest_fill = later(LIQ, 1000)["data"][0]["T"] / 1000
    newest = value(samples, "levradar_data_newest_timestamp_seconds", venue="bybit", dataset="liquidations")
    assert newest == pytest.approx(newest_fill, abs=1e-3)


def test_metrics_need_the_token_like_every_path(data_dir: Path) -> None:
    """With LEVRADAR_TOKEN set, /metrics answers 401 without it (counted under no route) and 200 with it."""
    from fastapi.testclient import TestClient

    from levradar.api.app import create_app
    from levradar.api.service import RadarService

    service = RadarService(data_dir, warm_heatmaps=False)
    try:
        client = TestClient(create_app(service, token="s3cret"))
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 200
        assert (
            value(
                samples_of(answer.text),
                "levradar_http_requests_total",
                route="(none)",
                method="GET",
                status="401",
            )
            == 1
        )
    finally:
        service.close()
