"""The HTTP API over the bundled real sample (FastAPI's test client; a real uvicorn is in test_dashboard.py)."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levradar.analytics.heatmap import asset_heatmap, load_heatmap_config
from levradar.analytics.measured import beside_model, on_rows
from levradar.analytics.scan import scan
from levradar.analytics.scenario import MAX_MOVE
from levradar.api.app import create_app
from levradar.api.charts import (
    HOUR,
    MAX_COLUMNS,
    MAX_EVEN_ROWS,
    OTHER_VENUE_COLOURS,
    TAG_COLOURS,
    VENUE_COLOURS,
    evenly_spaced,
    plotly_url,
    tag_runs,
    venue_colour,
)
from levradar.api.server import ServeError, required_token
from levradar.api.service import RadarService
from levradar.cli import OptionError, _move
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.jsonio import to_json_bytes
from levradar.radar import heatmap_report
from levradar.store import Store

ASSETS = {"BTC", "ETH", "SOL", "XRP", "DOGE"}


def demo_store(path: Path) -> Path:
    with Store(path) as store:
        import_source(store, "sample", Path("."), Filters())
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[RadarService]:
    svc = RadarService(data_dir, warm_heatmaps=False)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def client(service: RadarService) -> TestClient:
    return TestClient(create_app(service), raise_server_exceptions=False)


def test_radar_is_the_scan_of_the_newest_hour(client: TestClient, data_dir: Path) -> None:
    response = client.get("/api/radar")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert {a["asset"] for a in body["assets"]} == ASSETS
    with Store(data_dir, read_only=True) as store:
        expected = scan(store, datetime.fromisoformat(body["as_of"].replace("Z", "+00:00")))
    assert [(a["asset"], a["tag"], a["scores"]["lsi"]) for a in body["assets"]] == [
        (e["asset"], e["tag"], e["scores"]["lsi"]) for e in expected
    ]
    for read in body["assets"]:
        assert {"funding", "oi", "liquidation", "scores", "tag", "contradictions"} <= set(read)


def test_asset_read_now_and_point_in_time(client: TestClient) -> None:
    now = client.get("/api/assets/btc").json()  # case-insensitive
    assert now["asset"] == "BTC"
    cascade = client.get("/api/assets/BTC", params={"as_of": "2025-10-10T23:00Z"}).json()
    assert cascade["as_of"] == "2025-10-10T23:00:00Z" and cascade["data_time"] <= cascade["as_of"]
    assert cascade["oi"]["regime"] in ("Falling Fast", "Falling")  # the real 2025-10-10 flush
    assert cascade["as_of"] != now["as_of"]


def test_history_has_hours_and_funding_per_venue(client: TestClient) -> None:
    body = client.get(
        "/api/assets/ETH/history", params={"from": "2025-10-09T00:00Z", "to": "2025-10-12T00:00Z"}
    ).json()
    hours = body["hours"]
    assert len(hours) == 73 and hours[0]["t"] == "2025-10-09T00:00:00Z"
    assert {"binance", "bybit", "okx", "hyperliquid"} <= set(body["funding"])
    for rows in body["funding"].values():
        for r in rows:  # units say themselves: the 8h rate and the APR of each settlement
            assert r["rate_8h"] == pytest.approx(r["rate"] * 8 / r["interval_hours"])
            assert r["apr"] == pytest.approx(r["rate"] * 24 * 365 / r["interval_hours"])
    assert all(
        r["oi_usd"] is None or r["oi_usd"] > 0 for rows in body["open_interest"].values() for r in rows
    )


def test_heatmap_and_scenarios(client: TestClient) -> None:
    heat = client.get("/api/assets/SOL/heatmap", params={"days": 30, "grid": True}).json()
    grid = heat["grid"]
    assert len(grid["times"]) == len(grid["long_usd"]) == len(grid["close"]) > 24 * 29
    assert len(grid["long_usd"][0]) == len(grid["prices"]) and heat["nearest_below"]["distance_pct"] < 0
    assert grid["hour_step"] == 1  # 30 days: under the API's bound, full resolution
    year = client.get("/api/assets/SOL/heatmap", params={"days": 365, "grid": True}).json()["grid"]
    assert len(year["times"]) <= 1000 and len(year["prices"]) <= 300 and year["hour_step"] > 1
    assert year["times"][-1] == grid["times"][-1]  # the as-of hour's book is always a row
    assert len(year["long_usd"][0]) == len(year["prices"])
    scen = client.get("/api/assets/SOL/scenarios").json()
    assert [s["move_pct"] for s in scen["scenarios"]] == pytest.approx([-2.0, -1.0, 1.0, 2.0])
    custom = client.get("/api/assets/SOL/scenarios", params=[("move", "-0.05"), ("move", "0.03")]).json()
    assert [s["move_pct"] for s in custom["scenarios"]] == pytest.approx([-5.0, 3.0])


def test_screener(client: TestClient) -> None:
    body = client.get("/api/screener").json()
    assert set(body) == {"as_of", "most_crowded", "most_fragile", "highest_squeeze_risk"}
    assert {r["asset"] for r in body["most_fragile"]} == ASSETS


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/assets/NOPE", 404, "unknown asset 'NOPE'; the store has: BTC, DOGE, ETH, SOL, XRP"),
        ("/api/assets/NOPE/heatmap", 404, "unknown asset"),
        ("/api/assets/BTC?as_of=yesterday", 400, "as_of: 'yesterday' is not an ISO 8601 time"),
        ("/api/assets/BTC/history?from=2026-03-01&to=2026-02-01", 400, "'from' must not be after 'to'"),
        ("/api/assets/BTC/history?from=2020-01-01&to=2026-02-01", 400, "at most 366 days"),
        (
            "/api/assets/BTC/history?from=2026-03-06T12:00Z",  # no 'to': the newest hour is 2026-03-05 23:00
            400,
            "from: 2026-03-06T12:00Z is after the store's newest hour 2026-03-05T23:00Z",
        ),
        ("/api/assets/BTC/history?from=13/01/2025", 400, "from: '13/01/2025' is not an ISO 8601 time"),
        ("/api/assets/BTC/heatmap?days=0", 422, "days: Input should be greater than or equal to 1"),
        ("/api/assets/BTC/heatmap?days=many", 422, "days: Input should be a valid integer"),
        ("/api/assets/BTC/heatmap?as_of=2020-01-01", 404, "no hourly data for BTC"),
        ("/api/assets/BTC/scenarios?move=0", 400, "a move must be non-zero and within ±50 %"),
        (
            "/api/assets/BTC/scenarios?move=5",
            400,
            "move: a move must be non-zero and within ±50 % (got +500 %)",
        ),
        ("/api/radar?as_of=yesterday", 400, "as_of: 'yesterday' is not an ISO 8601 time"),
        ("/api/radar?as_of=2020-01-01", 404, "not enough history before it; the store starts at 2025-05-01"),
        ("/api/assets/BTC/figures/pie", 404, "no figure 'pie'"),
    ],
)
def test_bad_requests_get_clear_4xx(client: TestClient, url: str, status: int, says: str) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    asset=st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(
        lambda a: a not in (".", "..")
    ),
    when=st.one_of(st.none(), st.text(max_size=25), st.datetimes().map(datetime.isoformat)),
)
def test_no_input_ever_gives_a_500(client: TestClient, asset: str, when: str | None) -> None:
    params = {} if when is None else {"as_of": when}
    for path in ("", "/scenarios", "/figures/timeline"):
        response = client.get(f"/api/assets/{quote(asset, safe='')}{path}", params=params)
        assert response.status_code < 500, (asset, when, response.text)
        assert "Traceback" not in response.text


def test_pages_and_openapi(client: TestClient) -> None:
    for url in ("/", "/screener", "/assets/BTC"):
        page = client.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    missing = client.get("/assets/NOPE")
    assert missing.status_code == 404 and "unknown asset" in missing.text
    # plotly.js at a URL named by its content, so browsers keep it for good
    url = f'src="{plotly_url()}"'
    assert url in client.get("/assets/BTC").text and plotly_url().startswith("/vendor/plotly-")
    js = client.get(plotly_url())
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    # a build (scatter + heatmap) of exactly the plotly.js the Python package generates figures for, after V8's
    # compile hint (Chromium compiles its functions off the main thread while it downloads)
    from plotly.offline import get_plotlyjs_version

    header = f"/**\n* plotly.js (levradar: scatter + heatmap - minified) v{get_plotlyjs_version()}\n"
    assert js.content.startswith(f"//# allFunctionsCalledOnLoad\n{header}".encode())
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/radar",
        "/api/assets/{asset}",
        "/api/assets/{asset}/history",
        "/api/assets/{asset}/heatmap",
        "/api/assets/{asset}/scenarios",
        "/api/screener",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
    health = client.get("/api/health").json()
    assert health["ok"] and health["newest"] == client.get("/api/radar").json()["as_of"]
    assert isinstance(health["busy"], list)


def test_heatmap_figure_is_pooled_and_keeps_the_price_line(client: TestClient) -> None:
    fig = client.get("/api/assets/BTC/figures/heatmap").json()
    heat, price = fig["data"][:2]  # then the real prints, one trace per side (tests/test_prints.py)
    assert heat["type"] == "heatmap" and price["type"] == "scatter"
    assert (
        len(heat["x"]) <= MAX_COLUMNS and heat["z"]["shape"] == f"{len(bdata(heat['y']))}, {len(heat['x'])}"
    )
    # evenly spaced prices and hours (Plotly's test: every step within 1 % of the mean), so Plotly draws the map
    # as one image rather than one rectangle per cell
    for axis in (bdata(heat["y"]), np.array(heat["x"], dtype="datetime64[s]").astype(float)):
        steps = np.diff(axis)
        assert len(axis) > 100 and np.all(np.abs(steps - steps.mean()) <= steps.mean() / 100)
    assert len(bdata(heat["y"])) <= MAX_EVEN_ROWS
    # the margins hold every label: no auto-margin (which draws the chart a second time) is needed
    assert fig["layout"]["margin"] == {"l": 72, "r": 120, "t": 90, "b": 48}
    closes = price["y"]
    n = len(closes["bdata"]) if isinstance(closes, dict) else len(closes)
    assert n > 0


def bdata(array: dict[str, str] | list[float]) -> npt.NDArray[np.float64]:
    """A Plotly JSON array (typed, base64 ``bdata``, or a plain list) as numpy."""
    if isinstance(array, list):
        return np.array(array, dtype=float)
    return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).astype(float)


@settings(max_examples=200, deadline=None)
@given(
    widths=st.lists(st.floats(0.01, 50.0), min_size=1, max_size=60),
    start=st.floats(0.001, 1e6),
    max_rows=st.integers(1, 700),
)
def test_evenly_spaced_rows_keep_every_value_at_its_price(
    widths: list[float], start: float, max_rows: int
) -> None:
    edges = start + np.concatenate([[0.0], np.cumsum(widths)])
    z = np.arange(len(widths) * 3, dtype=float).reshape(len(widths), 3)
    centres, out = evenly_spaced(z, edges, max_rows)
    steps = np.diff(centres)
    assert 1 <= len(centres) <= max_rows and out.shape == (len(centres), 3)
    assert np.allclose(steps, steps.mean(), rtol=1e-6) if len(centres) > 1 else True
    assert edges[0] < centres[0] and centres[-1] < edges[-1]
    for price, row in zip(centres, out, strict=True):  # the value of the row the price falls in, unchanged
        i = int(np.searchsorted(edges, price, side="right")) - 1
        assert edges[i] <= price < edges[i + 1] and np.array_equal(row, z[i])
    if len(centres) < max_rows:  # not capped: a step is at most the narrowest row, so every row is drawn
        assert set(out[:, 0]) == set(z[:, 0])


def test_token_is_required_everywhere_when_set(service: RadarService) -> None:
    guarded = TestClient(create_app(service, token="s3cret"))
    assert guarded.get("/api/radar").status_code == 401
    assert guarded.get("/").status_code == 401
    assert guarded.get("/api/radar", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/radar", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/", params={"token": "s3cret"}).status_code == 200  # sets the cookie for the pages
    assert guarded.get("/api/radar").status_code == 200


def test_a_public_interface_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEVRADAR_TOKEN", raising=False)
    assert required_token("127.0.0.1") is None and required_token("localhost") is None
    with pytest.raises(ServeError, match="LEVRADAR_TOKEN"):
        required_token("0.0.0.0")
    monkeypatch.setenv("LEVRADAR_TOKEN", "t")
    assert required_token("0.0.0.0") == "t" and required_token("::1") == "t"


def test_new_data_refreshes_the_radar(tmp_path: Path) -> None:
    data_dir = demo_store(tmp_path)
    svc = RadarService(data_dir, writable=True, warm_heatmaps=False)
    try:
        client = TestClient(create_app(svc))
        before = json.loads(client.get("/api/radar").content)
        as_of = datetime.fromisoformat(before["as_of"].replace("Z", "+00:00"))

        def one_more_hour(assets: list[str] | None) -> None:
            """The next 1h bar on every venue, as the recorder/sync would write it."""
            with svc.lock:
                candles = svc.store.read(
                    "candles", assets=assets, interval="1h", end=as_of - timedelta(hours=1)
                )
                last = candles.sort("ts").group_by("venue", "symbol").last()
                svc.store.write({"candles": last.with_columns(ts=pl.lit(as_of)).drop("ts_ingest")})
            svc.data_changed()

        one_more_hour(["BTC"])  # one asset ahead: the radar waits for the main venues of every asset
        assert svc.radar(fresh=True).as_of == as_of
        one_more_hour(None)
        after = svc.radar(fresh=True)
        assert after.as_of == as_of + timedelta(hours=1)
        assert json.loads(client.get("/api/radar").content)["as_of"] == after.as_of.astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    finally:
        svc.close()


def test_record_feeds_the_served_store_and_refreshes_the_radar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve --record: the recorder writes through the service's store (under its lock) and bumps the data
    version; the sync round runs too (here its venue is down: reported, nothing else stops)."""
    from levradar.api.server import LiveFeed
    from levradar.net.http import RetryPolicy
    from tests.test_record import LIQ, Frames

    ws = Frames([LIQ]).start()
    monkeypatch.setenv("LEVRADAR_BYBIT_WS_URL", f"ws://127.0.0.1:{ws.port}")
    svc = RadarService(demo_store(tmp_path), writable=True, warm_heatmaps=False)
    feed = LiveFeed(svc, ["bybit"], ["BTC"], tmp_path, retry=RetryPolicy(attempts=1))
    try:
        before = svc.version
        feed.start()
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while (feed.syncs == 0 or svc.version == before) and datetime.now(UTC) < deadline:
            feed.stop.wait(0.1)
        assert svc.version > before and feed.syncs >= 1
        with svc.lock:
            liquidations = svc.store.read("liquidations", venues=["bybit"], symbols=["PIPPINUSDT"])
        assert liquidations.height == 1  # the recorded Bybit fill, stored by the served process
        assert TestClient(create_app(svc)).get("/api/radar").status_code == 200
        svc.feed_status = feed.status
        health = TestClient(create_app(svc)).get("/api/health")  # the stream is up, the sync is refused
        body = health.json()
        assert health.status_code == 503 and body["ok"] is False and body["feed"]["failing"] == ["bybit"]
        bybit = body["feed"]["venues"]["bybit"]
        assert (
            bybit["stream"] == "connected" and bybit["sync"] == "failed" and "refused" in bybit["sync_error"]
        )
    finally:
        feed.close()
        svc.close()


def test_memo_endpoint(client: TestClient) -> None:
    body = client.get("/api/assets/ETH/memo", params={"as_of": "2025-10-10T12:00Z"}).json()
    assert set(body["views"]) == {"derivatives", "structure", "risk", "execution"}
    assert body["text"].startswith("ETH reads") and body["as_of"] == "2025-10-10T12:00:00Z"


def test_an_hour_where_the_main_venues_are_missing_reads_stale(client: TestClient) -> None:
    """2026-03-07 02:00: only Hyperliquid's sample runs that far; the reading says which venues are missing."""
    body = client.get("/api/assets/BTC", params={"as_of": "2026-03-07T02:00:00Z"}).json()
    coverage = body["coverage"]
    assert coverage["status"] == "stale" and coverage["venues"] == ["hyperliquid"]
    assert [m["venue"] for m in coverage["missing"]] == ["binance", "bybit", "okx"]
    assert coverage["weight_present"] < 0.5
    weighting = body["funding"]["weighting"]
    assert set(weighting["weights"]) == {"hyperliquid"}


def test_radar_as_of_is_honoured(client: TestClient, data_dir: Path) -> None:
    """/api/radar?as_of= reads every asset at that hour (it was silently the newest hour), as the scan does."""
    newest = client.get("/api/radar").json()
    body = client.get("/api/radar", params={"as_of": "2025-10-11T02:00Z"}).json()
    assert body["as_of"] == "2025-10-11T02:00:00Z" != newest["as_of"]
    with Store(data_dir, read_only=True) as store:
        expected = scan(store, datetime(2025, 10, 11, 2, tzinfo=UTC))
    assert [(a["asset"], a["tag"], a["scores"]["lsi"]) for a in body["assets"]] == [
        (e["asset"], e["tag"], e["scores"]["lsi"]) for e in expected
    ]
    assert body["range"] == newest["range"]
    assert body["range"]["first"] == "2025-05-01T00:00:00Z" and body["range"]["newest"] == newest["as_of"]


FUTURE = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%MZ")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/radar?as_of=", "as_of"),
        ("/api/screener?as_of=", "as_of"),
        ("/api/assets/BTC?as_of=", "as_of"),
        ("/api/assets/BTC/heatmap?as_of=", "as_of"),
        ("/api/assets/BTC/scenarios?as_of=", "as_of"),
        ("/api/assets/BTC/memo?as_of=", "as_of"),
        ("/api/assets/BTC/figures/oi?as_of=", "as_of"),
        ("/api/assets/BTC/history?to=", "to"),
        ("/api/assets/BTC/history?from=", "from"),
    ],
)
def test_a_future_time_is_refused_with_one_true_line(client: TestClient, path: str, name: str) -> None:
    response = client.get(path + FUTURE)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{name}: {FUTURE} is in the future (the server's clock reads ")
    assert "\n" not in detail


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    move=st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=5), st.just(0.5))
)
def test_api_and_cli_share_one_move_rule(client: TestClient, move: float) -> None:
    """The API's scenarios?move= accepts exactly the moves the CLI's --move accepts (one rule, ±50 %)."""
    try:
        _move(repr(move))
        cli_ok = True
    except OptionError:
        cli_ok = False
    assert cli_ok == (move != 0 and abs(move) <= MAX_MOVE)
    response = client.get("/api/assets/XRP/scenarios", params={"move": repr(move)})
    assert (response.status_code == 200) == cli_ok, response.text


def test_venue_colours_are_distinct_and_deterministic() -> None:
    main = [venue_colour(v) for v in ("binance", "bybit", "okx", "hyperliquid")]
    assert len(set(main)) == 4 and main == list(VENUE_COLOURS.values())
    assert not set(OTHER_VENUE_COLOURS) & set(main)  # another venue never takes a main venue's colour


@given(venue=st.text(min_size=1, max_size=20))
def test_any_other_venue_gets_the_same_colour_every_time(venue: str) -> None:
    colour = venue_colour(venue)
    assert colour == venue_colour(venue) and colour.startswith("#") and len(colour) == 7


def test_timeline_spans_the_charts_window_and_names_its_colours(client: TestClient) -> None:
    """The regime timeline covers the 90 days of the other charts, one trace (legend entry) per tag colour."""
    when = "2025-10-11T02:00Z"
    fig = client.get("/api/assets/BTC/figures/timeline", params={"as_of": when}).json()
    tags = [t for t in fig["data"] if t["name"] in TAG_COLOURS]
    assert [(t["name"], t["line"]["color"]) for t in tags] == list(TAG_COLOURS.items())
    (key,) = [a["text"] for a in fig["layout"]["annotations"] if a.get("name") == "tag colours"]
    for (
        tag,
        colour,
    ) in TAG_COLOURS.items():  # the key names every tag in its colour, present in the window or not
        assert f"<span style='color:{colour}'>■</span> {tag}" in key
    # each tag's runs of hours, drawn half an hour either side of their hours: together every hour of the window
    times = sorted(datetime.fromisoformat(x.replace("Z", "+00:00")) for t in tags for x in t["x"] if x)
    half = timedelta(minutes=30)
    assert times[-1] - half == datetime(2025, 10, 11, 2, tzinfo=UTC)
    assert times[-1] - times[0] - 2 * half == timedelta(days=90)
    runs = [(a, b) for a, b in zip(times[::2], times[1::2], strict=True)]
    assert all(b > a for a, b in runs) and all(b == c for (_, b), (c, _) in itertools.pairwise(runs))
    assert sum((b - a) / timedelta(hours=1) for a, b in runs) == 90 * 24 + 1
    funding = client.get("/api/assets/BTC/figures/funding", params={"as_of": when}).json()
    colours = {t["name"]: t["line"]["color"] for t in funding["data"] if t.get("name")}
    assert colours == {v: VENUE_COLOURS[v] for v in ("binance", "bybit", "hyperliquid", "okx")}


def test_docs_and_redoc_load_nothing_from_a_cdn(client: TestClient) -> None:
    for url, assets in (
        ("/docs", ["/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css"]),
        ("/redoc", ["/static-offline-docs/redoc.standalone.js"]),
    ):
        page = client.get(url)
        html = page.text
        assert "cdn" not in html.lower() and "https://" not in html, url
        # and the browser may load nothing from elsewhere (ReDoc's bundle would fetch a logo from its CDN)
        assert page.headers["content-security-policy"] == "default-src 'self' 'unsafe-inline' data: blob:"
        for asset in assets:
            assert asset in html
            served = client.get(asset)
            assert served.status_code == 200 and len(served.content) > 10_000, asset


def test_openapi_lists_the_as_of_and_the_errors(client: TestClient) -> None:
    """/docs shows each read's as_of parameter and its 400/404 answers, not only the 200."""
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/radar", "/api/assets/{asset}", "/api/assets/{asset}/scenarios", "/api/screener"):
        get = paths[path]["get"]
        assert "as_of" in [p["name"] for p in get["parameters"]], path
        assert {"200", "400", "404"} <= set(get["responses"]), path
        assert "future" in get["responses"]["400"]["description"]


# -- measured positions beside the model (Hyperliquid's real BTC positions, tests/fixtures/hyperliquid-positions) --

MEASURED_AT = "2026-02-13T13:00Z"  # 15 min after a snapshot (2026-02-13 12:45:22)


@pytest.fixture(scope="module")
def feb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_measured import fill

    path = tmp_path_factory.mktemp("feb-api")
    with Store(path) as store:
        fill(store)
    return path


@pytest.fixture(scope="module")
def feb_client(feb_dir: Path) -> Iterator[TestClient]:
    svc = RadarService(feb_dir, warm_heatmaps=False)
    yield TestClient(create_app(svc), raise_server_exceptions=False)
    svc.close()


def measured_of(client: TestClient, as_of: str, grid: bool) -> dict[str, Any]:
    response = client.get("/api/assets/btc/heatmap", params={"as_of": as_of, "days": 30, "grid": grid})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_heatmap_carries_the_measured_map_on_the_models_buckets(
    feb_client: TestClient, feb_dir: Path
) -> None:
    body = measured_of(feb_client, MEASURED_AT, grid=False)
    (entry,) = body["measured"]
    assert entry["venue"] == "hyperliquid" and entry["snapshot"] == "2026-02-13T12:45:22+00:00"
    assert entry["snapshot"] <= body["as_of"]
    assert (
        0.29 < entry["coverage_long"] < 0.31 and 0.28 < entry["coverage_short"] < 0.30
    )  # as the page prints
    assert {"nearest_below", "nearest_above", "cumulative", "oi_usd", "positions"} <= set(entry)
    # one place: what beside_model says on the very map the API served
    when = datetime(2026, 2, 13, 13, tzinfo=UTC)
    with Store(feb_dir, read_only=True) as store:
        model = asset_heatmap(store, "BTC", when, days=30, venue=None, cfg=load_heatmap_config())
        expected = beside_model(store, "BTC", when, model.map, load_heatmap_config())
    assert entry == json.loads(to_json_bytes(expected[0]))
    centres = set(np.sqrt(model.map.edges[:-1] * model.map.edges[1:]).tolist())
    assert entry["buckets"] and all(b["price"] in centres for b in entry["buckets"])


def test_measured_buckets_are_merged_like_the_grid_without_losing_a_dollar(feb_client: TestClient) -> None:
    fine = measured_of(feb_client, MEASURED_AT, grid=False)["measured"][0]
    body = measured_of(feb_client, MEASURED_AT, grid=True)
    grid, (merged,) = body["grid"], body["measured"]
    assert grid["bucket_merge"] > 1  # the API summed adjacent buckets of this 30-day map
    prices = np.log(np.array(grid["prices"]))
    assert all(b["price"] in grid["prices"] for b in merged["buckets"])  # the grid's own rows
    expected: dict[float, list[float]] = {}
    for b in fine["buckets"]:  # each model bucket lies in the grid row whose centre is nearest (log scale)
        row = grid["prices"][int(np.argmin(np.abs(prices - np.log(b["price"]))))]
        sums = expected.setdefault(row, [0.0, 0.0])
        sums[0] += b["long_usd"]
        sums[1] += b["short_usd"]
    got = {b["price"]: [b["long_usd"], b["short_usd"]] for b in merged["buckets"]}
    assert got.keys() == expected.keys()
    for row, usd in expected.items():
        assert got[row] == pytest.approx(usd, rel=1e-12)
    for side in ("long", "short"):
        total = sum(b[f"{side}_usd"] for b in merged["buckets"]) + merged[f"beyond_grid_{side}_usd"]
        assert total == pytest.approx(sum(b[f"{side}_usd"] for b in fine["buckets"]), rel=1e-12)


def test_measured_is_point_in_time(feb_client: TestClient) -> None:
    # before the first snapshot (2026-02-04 09:34) and in a 10 h gap (2026-02-15 19:07 → 2026-02-16 05:25)
    for as_of in ("2026-02-04T09:00Z", "2026-02-16T02:00Z"):
        assert measured_of(feb_client, as_of, grid=True)["measured"] == [], as_of
    # 15 min before the 12:45 snapshot: the one before it, never the later one
    (earlier,) = measured_of(feb_client, "2026-02-13T12:30Z", grid=False)["measured"]
    assert earlier["snapshot"] < "2026-02-13T12:30"
    assert datetime.fromisoformat(earlier["snapshot"]) > datetime(2026, 2, 13, 6, 30, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 59), st.floats(0, 1e9), st.floats(0, 1e9)), min_size=0, max_size=40),
    st.integers(0, 30),
    st.integers(1, 30),
    st.integers(1, 7),
)
def test_measured_rows_conserve_usd(
    cells: list[tuple[int, float, float]], first: int, count: int, merge: int
) -> None:
    """Any buckets on any grid window and merge: USD on the rows plus USD beyond them is every measured dollar."""
    edges = 100.0 * 1.01 ** np.arange(61)
    centres = np.sqrt(edges[:-1] * edges[1:])
    entry = {"buckets": [{"price": centres[i], "long_usd": lu, "short_usd": su} for i, lu, su in cells]}
    keep = np.arange(first, first + count)
    long_rows, short_rows, long_out, short_out = on_rows(entry, edges, keep, merge)
    assert long_rows.size == short_rows.size == -(-count // merge)
    assert long_rows.sum() + long_out == pytest.approx(sum(c[1] for c in cells), rel=1e-9, abs=1e-6)
    assert short_rows.sum() + short_out == pytest.approx(sum(c[2] for c in cells), rel=1e-9, abs=1e-6)
    for i, lu, _ in cells:  # and each lands on its own row
        if first <= i < first + count and lu > 0:
            assert long_rows[(i - first) // merge] >= lu * (1 - 1e-9)


@given(st.lists(st.tuples(st.integers(0, 60), st.sampled_from([None, "A", "B"])), max_size=40))
def test_tag_runs_give_back_every_hour_of_every_tag(cells: list[tuple[int, str | None]]) -> None:
    """The timeline's runs: consecutive hours with one tag; a gap or another tag starts a new run."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    by_hour = dict(cells)  # one tag per hour
    hours = [{"t": t0 + timedelta(hours=k), "tag": by_hour[k]} for k in sorted(by_hour)]
    runs = tag_runs(hours)
    for tag in ("A", "B"):
        spans = runs.get(tag, [])
        covered = [
            first + timedelta(hours=k) for first, last in spans for k in range((last - first) // HOUR + 1)
        ]
        assert covered == [h["t"] for h in hours if h["tag"] == tag]
        # runs are maximal: the hour after a run is not the same tag
        assert all(by_hour.get((last - t0) // HOUR + 1) != tag for _, last in spans)
    assert None not in runs


def test_the_apis_heatmap_is_the_clis_report(client: TestClient, data_dir: Path) -> None:
    """One report for every interface (analytics.heatmap.report): the API's heatmap is `heatmap --json`'s body —
    the model's window (run_from, model_days) included — plus the measured positions."""
    when = datetime(2025, 10, 11, 2, tzinfo=UTC)
    body = client.get("/api/assets/BTC/heatmap", params={"as_of": when.isoformat(), "days": 30}).json()
    with Store(data_dir, read_only=True) as store:
        run = heatmap_report(store, "BTC", when, days=30, venue=None, cfg=load_heatmap_config(), grid=False)
    assert body["run_from"] and body["model_days"] == 30
    assert {k: v for k, v in body.items() if k != "measured"} == json.loads(to_json_bytes(run.body))
