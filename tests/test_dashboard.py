"""The dashboard in real headless Chromium (Playwright driving the system chromium) against a real
``levradar serve`` on 127.0.0.1, on the bundled real sample. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

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
        if message.type == "error":
            errors.append(message.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"console errors: {errors}"


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
    lsi = [float(t) for t in page.locator("#radar tbody tr td:nth-child(3)").all_inner_texts()]
    assert lsi == sorted(lsi, reverse=True)  # sorted by LSI, highest first
    page.click("th[data-key=asset]")
    names = page.locator("#radar tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names)
    shot(page, "radar")
    page.click("tr[data-asset=ETH]")
    page.wait_for_url("**/assets/ETH")
    page.wait_for_selector("body[data-loaded=asset]", timeout=30000)
    assert page.locator("#title").get_attribute("data-asset") == "ETH"


def test_asset_page_draws_the_heatmap_and_every_panel(server: str, page: Page) -> None:
    page.goto(server + "/assets/BTC")
    page.wait_for_selector("body[data-loaded=asset]", timeout=30000)
    # Plotly drew the heatmap (its image layer) with the price line over it
    assert page.locator("#chart-heatmap .hm image").count() == 1
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
    assert page.locator("#coverage").inner_text().startswith("complete: read from binance, bybit, hyperliquid, okx")
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
