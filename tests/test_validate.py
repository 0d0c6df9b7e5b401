"""`levradar validate liquidations`, the ex-ante forecast and the likely zones, on the bundled real sample.

The realised file is built from the sample's real OKX liquidation fills (2026-03-04..05), summed per hour and side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levradar.analytics import _kernel
from levradar.analytics.forecast import (
    BookAt,
    HourlyVol,
    forced_flow_forecast,
    forced_flow_forecasts,
    hit_probability,
)
from levradar.analytics.proximity import FORECAST_HORIZON, PATH_SPAN, _Path, _Tape
from levradar.cli import app
from levradar.evaluation.liquidations import MODEL_COLUMNS, PERIODS, Span, period_rows, read_realised
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store
from tests.test_api import demo_store

PERIOD_KEYS = {
    "ts",
    "asset",
    "realised_long_usd",
    "realised_short_usd",
    "swept_long_usd",
    "swept_short_usd",
    "fuel_1pct_usd",
    "fuel_2pct_usd",
    "forecast_long_usd",
    "forecast_short_usd",
    "lsi",
    "fragility",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("validate"))


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir, read_only=True) as s:
        yield s


@pytest.fixture(scope="module")
def realised_csv(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hourly realised liquidations per asset and side from the sample's real OKX fills (every hour of the span)."""
    fills = store.read("liquidations").with_columns(hour=pl.col("ts").dt.truncate("1h"))
    sums = fills.group_by("asset", "hour").agg(
        pl.col("notional_usd").filter(pl.col("liquidated_side") == "long").sum().alias("long_usd"),
        pl.col("notional_usd").filter(pl.col("liquidated_side") == "short").sum().alias("short_usd"),
    )
    first, last = sums["hour"].min(), sums["hour"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    hours = pl.datetime_range(first, last, "1h", eager=True, time_zone="UTC").alias("hour")
    grid = sums.select("asset").unique().join(hours.to_frame(), how="cross")
    frame = grid.join(sums, on=["asset", "hour"], how="left").fill_null(0.0).rename({"hour": "period_start"})
    path = tmp_path_factory.mktemp("realised") / "okx_hourly.csv"
    frame.sort("asset", "period_start").write_csv(path)
    return path


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def report(realised_csv: Path, data_dir: Path) -> dict[str, Any]:
    code, out = run(
        "validate", "liquidations", realised_csv, "--period", "1h", "--map", "period_start=ts", "--json",
        "--data-dir", data_dir,
    )  # fmt: skip
    assert code == 0, out
    return dict(json.loads(out))


def test_every_period_is_listed_with_the_documented_keys(report: dict[str, Any], realised_csv: Path) -> None:
    rows = pl.read_csv(realised_csv)
    assert len(report["periods"]) + len(report["skipped"]) == rows.height
    assert report["periods"] and all(
        set(p) == PERIOD_KEYS | set(report["periods"][0]) for p in report["periods"]
    )
    assert set(report["periods"][0]) >= PERIOD_KEYS
    for p in report["periods"]:
        assert p["swept_long_usd"] >= 0 and p["swept_short_usd"] >= 0
        assert p["fuel_2pct_usd"] >= p["fuel_1pct_usd"] >= 0
        assert p["forecast_long_usd"] is None or p["forecast_long_usd"] >= 0
    for s in report["skipped"]:
        assert s["why"] and s["asset"] in {"BTC", "ETH", "SOL", "DOGE"}
    assert report["period_hours"] == 1.0


def test_realised_values_are_carried_exactly(report: dict[str, Any], realised_csv: Path) -> None:
    rows = pl.read_csv(realised_csv, try_parse_dates=True)
    got = {
        (p["asset"], p["ts"]): (p["realised_long_usd"], p["realised_short_usd"]) for p in report["periods"]
    }
    for r in rows.iter_rows(named=True):
        key = (r["asset"], r["period_start"].strftime("%Y-%m-%dT%H:%M:%SZ"))
        if key in got:
            assert got[key] == pytest.approx((r["long_usd"], r["short_usd"]))


def test_statistics_per_asset_and_pooled(report: dict[str, Any]) -> None:
    stats = report["statistics"]
    assert "pooled" in stats and {"BTC", "ETH"} <= set(stats)
    pooled = stats["pooled"]
    assert pooled["n"] == len(report["periods"])
    measures = {t["measure"] for t in pooled["tests"]}
    assert {"swept_long_usd", "swept_short_usd", "forecast_total_usd", "fuel_2pct_usd", "lsi"} <= measures
    for t in pooled["tests"]:
        assert t["target"] in {"long", "short", "total"}
        assert t["rho_model"] is None or -1 <= t["rho_model"] <= 1
        for v in t["vs"]:
            lo, hi = v["ci95"]
            if lo is not None:
                assert lo <= hi and v["beats_baseline"] == (lo > 0)
                assert v["difference"] is None or lo - 1e-9 <= v["difference"] + 0.5  # the CI sits around it


def test_swept_usd_is_the_book_between_the_open_and_the_low(store: Store, realised_csv: Path) -> None:
    """By hand for one period: the USD of long levels between the period's low and its open."""
    liq = read_realised(realised_csv, {"period_start": "ts"})
    btc = liq.filter(pl.col("asset") == "BTC").head(3)
    rows, _ = period_rows(store, btc, Span(timedelta(hours=1), None, None), ["BTC"], reads=False)
    r = rows.row(1, named=True)
    assert r["low"] <= r["price"] <= r["high"]
    assert r["swept_long_usd"] <= r["fuel_2pct_usd"] + 1e9  # bounded by the whole side in practice
    assert r["move_to_low"] == pytest.approx(1 - r["low"] / r["price"])


def test_the_model_at_an_open_uses_nothing_after_it(tmp_path: Path, realised_csv: Path) -> None:
    """Every model value of a period equals the one computed from a store cut at the period's open — apart from
    the swept USD, which needs the period's own low and high by definition (the book it sweeps is the open's)."""
    liq = read_realised(realised_csv, {"period_start": "ts"}).filter(pl.col("asset") == "ETH")
    opened = liq["ts"][len(liq) // 2]
    assert isinstance(opened, datetime)
    one = liq.filter(pl.col("ts") == opened)
    with Store(tmp_path / "full") as full:
        import_source(full, "sample", Path("."))
        whole, _ = period_rows(full, one, Span(timedelta(hours=1), None, None), ["ETH"], reads=False)
    with Store(tmp_path / "cut") as cut:
        import_source(cut, "sample", Path("."), Filters(end=opened))
        # the cut store cannot see the period's bars: give it the same low/high to sweep with
        book_only, _ = period_rows(cut, one, Span(timedelta(hours=1), None, None), ["ETH"], reads=False)
    assert whole.height == 1
    if book_only.is_empty():  # no bar after the open in the cut store: the period is skipped, as it must be
        return
    for col in ("fuel_1pct_usd", "fuel_2pct_usd", "forecast_long_usd", "forecast_short_usd", "price"):
        assert book_only[col][0] == pytest.approx(whole[col][0], rel=1e-9), col


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("asset,long_usd,short_usd\nBTC,1,2\n", "column 'ts'"),
        ("ts,asset,long_usd,short_usd\n2026-03-04T12:00:00Z,BTC,-5,2\n", "row 1"),
        ("ts,asset,long_usd,short_usd\n2026-03-04T12:00:00Z,BTC,x,2\n", "column 'long_usd'"),
        (
            "ts,asset,long_usd,short_usd\n2026-03-04T12:00:00Z,BTC,1,2\n2026-03-04T12:00:00Z,BTC,3,4\n",
            "appears twice",
        ),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, data_dir: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out = run("validate", "liquidations", path, "--data-dir", data_dir)
    assert code == 2 and fragment in out and "Traceback" not in out


def test_an_unknown_period_is_refused(realised_csv: Path, data_dir: Path) -> None:
    code, out = run("validate", "liquidations", realised_csv, "--period", "2h", "--data-dir", data_dir)
    assert code == 2 and "1h, 4h, 1d" in out
    assert set(PERIODS) == {"1h", "4h", "1d"}


def test_periods_the_store_does_not_cover_are_skipped_with_the_reason(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "early.csv"
    path.write_text(
        "ts,asset,long_usd,short_usd\n2020-01-01T00:00:00Z,BTC,1,2\n2026-03-05T02:00:00Z,BTC,3,4\n"
    )
    with Store(data_dir, read_only=True) as store:
        rows, skipped = period_rows(
            store, read_realised(path), Span(timedelta(hours=1), None, None), ["BTC"], reads=False
        )
    assert rows.height == 1 and rows["ts"][0] == datetime(2026, 3, 5, 2, tzinfo=UTC)
    assert [s["ts"] for s in skipped] == [datetime(2020, 1, 1, tzinfo=UTC)] and skipped[0]["why"]


def test_model_columns_are_what_the_docs_list() -> None:
    assert set(MODEL_COLUMNS) == PERIOD_KEYS - {"ts", "asset", "realised_long_usd", "realised_short_usd"}


# -- the forecast ------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=40),
    st.floats(1e-4, 0.05),
    st.floats(0.5, 72.0),
)
def test_hit_probability_is_twice_the_normal_tail(distances: list[float], vol: float, hours: float) -> None:
    """2·Φ(−|d|/σ√h), computed with math.erfc: the same as scipy's normal CDF to 1e-12."""
    from scipy.special import ndtr

    d = np.asarray(distances)
    expected = 2.0 * ndtr(-np.abs(d) / (vol * math.sqrt(hours)))
    np.testing.assert_allclose(hit_probability(d, vol, hours), expected, rtol=1e-12, atol=1e-300)


@settings(max_examples=50, deadline=None)
@given(d1=st.floats(0.0, 0.3), d2=st.floats(0.0, 0.3), vol=st.floats(1e-4, 0.05), hours=st.floats(0.5, 48))
def test_hit_probability_falls_with_distance_and_rises_with_time(
    d1: float, d2: float, vol: float, hours: float
) -> None:
    near, far = sorted((d1, d2))
    p = hit_probability(np.array([near, far, -far]), vol, hours)
    assert 0 <= p[1] <= p[0] <= 1 and p[1] == pytest.approx(p[2])
    assert hit_probability(np.array([0.0]), vol, hours)[0] == pytest.approx(1.0)
    assert hit_probability(np.array([far]), vol, hours * 2)[0] >= p[1] - 1e-12


def test_forecast_is_the_book_weighted_by_reach() -> None:
    edges = np.exp(np.linspace(math.log(80), math.log(120), 401))
    centers = np.sqrt(edges[:-1] * edges[1:])
    long_usd = np.where(centers < 100, 1e6, 0.0)
    short_usd = np.where(centers > 100, 2e6, 0.0)
    book = BookAt(edges, long_usd, short_usd)
    f = forced_flow_forecast(book, 100.0, 0.01, timedelta(hours=4))
    assert f.long_usd is not None and f.short_usd is not None
    assert 0 < f.long_usd < long_usd.sum() and 0 < f.short_usd < short_usd.sum()
    assert f.short_usd == pytest.approx(2 * f.long_usd, rel=0.05)  # same shape, twice the USD
    calmer = forced_flow_forecast(book, 100.0, 0.005, timedelta(hours=4))
    assert calmer.long_usd is not None and calmer.long_usd < f.long_usd
    assert forced_flow_forecast(book, 100.0, None, timedelta(hours=4)).long_usd is None


def test_expected_volatility_uses_only_closes_up_to_the_hour(store: Store) -> None:
    bars = store.read("candles", venues=["binance"], assets=["BTC"], interval="1h").sort("ts")
    times = (bars["ts"] + timedelta(hours=1)).to_list()
    closes = bars["close"].to_numpy()
    at = datetime(2025, 10, 10, 20, tzinfo=UTC)
    whole = HourlyVol(times, closes).at(at, timedelta(hours=24))
    cut = [i for i, t in enumerate(times) if t <= at]
    truncated = HourlyVol([times[i] for i in cut], closes[cut]).at(at, timedelta(hours=24))
    assert whole is not None and whole == pytest.approx(truncated)
    later = HourlyVol(times, closes).at(at + timedelta(hours=6), timedelta(hours=24))
    assert later is not None and later > whole  # the cascade hours raise it afterwards, not before
    # the frame path (datetime64, no Python object per hour) reads exactly the same
    path = pl.DataFrame({"t": bars["ts"] + timedelta(hours=1), "close": bars["close"]})
    for when in (at, at + timedelta(hours=6), at - timedelta(days=20)):
        assert HourlyVol.of_path(path).at(when, timedelta(hours=24)) == HourlyVol(times, closes).at(
            when, timedelta(hours=24)
        )


def _forecast_by_hand(book: BookAt, price: float, sigma: float, hours: float) -> tuple[float, float]:
    """The forecast's rule written out in numpy: each side's USD times P(reach) = erfc(|d| / (σ√(2h)))."""
    distance = np.log(book.centers / price)
    p = np.asarray([math.erfc(abs(d) / (sigma * math.sqrt(2.0 * hours))) for d in distance])
    below, above = distance < 0, distance > 0
    return float(np.sum(book.long_usd[below] * p[below])), float(np.sum(book.short_usd[above] * p[above]))


def _vol_by_hand(
    times: list[datetime], closes: npt.NDArray[np.float64], when: datetime, hours: int
) -> float | None:
    """HourlyVol.at's rule written out in numpy."""
    t = np.asarray([np.datetime64(x.replace(tzinfo=None), "s") for x in times])
    step = np.diff(t) == np.timedelta64(3600, "s")
    r_all = np.where(step, np.diff(np.log(closes)), np.nan)
    end = t[1:]
    at = np.datetime64(when.replace(tzinfo=None), "s")
    keep = (end <= at) & (end > at - np.timedelta64(30, "D")) & ~np.isnan(r_all)
    r, hour = r_all[keep], end[keep].astype("datetime64[h]").astype(np.int64) % 24
    if r.size < 48:
        return None
    var = sum(w * float(np.mean(r[-n:] ** 2)) for n, w in ((4, 0.4), (24, 0.4), (168, 0.2)))
    per_hour = np.bincount(hour, weights=r**2, minlength=24) / np.maximum(np.bincount(hour, minlength=24), 1)
    ahead = [(when.hour + k) % 24 for k in range(1, hours + 1)]
    mean = float(np.mean(r**2))
    season = float(np.mean(per_hour[ahead]) / mean) if mean > 0 else 1.0
    vol = math.sqrt(var * (season if season > 0 else 1.0))
    return vol if vol > 0 else None


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(10, 1200),
    gap_share=st.sampled_from([0.0, 0.05, 0.5]),
    hours=st.sampled_from([1, 4, 24, 30]),
    price_at=st.floats(0.5, 1.5),
)
def test_the_compiled_forecast_and_volatility_follow_their_rules(
    seed: int, n: int, gap_share: float, hours: int, price_at: float
) -> None:
    """The one-pass forecast and expected volatility (_kernel) give the rules' numbers written out in numpy, to
    rounding: random books, and random paths with gaps (a return needs two closes an hour apart)."""
    rng = np.random.default_rng(seed)
    edges = np.exp(np.linspace(math.log(50.0), math.log(150.0), 201))
    book = BookAt(edges, rng.exponential(1e6, 200), rng.exponential(1e6, 200))
    price, sigma = 100.0 * price_at, float(rng.uniform(0.001, 0.05))
    got = forced_flow_forecast(book, price, sigma, timedelta(hours=hours))
    longs, shorts = _forecast_by_hand(book, price, sigma, float(hours))
    assert got.long_usd == pytest.approx(longs, rel=1e-12, abs=1e-9)
    assert got.short_usd == pytest.approx(shorts, rel=1e-12, abs=1e-9)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    times = [start + timedelta(hours=i) for i in range(n) if rng.random() >= gap_share]
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(times))))
    vol = HourlyVol(times, closes)
    for when in (times[-1], times[len(times) // 2], start + timedelta(days=40)):
        expected = _vol_by_hand(times, closes, when, hours)
        value = vol.at(when, timedelta(hours=hours))
        assert (value is None) == (expected is None)
        if value is not None:
            assert value == pytest.approx(expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 12))
def test_forecasts_of_many_books_are_each_books_forecast(seed: int, rows: int) -> None:
    """The batched forecast (the live radar's, every asset at once) gives each book's own forecast to the bit;
    a row without a usable volatility or price gets none, and the others are unaffected by it."""
    rng = np.random.default_rng(seed)
    edges = [np.exp(np.linspace(math.log(lo), math.log(lo * 3), 61)) for lo in rng.uniform(1.0, 100.0, rows)]
    books = [BookAt(e, rng.exponential(1e6, 60), rng.exponential(1e6, 60)) for e in edges]
    prices = [float(e[0] * rng.uniform(0.8, 3.5)) for e in edges]
    vols: list[float | None] = [float(v) for v in rng.uniform(0.001, 0.05, rows)]
    vols[int(rng.integers(rows))] = [None, math.nan, 0.0, -0.01][int(rng.integers(4))]
    if rows > 1:
        prices[int(rng.integers(rows))] = [0.0, -1.0, math.nan][int(rng.integers(3))]
    got = forced_flow_forecasts(
        np.stack([b.centers for b in books]),
        np.stack([b.long_usd for b in books]),
        np.stack([b.short_usd for b in books]),
        prices,
        vols,
        FORECAST_HORIZON,
    )
    alone = [
        forced_flow_forecast(b, p, v, FORECAST_HORIZON) for b, p, v in zip(books, prices, vols, strict=True)
    ]
    assert got == alone
    assert sum(f.long_usd is None for f in got) in (1, 2)


def test_the_compiled_forecast_refuses_books_and_prices_that_do_not_match() -> None:
    centers = np.ones((2, 5))
    with pytest.raises(ValueError, match="one price"):
        _kernel.forced_flow(centers, np.ones((2, 5)), np.ones((2, 5)), np.ones(3), np.ones(2), 24.0)
    with pytest.raises(ValueError, match="as wide"):
        _kernel.forced_flow(centers, np.ones((2, 4)), np.ones((2, 5)), np.ones(2), np.ones(2), 24.0)


def test_scan_memo_and_heatmap_carry_the_24h_forecast(store: Store, data_dir: Path) -> None:
    code, out = run("heatmap", "BTC", "--json", "--data-dir", data_dir)
    assert code == 0, out
    heat = json.loads(out)
    forecast = heat["forecast_24h"]
    assert forecast["horizon_hours"] == 24 and forecast["long_usd"] > 0 and forecast["short_usd"] > 0
    assert forecast["total_usd"] == pytest.approx(forecast["long_usd"] + forecast["short_usd"])
    zones = heat["likely_zones"]
    assert zones["horizon_hours"] == 1 and zones["below"] and zones["above"]
    assert all(z["high"] < heat["price"] for z in zones["below"]) and all(
        z["low"] > heat["price"] for z in zones["above"]
    )
    code, out = run("scan", "--json", "--assets", "BTC", "--data-dir", data_dir)
    scan_forecast = json.loads(out)["assets"][0]["liquidation"]["forecast_24h"]
    assert scan_forecast["total_usd"] > 0
    code, out = run("memo", "BTC", "--no-journal", "--data-dir", data_dir)
    assert code == 0 and "Expected forced flow over the next 24h" in out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), gap_share=st.sampled_from([0.0, 0.05, 0.3]), start=st.integers(1, 800))
def test_a_sliding_path_keeps_the_volatility_of_a_fresh_one(seed: int, gap_share: float, start: int) -> None:
    """The live radar advances each asset's price path in place (a close appended, the hours past its span cut,
    the returns slid along instead of taken again): each hour it expects the volatility that a path built afresh
    from the same closes expects."""
    rng = np.random.default_rng(seed)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    hours = [first + timedelta(hours=h) for h in range(1200)]
    present = rng.random(len(hours)) >= gap_share
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(hours))))
    seconds = np.asarray([int(h.timestamp()) for h in hours], dtype=np.int64)
    built = present[:start]
    path = _Path(hours[start - 1], _Tape(seconds[:start][built]), _Tape(closes[:start][built]))
    for n in range(start, min(start + 300, len(hours))):
        path.advance(hours[n], float(closes[n]) if present[n] else None)
        if n % 7 == 0 or n == start:  # read now and then: the returns are taken at the first read
            span = (
                (seconds > seconds[n] - PATH_SPAN // timedelta(seconds=1)) & (seconds <= seconds[n]) & present
            )
            fresh = HourlyVol(seconds[span].astype("datetime64[s]"), closes[span]).at(
                hours[n], FORECAST_HORIZON
            )
            got = path.vol()
            assert (got is None) == (fresh is None) and (got is None or got == pytest.approx(fresh, rel=1e-9))
