"""The dashboard in real headless Chromium (Playwright driving the system chromium) against a real
``levradar serve`` on 127.0.0.1, on the bundled real sample. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from levradar.api.charts import TAG_COLOURS, VENUE_COLOURS
from levradar.store import Store
from levradar.web import CHROMIUM_ARGS, chromium_path
from tests.test_api import demo_store

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "levradar.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return proc, url
        except urllib.error.HTTPError:  # answering (e.g. 401 without the token): up
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve did not answer within 30 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(demo_store(tmp_path_factory.mktemp("dashboard")))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # errors, and warnings too: the browser's and plotly.js's (which it logs as "WARN: ..." traces)
        if message.type in ("error", "warning") or message.text.startswith("WARN:"):
            errors.append(message.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"console errors or warnings: {errors}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_api_on_a_real_uvicorn(server: str) -> None:
    with urllib.request.urlopen(server + "/api/radar", timeout=10) as response:
        body = json.loads(response.read())
    assert {a["asset"] for a in body["assets"]} == {"BTC", "ETH", "SOL", "XRP", "DOGE"}
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server + "/api/assets/NOPE", timeout=10)
    assert info.value.code == 404 and "unknown asset" in json.loads(info.value.read())["detail"]


def test_radar_page_lists_every_asset_sorts_and_opens_an_asset(server: str, page: Page) -> None:
    page.goto(server + "/")
    page.wait_for_selector("body[data-loaded=radar]")
    rows = page.locator("#radar tbody tr")
    assert rows.count() == 5
    lsi = [float(t.rstrip("*")) for t in page.locator("#radar tbody tr td.lsi").all_inner_texts()]
    assert lsi == sorted(lsi, reverse=True)  # sorted by LSI, highest first
    page.click("th[data-key=asset]")
    names = page.locator("#radar tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names)
    shot(page, "radar")
    page.click("tr[data-asset=ETH]")
    page.wait_for_url("**/assets/ETH")
    page.wait_for_selector("body[data-loaded=asset]", timeout=30000)
    assert page.locator("#title").get_attribute("data-asset") == "ETH"


def drawn_in_one_pass(page: Page) -> dict[str, bool]:
    """Per chart: Plotly kept the figure's margins (they hold every label). Had its auto-margin widened them, it
    would have drawn the whole chart a second time."""
    return dict(
        page.evaluate(
            "['heatmap', 'funding', 'oi', 'timeline'].map(n => {"
            " const fl = document.getElementById('chart-' + n)._fullLayout;"
            " return [n, ['l', 'r', 't', 'b'].every(k => fl._size[k] === fl.margin[k])]; })"
        )
    )


def test_asset_page_draws_the_heatmap_and_every_panel(server: str, page: Page) -> None:
    page.goto(server + "/assets/BTC")
    page.wait_for_selector("body[data-loaded=asset]", timeout=30000)
    # Plotly drew the heatmap (its image layer) with the price line over it: one image of one pixel per cell, scaled
    # without smoothing (its fast path for evenly spaced cells, not one rectangle per cell)
    assert page.locator("#chart-heatmap .hm image").count() == 1
    assert "pixelated" in (page.locator("#chart-heatmap .hm image").get_attribute("style") or "")
    assert drawn_in_one_pass(page) == {c: True for c in ("heatmap", "funding", "oi", "timeline")}
    # the heatmap was under way before plotly.js had run (asset.html asks for it while plotly.js loads)
    issued = page.evaluate(
        "performance.getEntriesByType('resource').find(e => e.name.endsWith('/figures/heatmap')).startTime"
    )
    assert issued < page.evaluate("performance.getEntriesByName('lr:plotly-ready')[0].startTime")
    traces = page.evaluate("document.getElementById('chart-heatmap').data.map(t => [t.type, t.name])")
    assert traces == [
        ["heatmap", "liquidation map"],
        ["scatter", "price"],
        ["scatter", "longs liquidated"],  # the real OKX prints of 2026-03-04..05, inside the 90-day window
        ["scatter", "shorts liquidated"],
    ]
    points = page.evaluate("document.getElementById('chart-heatmap').data.slice(2).map(t => t.x.length)")
    assert points == [611, 1000]  # every BTC fill of the sample, one marker each
    # and Plotly drew them: one SVG marker per print in the two print traces
    drawn = page.evaluate(
        "[...document.querySelectorAll('#chart-heatmap .scatterlayer .trace')].slice(1)"
        ".map(t => t.querySelectorAll('path.point').length)"
    )
    assert drawn == [611, 1000]
    legend = page.evaluate("document.querySelector('#chart-heatmap .legend').textContent")
    assert "longs liquidated" in legend and "shorts liquidated" in legend
    for chart in ("funding", "oi", "timeline"):
        assert page.locator(f"#chart-{chart} .main-svg").count() >= 1, chart
    assert page.locator("#scenarios tbody tr").count() == 4
    page.wait_for_function("document.querySelectorAll('#memo p').length > 0")
    assert page.locator("#memo").inner_text().startswith("BTC reads")
    assert page.locator("#summary .card").count() >= 8
    assert page.evaluate("window.levradarHeatmapMs") > 0
    # the venues behind the reading: funding per venue with its weight (summing to 100 %), and the coverage
    rows = page.locator("#venues tbody tr")
    assert rows.count() == 4
    weights = page.evaluate(
        "[...document.querySelectorAll('#venues tbody tr td:nth-child(4)')].map(td => td.textContent)"
    )
    assert abs(sum(int(w.rstrip(" %")) for w in weights) - 100) <= 2, weights
    assert (
        page.locator("#coverage")
        .inner_text()
        .startswith("complete: read from binance, bybit, hyperliquid, okx")
    )
    shot(page, "asset-BTC")


def test_screener_page(server: str, page: Page) -> None:
    page.goto(server + "/screener")
    page.wait_for_selector("body[data-loaded=screener]")
    assert page.locator("#screens section").count() == 3
    assert page.locator("#screens section:first-child tbody tr").count() == 5
    shot(page, "screener")


def test_unknown_asset_page_says_so(server: str, browser: Browser) -> None:
    page = browser.new_page()  # its own page: the 404 status is logged to the console, as it should be
    response = page.goto(server + "/assets/NOPE")
    assert response is not None and response.status == 404
    assert "unknown asset 'NOPE'" in page.locator("main").inner_text()
    page.close()


def test_serve_refuses_a_public_interface_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEVRADAR_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "levradar.cli", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and "set LEVRADAR_TOKEN" in done.stderr


def test_serve_with_a_token_guards_every_request(tmp_path: Path) -> None:
    proc, url = start_server(demo_store(tmp_path), env={"LEVRADAR_TOKEN": "s3cret"})
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + "/api/radar", timeout=10)
        assert info.value.code == 401
        request = urllib.request.Request(url + "/api/radar", headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert "every request must carry the token" in out


CASCADE = "2025-10-11T02:00Z"  # hours after the 2025-10-10 cascade
STALE = "2026-03-07T02:00Z"  # only Hyperliquid's sample runs that far: every reading is stale, XRP's LSI without OI


def api(server: str, path: str) -> Any:
    with urllib.request.urlopen(server + path, timeout=60) as response:
        return json.loads(response.read())


def shown_radar(page: Page) -> dict[str, tuple[str, float, str]]:
    """Per asset row: tag, LSI (as drawn) and price, read off the page."""
    return {
        row.get_attribute("data-asset") or "": (
            row.locator(".tag").inner_text(),
            float(row.locator("td.lsi").inner_text().rstrip("*")),
            row.locator("td.price").inner_text(),
        )
        for row in page.locator("#radar tbody tr").all()
    }


def expected_radar(server: str, as_of: str | None) -> tuple[str, dict[str, tuple[str, float]]]:
    body = api(server, "/api/radar" + (f"?as_of={as_of}" if as_of else ""))
    return body["as_of"], {a["asset"]: (a["tag"], a["scores"]["lsi"]) for a in body["assets"]}


def assert_radar_is(page: Page, server: str, as_of: str | None) -> None:
    """The page shows the API's radar as of ``as_of`` (None: the newest hour), and says which hour."""
    when, expected = expected_radar(server, as_of)
    assert page.locator("body").get_attribute("data-asof") == when
    shown = shown_radar(page)
    assert {a: (tag, round(lsi)) for a, (tag, lsi, _) in shown.items()} == {
        a: (tag, pytest.approx(lsi, abs=0.5)) for a, (tag, lsi) in expected.items()
    }
    stamp = when.replace("T", " ").replace(":00Z", " UTC")
    assert f"as of {stamp}" in page.locator("h1").inner_text()
    assert page.locator("#asof-input").input_value() == when[:16]


def wait_for_hour(page: Page, when: str) -> None:
    page.wait_for_function(f"document.body.dataset.asof === '{when}' && document.body.dataset.loaded")


def test_radar_replays_any_hour_from_the_url_the_picker_and_the_hour_buttons(server: str, page: Page) -> None:
    page.goto(server + "/?as_of=" + CASCADE)
    page.wait_for_selector("body[data-loaded=radar]")
    assert_radar_is(page, server, CASCADE)
    assert page.locator("#asof-mode").inner_text() == "replay"
    assert "(replay)" in page.locator("h1").inner_text()
    live_when, live = expected_radar(server, None)
    assert {a: t for a, (t, _, _) in shown_radar(page).items()} != {a: t for a, (t, _) in live.items()}
    # a row opens the asset at the same hour
    assert page.locator("tr[data-asset=BTC] a").get_attribute("href") == "/assets/BTC?as_of=" + quote(CASCADE)
    shot(page, "radar-replay-cascade")
    # the picker: an hour typed in (UTC) reloads the page there
    page.fill("#asof-input", "2025-10-10T21:00")
    wait_for_hour(page, "2025-10-10T21:00:00Z")
    assert "as_of=2025-10-10T21" in page.url.replace("%3A", ":")
    assert_radar_is(page, server, "2025-10-10T21:00Z")
    # step through the cascade hour by hour: each hour the API's radar of that hour
    for hour in ("22", "23"):
        page.click("#asof-next")
        wait_for_hour(page, f"2025-10-10T{hour}:00:00Z")
        assert_radar_is(page, server, f"2025-10-10T{hour}:00Z")
    page.click("#asof-prev")
    wait_for_hour(page, "2025-10-10T22:00:00Z")
    assert_radar_is(page, server, "2025-10-10T22:00Z")
    # "now" returns to the live radar: the newest hour, refreshed, its stamp in UTC
    page.click("#asof-now")
    wait_for_hour(page, live_when)
    assert "as_of" not in page.url
    assert_radar_is(page, server, None)
    assert page.locator("#asof-mode").inner_text() == "live"
    assert page.locator("#status").inner_text().endswith(" UTC")
    # nothing after the store's latest bar: the next-hour button is off there
    page.goto(server + "/?as_of=" + api(server, "/api/radar")["range"]["latest"][:16] + "Z")
    page.wait_for_selector("body[data-loaded=radar]")
    assert page.locator("#asof-next").is_disabled() and not page.locator("#asof-prev").is_disabled()


def test_radar_marks_coverage_stale_rows_and_an_lsi_without_oi(server: str, page: Page) -> None:
    page.goto(server + "/?as_of=" + STALE)
    page.wait_for_selector("body[data-loaded=radar]")
    reads = {a["asset"]: a for a in api(server, "/api/radar?as_of=" + STALE)["assets"]}
    for asset, read in reads.items():
        row = page.locator(f"tr[data-asset={asset}]")
        assert row.locator(".coverage.stale").inner_text() == "stale"
        filled = row.locator(".venue-dot:not(.missing)").evaluate_all("ds => ds.map(d => d.dataset.venue)")
        hollow = row.locator(".venue-dot.missing").evaluate_all("ds => ds.map(d => d.dataset.venue)")
        assert filled == read["coverage"]["venues"] == ["hyperliquid"]
        assert hollow == [m["venue"] for m in read["coverage"]["missing"]]
        used = read["scores"]["lsi_components"]["oi_change"]["used"]
        lsi = row.locator("td.lsi")
        assert lsi.inner_text().endswith("*") == (not used)
        if not used:
            assert lsi.get_attribute("title") == "computed without OI data"
        # price, funding (rate_8h and APR, signed) and OI (USD, 24h change) columns
        rate = read["funding"]["rate_8h"]
        assert (
            row.locator("td.funding").inner_text().splitlines()[0]
            == f"{'+' if rate >= 0 else '−'}{abs(100 * rate):.4f} %"
        )
        assert row.locator("td.apr").inner_text().startswith("+" if read["funding"]["apr"] >= 0 else "−")
        assert row.locator("td.price").inner_text().startswith("$")
    assert not all(
        r["scores"]["lsi_components"]["oi_change"]["used"] for r in reads.values()
    )  # XRP has no OI
    # the dots wear the charts' venue colours
    dot = page.locator("tr[data-asset=BTC] .venue-dot[data-venue=hyperliquid]")
    assert dot.evaluate("d => getComputedStyle(d).backgroundColor") == rgb(VENUE_COLOURS["hyperliquid"])
    shot(page, "radar-stale")


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_asset_page_replays_an_hour_with_distinct_venue_colours(server: str, page: Page) -> None:
    page.goto(server + "/assets/BTC?as_of=" + CASCADE)
    page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
    read = api(server, "/api/assets/BTC?as_of=" + CASCADE)
    assert page.locator("body").get_attribute("data-asof") == read["as_of"] == "2025-10-11T02:00:00Z"
    assert page.locator("#tag").inner_text() == read["tag"]
    assert "as of 2025-10-11 02:00 UTC (replay)" in page.locator("#title").inner_text()
    heat_title = page.evaluate("document.getElementById('chart-heatmap').layout.title.text")
    assert "to 2025-10-11 02:00 UTC" in heat_title
    memo = api(server, "/api/assets/BTC/memo?as_of=" + CASCADE)["text"].splitlines()[0]
    page.wait_for_function("document.querySelectorAll('#memo p').length > 0")
    assert page.locator("#memo p").first.inner_text() == memo
    # one colour per venue, the same on the funding and the OI charts, and distinct
    colours = {
        chart: page.evaluate(
            f"Object.fromEntries(document.getElementById('chart-{chart}').data"
            ".filter(t => t.name).map(t => [t.name, t.line.color]))"
        )
        for chart in ("funding", "oi")
    }
    assert colours["funding"] == {v: VENUE_COLOURS[v] for v in ("binance", "bybit", "hyperliquid", "okx")}
    assert len(set(colours["funding"].values())) == 4
    assert colours["oi"] == {"bybit": VENUE_COLOURS["bybit"]}  # the sample's only OI history in October 2025
    # the venue table marks each venue with that colour
    borders = page.locator("#venues tbody td:first-child").evaluate_all(
        "tds => tds.map(td => [td.textContent, getComputedStyle(td).borderLeftColor])"
    )
    assert {name.split(" ")[0]: colour for name, colour in borders} == {
        v: rgb(c) for v, c in colours["funding"].items()
    }
    # the timeline's colours are named: a key with every tag (also those absent from the window)
    key = page.evaluate("document.querySelector('#chart-timeline .annotation').textContent")
    assert key == "tag colours: " + " ".join(f"■ {tag}" for tag in TAG_COLOURS)
    shot(page, "asset-BTC-cascade")


def test_asset_page_badges_a_stale_reading(server: str, page: Page) -> None:
    page.goto(server + "/assets/BTC?as_of=" + STALE)
    page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
    assert page.locator("#badge .coverage.stale").inner_text() == "stale"
    assert page.locator("#marks .venue-dot:not(.missing)").count() == 1
    assert page.locator("#marks .venue-dot.missing").count() == 3
    assert page.locator("#coverage").inner_text().startswith("stale: read from hyperliquid")
    assert page.locator("#venues tr.missing").count() == 3


def test_screener_replays_an_hour(server: str, page: Page) -> None:
    page.goto(server + "/screener?as_of=" + CASCADE)
    page.wait_for_selector("body[data-loaded=screener]")
    body = api(server, "/api/screener?as_of=" + CASCADE)
    assert page.locator("body").get_attribute("data-asof") == body["as_of"] == "2025-10-11T02:00:00Z"
    first = page.locator("#screens section:first-child tbody tr:first-child a")
    top = body["most_crowded"][0]
    assert first.get_attribute("href") == f"/assets/{top['asset']}?as_of=" + quote(CASCADE)
    # crowding keeps its sign and says which side is crowded; the percentile is an ordinal
    rows = page.locator("#screens section:first-child tbody tr").all()
    for row, read in zip(rows, body["most_crowded"], strict=True):
        side = "longs crowded" if read["crowding"] > 0 else "shorts crowded"
        assert row.locator("a").inner_text() == f"{read['asset']} ({side})"
        sign = "+" if read["crowding"] > 0 else "−"
        assert row.locator("td.score").inner_text() == f"{sign}{abs(read['crowding']):.0f}"
        pct = math.floor(100 * read["vs_own_history_pct"] + 0.5)  # as Math.round
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(pct % 10, "th") if pct % 100 not in (11, 12, 13) else "th"
        assert row.locator("td:nth-child(4)").inner_text() == f"{pct}{suffix} percentile"
    shot(page, "screener-cascade")


def test_a_bad_as_of_in_the_url_says_why(server: str, browser: Browser) -> None:
    page = browser.new_page()  # its own page: the 400 is logged to the console, as it should be
    page.goto(server + "/?as_of=2999-01-01T00:00Z")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    status = page.locator("#status")
    assert status.inner_text().startswith("radar unavailable: as_of: 2999-01-01T00:00Z is in the future")
    assert status.get_attribute("class") == "error"
    page.close()


def test_docs_and_redoc_render_offline(server: str, browser: Browser) -> None:
    """With every request to anything but 127.0.0.1 refused, /docs lists the operations and /redoc renders."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/radar", "/api/assets/{asset}", "/api/assets/{asset}/scenarios", "/api/screener"} <= {
        p.replace("\u200b", "") for p in paths
    }
    shot(page, "docs-offline")
    page.goto(server + "/redoc")
    page.wait_for_selector("h1", timeout=30000)
    assert page.locator("h1").first.inner_text().startswith("levradar")
    assert page.get_by_text("/api/assets/{asset}/scenarios").count() >= 1
    shot(page, "redoc-offline")
    context.close()
    assert outside == []


@pytest.fixture(scope="module")
def feb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store with Hyperliquid's real measured BTC positions (tests/fixtures/hyperliquid-positions)."""
    from tests.test_measured import fill

    path = tmp_path_factory.mktemp("feb-dashboard")
    with Store(path) as store:
        fill(store)
    proc, url = start_server(path)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def heatmap_layout(page: Page, key: str) -> Any:
    return page.evaluate(f"document.getElementById('chart-heatmap')._fullLayout.{key}")


def test_asset_page_draws_the_measured_positions_beside_the_model(feb_server: str, page: Page) -> None:
    page.goto(feb_server + "/assets/BTC?as_of=2026-02-13T13:00Z")
    page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
    traces = page.evaluate(
        "document.getElementById('chart-heatmap').data.map(t => [t.type, t.name, t.coloraxis || null])"
    )
    assert traces == [
        ["heatmap", "liquidation map", "coloraxis"],
        ["scatter", "price", None],
        ["heatmap", "measured hyperliquid", "coloraxis"],  # one colour scale for both
    ]
    assert page.locator("#chart-heatmap .hm image").count() == 2  # Plotly drew both heatmaps
    # the panel sits on the map's price axis: the same y range, the x domain right of the map
    assert heatmap_layout(page, "yaxis2.range") == heatmap_layout(page, "yaxis.range")
    assert heatmap_layout(page, "yaxis2.matches") == "y"
    assert heatmap_layout(page, "xaxis2.domain[0]") > heatmap_layout(page, "xaxis.domain[1]")
    # its rows are the map's price buckets (which the map draws on evenly spaced rows: each takes its bucket's
    # value), and it holds measured USD near the price
    rows = page.evaluate("document.getElementById('chart-heatmap')._fullData.map(t => Array.from(t.y))")
    step = rows[0][1] - rows[0][0]
    assert rows[0][0] - step < rows[2][0] < rows[2][-1] < rows[0][-1] + step and len(rows[2]) <= 160
    assert drawn_in_one_pass(page)["heatmap"]  # the panel and its colour bar within the margins too
    measured = api(feb_server, "/api/assets/BTC/heatmap?as_of=2026-02-13T13:00Z")["measured"][0]
    drawn = page.evaluate(
        "document.getElementById('chart-heatmap')._fullData[2].z"  # the cells Plotly decoded and drew
        ".flatMap(r => Array.from(r)).filter(Number.isFinite).reduce((a, b) => a + b, 0)"
    )
    shown = sum(b["long_usd"] + b["short_usd"] for b in measured["buckets"])
    assert drawn == pytest.approx(shown, rel=1e-6)  # float32 cells
    title = page.locator("#chart-heatmap .gtitle").text_content() or ""
    assert "measured on hyperliquid, 2026-02-13 12:45 UTC — 30 % of longs' / 29 % of shorts' OI" in title
    shot(page, "asset-BTC-measured")


def test_asset_page_says_when_no_positions_were_measured(feb_server: str, page: Page) -> None:
    page.goto(feb_server + "/assets/BTC?as_of=2026-02-16T02:00Z")  # 7 h after the last snapshot before it
    page.wait_for_selector("body[data-loaded=asset]", timeout=60000)
    assert page.locator("#chart-heatmap .hm image").count() == 1  # the model only, no empty panel
    title = page.locator("#chart-heatmap .gtitle").text_content() or ""
    assert "no measured positions within 6 h of this hour" in title
    assert page.get_by_text("no measured positions within 6 h of this hour").is_visible()


def test_radar_marks_the_rows_with_measured_positions(feb_server: str, page: Page) -> None:
    for as_of, measured in (("2026-02-13T13:00Z", True), ("2026-02-16T02:00Z", False)):
        page.goto(feb_server + "/?as_of=" + as_of)
        page.wait_for_selector("body[data-loaded=radar]")
        expected = {
            a["asset"]
            for a in api(feb_server, "/api/radar?as_of=" + as_of)["assets"]
            if a["liquidation"]["measured"]
        }
        marked = page.locator("#radar tbody tr:has(.measured-mark)").evaluate_all(
            "trs => trs.map(tr => tr.dataset.asset)"
        )
        assert set(marked) == expected and ("BTC" in expected) == measured, as_of
    page.goto(feb_server + "/?as_of=2026-02-13T13:00Z")
    page.wait_for_selector("body[data-loaded=radar]")
    title = page.locator("tr[data-asset=BTC] .measured-mark").get_attribute("title")
    assert title == "measured on hyperliquid, 2026-02-13 12:45 UTC — 30 % of longs' / 29 % of shorts' OI"
