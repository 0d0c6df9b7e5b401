"""The liquidation model v2 (levradar.analytics.liqmodel) and the asset heatmap built on it.

Properties on synthetic hourly bars, cases computed by hand, the bundled sample and the CLI. The model (module
docstring of liqmodel.py), per market and hour: every distance band and the hedged reserve age by their own factor;
the bar's range consumes the levels it crossed; a fall of the one-sided OI in USD is explained first by the crossed
levels and only the rest closes the side proportionally; new OI (and a share of the traded USD) opens as much USD
of longs as of shorts, each side split into leveraged positions placed in contiguous distance bands over the bar's
range and a hedged reserve without levels; levels of the new cohort the close is beyond are removed; each side
(levels + reserve) is rescaled to the OI in USD.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from levradar.analytics._kernel import deposit as _deposit
from levradar.analytics.config import ConfigError
from levradar.analytics.heatmap import (
    AssetHeatmap,
    _pocket,
    asset_heatmap,
    grid_json,
    pockets_by_row,
    summarize,
)
from levradar.analytics.liqmodel import (
    Heatmap,
    HeatmapConfig,
    MarketBook,
    combine,
    leveraged_long_share,
    load_heatmap_config,
    price_edges,
    simulate_market,
)
from levradar.analytics.series import load_markets
from levradar.cli import app
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.jsonio import dumps
from levradar.radar import heatmap_report
from levradar.store import Store

FloatArray = npt.NDArray[np.float64]
Maybe = float | None

CFG = load_heatmap_config()
NO_DECAY = 1e300  # exp(-1 / 1e300) == 1.0 exactly: positions never age


def still(cfg: HeatmapConfig = CFG) -> HeatmapConfig:
    """``cfg`` without ageing (every band and the reserve)."""
    return dataclasses.replace(cfg, decay_hours=np.full(cfg.n_bands + 1, NO_DECAY))


def one_band(near: float, far: float) -> HeatmapConfig:
    """A single distance band [near, far) without ageing: a cohort's levels are one narrow, known interval."""
    cfg = dataclasses.replace(CFG, band_edges=np.array([near, far]), weights=np.array([1.0]))
    return still(cfg)


STILL = still()
NARROW = one_band(0.10, 0.11)  # opened at P: longs at [0.89 P, 0.90 P], shorts at [1.10 P, 1.11 P]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=40, deadline=None)
runner = CliRunner()


# --------------------------------------------------------------------------------------------------------
# frames and small helpers
# --------------------------------------------------------------------------------------------------------


def make_frame(
    low: Sequence[Maybe] | FloatArray,
    high: Sequence[Maybe] | FloatArray,
    close: Sequence[float] | FloatArray,
    oi_base: Sequence[Maybe],
    oi_usd: Sequence[Maybe] | None = None,
    rate: Sequence[Maybe] | None = None,
    volume: Sequence[Maybe] | None = None,
    start: datetime = T0,
) -> pl.DataFrame:
    """Hourly rows as market_frame gives them (only the columns the model reads). OI in USD defaults to coin ×
    close; without ``volume`` there is no ``volume_usd`` column (no churn)."""
    n = len(close)
    if oi_usd is None:
        oi_usd = [None if b is None else b * c for b, c in zip(oi_base, close, strict=True)]
    data: dict[str, list[Any]] = {
        "t": [start + timedelta(hours=i) for i in range(n)],
        "high": [None if x is None else float(x) for x in high],
        "low": [None if x is None else float(x) for x in low],
        "close": [float(x) for x in close],
        "oi_base": list(oi_base),
        "oi_usd": list(oi_usd),
        "rate_8h": list(rate) if rate is not None else [None] * n,
    }
    if volume is not None:
        data["volume_usd"] = list(volume)
    schema = {"t": pl.Datetime("us", "UTC"), **{k: pl.Float64() for k in data if k != "t"}}
    return pl.DataFrame(data, schema=schema)


def flat_frame(
    prices: Sequence[float],
    oi_base: Sequence[Maybe],
    oi_usd: Sequence[Maybe] | None = None,
    rate: Sequence[Maybe] | None = None,
    volume: Sequence[Maybe] | None = None,
) -> pl.DataFrame:
    """Bars that do not move within the hour: low == high == close."""
    return make_frame(prices, prices, prices, oi_base, oi_usd, rate, volume)


def nan_list(values: Sequence[Maybe]) -> FloatArray:
    return np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)


def reserve(hm: Heatmap) -> FloatArray:
    assert hm.reserve is not None
    assert hm.reserve.shape == (len(hm.times), 2)
    return hm.reserve


def sides(hm: Heatmap) -> tuple[FloatArray, FloatArray]:
    """Per row, each side's whole book: the USD at its levels plus its hedged reserve."""
    res = reserve(hm)
    return hm.long_usd.sum(axis=1) + res[:, 0], hm.short_usd.sum(axis=1) + res[:, 1]


def below(edges: FloatArray, price: float) -> npt.NDArray[np.bool_]:
    """Buckets entirely at or below ``price``."""
    return np.asarray(edges[1:] <= price)


def above(edges: FloatArray, price: float) -> npt.NDArray[np.bool_]:
    return np.asarray(edges[:-1] >= price)


def between(edges: FloatArray, lo: float, hi: float) -> npt.NDArray[np.bool_]:
    """Buckets whose centre lies in (lo, hi)."""
    centers = np.sqrt(edges[:-1] * edges[1:])
    return np.asarray((centers > lo) & (centers < hi))


def bucket_of(edges: FloatArray, price: float) -> int:
    return int(np.searchsorted(edges, price, side="right")) - 1


def uniform_share(edges: FloatArray, lo: float, hi: float) -> FloatArray:
    """The share of a uniform spread over [lo, hi] that falls in each bucket (computed independently of _deposit)."""
    overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
    return np.asarray(overlap / (hi - lo))


def assert_in_bucket(edges: FloatArray, j: int, price: float) -> None:
    assert edges[j] * (1 - 1e-12) <= price <= edges[j + 1] * (1 + 1e-12), (edges[j], price, edges[j + 1])


def assert_rows_equal(got: Heatmap, want: Heatmap, rows: Iterable[int], prefix: bool = False) -> None:
    """``got``'s rows (its first ones with ``prefix``) are exactly ``want``'s ``rows`` (the same numbers, not
    just close ones)."""
    idx = list(rows)
    n = len(idx)
    assert (got.times[:n] if prefix else got.times) == [want.times[i] for i in idx]
    np.testing.assert_array_equal(got.long_usd[:n], want.long_usd[idx])
    np.testing.assert_array_equal(got.short_usd[:n], want.short_usd[idx])
    np.testing.assert_array_equal(reserve(got)[:n], reserve(want)[idx])
    assert got.closes is not None and want.closes is not None
    np.testing.assert_array_equal(got.closes[:n], want.closes[idx])


# --------------------------------------------------------------------------------------------------------
# synthetic markets
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    """Synthetic hourly bars of one market."""

    low: FloatArray
    high: FloatArray
    close: FloatArray
    oi_base: list[Maybe]
    oi_usd: list[Maybe]
    rate: list[Maybe]
    volume: list[Maybe] | None  # traded USD (None: no volume_usd column)
    quiet_from: int  # no new positions after this hour, when drawn with quiet=True; else n

    def frame(self, start: datetime = T0) -> pl.DataFrame:
        return make_frame(
            self.low, self.high, self.close, self.oi_base, self.oi_usd, self.rate, self.volume, start
        )

    @property
    def n(self) -> int:
        return int(self.close.size)

    def alive(self, cfg: HeatmapConfig) -> npt.NDArray[np.bool_]:
        """Per hour: whether the book holds anything — a position was opened (an OI rise between two known hours,
        or traded USD with churn) since the last hour whose OI in USD was 0 (which empties the book)."""
        oi = nan_list(self.oi_base)
        prev = np.concatenate([[math.nan], oi[:-1]])
        new = np.nan_to_num(oi - prev) > 0
        if self.volume:
            new |= cfg.churn * np.nan_to_num(nan_list(self.volume)) > 0
        zero = nan_list(self.oi_usd) == 0
        out, alive = np.zeros(self.n, dtype=bool), False
        for h in range(self.n):
            alive = (alive or bool(new[h])) and not zero[h]
            out[h] = alive
        return out


@st.composite
def markets(draw: st.DrawFn, min_hours: int = 20, max_hours: int = 120, quiet: bool = False) -> Market:
    """Positive OHLC bars (low <= open, close <= high); OI with gaps, zeros and USD-only gaps; funding; traded USD
    (sometimes no column, sometimes missing or zero hours)."""
    n = draw(st.integers(min_hours, max_hours))
    p0 = draw(st.floats(0.01, 1e5))

    def floats(lo: float, hi: float) -> list[float]:
        return draw(st.lists(st.floats(lo, hi), min_size=n, max_size=n))

    rets, up, down = np.asarray(floats(-0.06, 0.06)), np.asarray(floats(0, 0.05)), np.asarray(floats(0, 0.05))
    close = p0 * np.exp(np.cumsum(rets))
    open_ = np.concatenate([[p0], close[:-1]])
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    oi = draw(st.floats(1.0, 1e6)) * np.exp(np.cumsum(floats(-0.25, 0.3)))
    kinds = draw(st.lists(st.integers(0, 11), min_size=n, max_size=n))  # 0 no OI, 1 no OI in USD, 2 zero OI
    oi_base: list[Maybe] = [
        None if k == 0 else 0.0 if k == 2 else float(v) for k, v in zip(kinds, oi, strict=True)
    ]
    quiet_from = draw(st.integers(1, n - 2)) if quiet else n
    for i in range(quiet_from + 1, n):  # nothing new after quiet_from: OI never rises between known hours
        now, before = oi_base[i], oi_base[i - 1]
        if now is not None and before is not None:
            oi_base[i] = min(now, before)
    oi_usd: list[Maybe] = [
        None if b is None or k == 1 else b * c for b, k, c in zip(oi_base, kinds, close, strict=True)
    ]
    rate: list[Maybe] = draw(st.lists(st.none() | st.floats(-0.003, 0.003), min_size=n, max_size=n))
    volume: list[Maybe] | None = None
    if not quiet and draw(st.booleans()):
        volume = draw(st.lists(st.none() | st.just(0.0) | st.floats(1e-6, 1e9), min_size=n, max_size=n))
    return Market(low, high, close, oi_base, oi_usd, rate, volume, quiet_from)


def edges_for(*ms: Market, cfg: HeatmapConfig = CFG) -> FloatArray:
    return price_edges(min(float(m.low.min()) for m in ms), max(float(m.high.max()) for m in ms), cfg)


# --------------------------------------------------------------------------------------------------------
# 1. configuration
# --------------------------------------------------------------------------------------------------------

PACKAGED = Path(str(files("levradar") / "config" / "heatmap.toml"))


def toml_value(v: object) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_config(path: Path, drop: str | None = None, **changes: object) -> Path:
    """The packaged configuration written to ``path`` with ``section__key=value`` changes and one section
    ``drop``-ped."""
    raw = tomllib.loads(PACKAGED.read_text())
    for name, value in changes.items():
        section, key = name.split("__")
        raw[section][key] = value
    if drop:
        del raw[drop]
    text = "\n".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items())
        for section, body in raw.items()
    )
    path.write_text(text)
    return path


def test_packaged_config_is_valid() -> None:
    edges = CFG.band_edges
    assert edges[0] > 0 and edges[-1] < 1 and (np.diff(edges) > 0).all()
    assert CFG.n_bands == edges.size - 1 == CFG.weights.size
    assert CFG.weights.sum() == pytest.approx(1.0, rel=1e-12) and (CFG.weights >= 0).all()
    assert CFG.decay_hours.size == CFG.n_bands + 1 and (CFG.decay_hours > 0).all()
    assert 0 < CFG.leveraged_share < 1
    assert 0 <= CFG.damping < min(CFG.leveraged_share, 1 - CFG.leveraged_share)
    assert CFG.buckets >= 10 and CFG.churn >= 0 and CFG.funding_scale > 0 and CFG.return_scale > 0
    assert 0 < CFG.impact_typical <= CFG.impact_stress
    np.testing.assert_array_equal(CFG.near, edges[:-1])
    np.testing.assert_array_equal(CFG.far, edges[1:])
    # one representative leverage per band, higher for the nearer bands
    assert CFG.leverage.size == CFG.n_bands and (np.diff(CFG.leverage) < 0).all()
    assert CFG.provenance


def test_a_written_copy_round_trips(tmp_path: Path) -> None:
    copy = load_heatmap_config(write_config(tmp_path / "copy.toml"))
    for f in dataclasses.fields(HeatmapConfig):
        a, b = getattr(copy, f.name), getattr(CFG, f.name)
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            assert a == b, f.name
    # weights are normalised to sum to 1
    scaled = load_heatmap_config(
        write_config(tmp_path / "scaled.toml", distance__weights=[10 * w for w in CFG.weights.tolist()])
    )
    np.testing.assert_allclose(scaled.weights, CFG.weights, rtol=1e-12)


INVALID = {
    "edges-not-increasing": {"distance__band_edges": [0.003, 0.012, 0.006, 0.025, 0.05, 0.10, 0.20, 0.40]},
    "edges-from-zero": {"distance__band_edges": [0.0, 0.006, 0.012, 0.025, 0.05, 0.10, 0.20, 0.40]},
    "edges-to-one": {"distance__band_edges": [0.003, 0.006, 0.012, 0.025, 0.05, 0.10, 0.20, 1.0]},
    "one-edge": {"distance__band_edges": [0.1], "distance__weights": [], "distance__decay_hours": [10]},
    "weights-one-short": {"distance__weights": [0.05, 0.10, 0.15, 0.20, 0.20, 0.15]},
    "weight-negative": {"distance__weights": [0.05, 0.10, -0.15, 0.20, 0.20, 0.15, 0.15]},
    "weights-zero": {"distance__weights": [0, 0, 0, 0, 0, 0, 0]},
    "decay-without-reserve": {"distance__decay_hours": [3, 6, 12, 24, 48, 120, 480]},
    "decay-zero": {"distance__decay_hours": [3, 6, 12, 24, 48, 120, 480, 0]},
    "share-zero": {"split__leveraged_share": 0.0},
    "share-one": {"split__leveraged_share": 1.0},
    "damping-above-share": {"split__leveraged_share": 0.1, "split__damping": 0.1},
    "damping-above-one-minus-share": {"split__leveraged_share": 0.8, "split__damping": 0.25},
    "damping-negative": {"split__damping": -0.01},
    "buckets-9": {"grid__buckets": 9},
    "impact-zero": {"cascade__impact_typical": 0.0},
    "impact-typical-above-stress": {"cascade__impact_typical": 2.0, "cascade__impact_stress": 1.0},
    "not-a-number": {"split__leveraged_share": "high"},
}


@pytest.mark.parametrize("changes", INVALID.values(), ids=INVALID.keys())
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # weights 0 / 0
def test_invalid_values_raise_naming_the_file(tmp_path: Path, changes: dict[str, object]) -> None:
    file = write_config(tmp_path / "bad.toml", **changes)
    with pytest.raises(ConfigError) as info:
        load_heatmap_config(file)
    assert str(file) in str(info.value)


UNCHECKED = {
    # normalised before the check: -w / sum(-w) == w / sum(w), so all-negative weights pass as if positive
    "weights-all-negative": {"distance__weights": [-0.05, -0.10, -0.15, -0.20, -0.20, -0.15, -0.15]},
    # new USD = OI rise x price + churn x traded USD: a negative churn silently cancels new OI
    "churn-negative": {"churn__share_of_volume": -0.2},
    # tanh(rate / 0): every map is NaN
    "funding-scale-zero": {"split__funding_scale": 0.0},
    "return-scale-zero": {"split__return_scale": 0.0},
    # np.quantile raises ValueError in summarize, not at load time
    "quantile-above-one": {"grid__pocket_quantile": 1.5},
}


@pytest.mark.parametrize("changes", UNCHECKED.values(), ids=UNCHECKED.keys())
def test_values_that_break_the_model_are_rejected_at_load(tmp_path: Path, changes: dict[str, object]) -> None:
    """Known bug (validation gap in liqmodel._check): these load without error and break or silently bend the
    model later."""
    file = write_config(tmp_path / "bad.toml", **changes)
    with pytest.raises(ConfigError) as info:
        load_heatmap_config(file)
    assert str(file) in str(info.value)


@pytest.mark.parametrize("section", ["distance", "split", "churn", "grid", "cascade"])
def test_missing_section_raises_naming_the_file(tmp_path: Path, section: str) -> None:
    file = write_config(tmp_path / "partial.toml", drop=section)
    with pytest.raises(ConfigError) as info:
        load_heatmap_config(file)
    assert str(file) in str(info.value)


def test_unreadable_file_raises_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[distance\nband_edges = [")
    for file in (broken, tmp_path / "missing.toml"):
        with pytest.raises(ConfigError) as info:
            load_heatmap_config(file)
        assert str(file) in str(info.value)


# --------------------------------------------------------------------------------------------------------
# _deposit: uniform spread over [lo, hi]
# --------------------------------------------------------------------------------------------------------


@st.composite
def deposit_cases(draw: st.DrawFn) -> tuple[FloatArray, float, float, float]:
    gaps = draw(st.lists(st.floats(1e-3, 10.0), min_size=1, max_size=40))
    edges = draw(st.floats(0.01, 1e4)) + np.concatenate([[0.0], np.cumsum(gaps)])
    span = float(edges[-1] - edges[0])
    a = float(edges[0]) + span * draw(st.floats(0.0, 1.0, exclude_max=True))
    b = float(edges[0]) + span * draw(st.floats(0.0, 1.0, exclude_max=True))
    if draw(st.booleans()):
        b = a  # a point mass
    if draw(st.integers(0, 4)) == 0:  # exactly on an edge (the top edge included)
        a = b = float(edges[draw(st.integers(0, edges.size - 1))])
    return edges, min(a, b), max(a, b), draw(st.floats(1e-6, 1e12))


@FAST
@given(case=deposit_cases(), seed=st.integers(0, 2**32 - 1))
def test_deposit_conserves_mass_inside_the_edges(
    case: tuple[FloatArray, float, float, float], seed: int
) -> None:
    edges, lo, hi, mass = case
    before = np.random.default_rng(seed).uniform(0, mass, edges.size - 1)  # an existing book
    book = before.copy()
    _deposit(book, edges, lo, hi, mass)
    added = book - before
    assert added.sum() == pytest.approx(mass, rel=1e-9)
    assert (added >= -1e-9 * mass).all()
    if hi == lo:
        (hit,) = np.flatnonzero(added).tolist()
        assert edges[hit] <= lo <= edges[hit + 1]
    else:  # each bucket gets the share of [lo, hi] it overlaps
        np.testing.assert_allclose(added, mass * uniform_share(edges, lo, hi), rtol=1e-9, atol=1e-9 * mass)


def test_deposit_spreads_uniformly_by_hand() -> None:
    edges = np.array([0.0, 1.0, 2.0, 4.0])
    book = np.zeros(3)
    _deposit(book, edges, 0.5, 3.0, 10.0)  # 0.5 in bucket 0, 1 in bucket 1, 1 in bucket 2 out of 2.5
    np.testing.assert_allclose(book, [2.0, 4.0, 4.0])
    _deposit(book, edges, 1.5, 1.5, 1.0)
    np.testing.assert_allclose(book, [2.0, 5.0, 4.0])


@pytest.mark.parametrize("mass", [0.0, -5.0])
def test_deposit_ignores_non_positive_mass(mass: float) -> None:
    book = np.ones(3)
    _deposit(book, np.array([1.0, 2.0, 3.0, 4.0]), 1.5, 3.5, mass)
    np.testing.assert_array_equal(book, np.ones(3))


def test_deposit_point_mass_on_the_top_edge_is_kept() -> None:
    """[lo, hi] closed: an interval ending on the top edge lands in the last bucket, and so does a point there."""
    edges = np.array([1.0, 2.0, 3.0])
    ending = np.zeros(2)
    _deposit(ending, edges, 2.5, 3.0, 1.0)
    assert ending.tolist() == [0.0, 1.0]
    point = np.zeros(2)
    _deposit(point, edges, 3.0, 3.0, 1.0)
    assert point.tolist() == [0.0, 1.0]


# --------------------------------------------------------------------------------------------------------
# bucket edges
# --------------------------------------------------------------------------------------------------------


@FAST
@given(low=st.floats(1e-4, 1e6), ratio=st.floats(1.0, 3.0), buckets=st.integers(10, 800))
def test_price_edges_cover_every_liquidation_price(low: float, ratio: float, buckets: int) -> None:
    cfg = dataclasses.replace(CFG, buckets=buckets)
    high = low * ratio
    edges = price_edges(low, high, cfg)
    assert edges.size == buckets + 1
    assert (np.diff(edges) > 0).all()
    np.testing.assert_allclose(np.diff(np.log(edges)), math.log(edges[-1] / edges[0]) / buckets, rtol=1e-6)
    farthest = float(cfg.band_edges[-1])
    assert edges[0] < low * (1 - farthest) and high * (1 + farthest) < edges[-1]


# --------------------------------------------------------------------------------------------------------
# 2. one-sided OI conservation
# --------------------------------------------------------------------------------------------------------


@FAST
@given(m=markets())
def test_each_side_carries_exactly_the_oi_in_usd(m: Market) -> None:
    """Every hour with OI known: longs (levels + reserve) = shorts (levels + reserve) = OI in USD while the book
    holds anything; nothing before the first position or after OI fell to 0 until new positions open."""
    hm = simulate_market(m.frame(), edges_for(m), CFG)
    longs, shorts = sides(hm)
    oi = nan_list(m.oi_usd)
    known, alive = ~np.isnan(oi), m.alive(CFG)
    np.testing.assert_allclose(longs[known & alive], oi[known & alive], rtol=1e-9, atol=0.0)
    np.testing.assert_allclose(shorts[known & alive], oi[known & alive], rtol=1e-9, atol=0.0)
    assert (longs[~alive] == 0).all() and (shorts[~alive] == 0).all()
    assert (hm.long_usd >= 0).all() and (hm.short_usd >= 0).all() and (reserve(hm) >= 0).all()
    # the band books at the last hour add up to the last row
    scale = 1e-9 * max(float(longs[-1]), 1.0)
    np.testing.assert_allclose(hm.long_tiers.sum(axis=0), hm.long_usd[-1], rtol=1e-9, atol=scale)
    np.testing.assert_allclose(hm.short_tiers.sum(axis=0), hm.short_usd[-1], rtol=1e-9, atol=scale)
    assert hm.long_tiers.shape == hm.short_tiers.shape == (CFG.n_bands, CFG.buckets)
    assert hm.times == m.frame()["t"].to_list()
    assert hm.price == m.close[-1]
    assert hm.oi_usd == m.oi_usd[-1]


def test_an_hour_without_a_bar_keeps_the_book_rescaled_to_its_oi() -> None:
    """A missing bar (null low/high) moves nothing, but its row still carries that hour's OI on each side.

    Known bug: _simulate skips the whole hour, the rescaling included, so the row keeps the previous hour's OI
    (300 USD a side here, not 500)."""
    oi: list[Maybe] = [1.0, 2.0, 3.0, 3.0, 5.0, 5.0]
    prices = [100.0] * len(oi)
    gap: list[Maybe] = [*prices[:4], None, prices[5]]
    hm = simulate_market(make_frame(gap, gap, prices, oi), price_edges(100.0, 100.0, STILL), STILL)
    longs, shorts = sides(hm)
    np.testing.assert_allclose(longs[3], 300.0, rtol=1e-12)  # before the gap
    np.testing.assert_allclose(hm.long_usd[4] / longs[4], hm.long_usd[3] / longs[3], rtol=1e-12)  # same shape
    np.testing.assert_allclose([longs[4], shorts[4]], [500.0, 500.0], rtol=1e-12)


# --------------------------------------------------------------------------------------------------------
# 3. recording
# --------------------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    m=markets(), picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=8), cut=st.integers(0, 10_000)
)
def test_recorded_hours_are_the_full_rows_and_see_nothing_later(
    m: Market, picks: list[int], cut: int
) -> None:
    edges = edges_for(m)
    frame = m.frame()
    full = simulate_market(frame, edges, CFG)
    hours = sorted({p % m.n for p in picks})
    marked = simulate_market(frame, edges, CFG, at=[full.times[h] for h in hours])
    assert len(marked.times) == len(hours)
    assert_rows_equal(marked, full, hours)
    # a row is as of its hour: the frame truncated after it gives the same rows
    h = cut % m.n
    early = simulate_market(frame.head(h + 1), edges, CFG)
    assert_rows_equal(early, full, range(h + 1))
    last = simulate_market(frame, edges, CFG, record=False)
    assert_rows_equal(last, full, [m.n - 1])
    np.testing.assert_array_equal(last.long_tiers, full.long_tiers)
    np.testing.assert_array_equal(last.short_tiers, full.short_tiers)


@settings(max_examples=30, deadline=None)
@given(m=markets(), cuts=st.lists(st.integers(1, 10_000), max_size=4))
def test_a_book_advanced_in_pieces_equals_one_run(m: Market, cuts: list[int]) -> None:
    """MarketBook folds in only the hours after its last one: fed the history known at each cut, it gives the
    rows of one run over all hours."""
    edges = edges_for(m)
    frame = m.frame()
    full = simulate_market(frame, edges, CFG)
    book = MarketBook(edges, CFG)
    for a, b in itertools.pairwise([0, *sorted({c % m.n for c in cuts} - {0}), m.n]):
        piece = book.advance(frame.head(b))
        assert_rows_equal(piece, full, range(a, b))
    np.testing.assert_array_equal(piece.long_tiers, full.long_tiers)
    np.testing.assert_array_equal(piece.short_tiers, full.short_tiers)
    with pytest.raises(ValueError):
        book.advance(frame)  # nothing after the last hour


@settings(max_examples=20, deadline=None)
@given(m=markets(20, 60), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_the_result(m: Market, seed: int) -> None:
    edges = edges_for(m)
    hm = simulate_market(m.frame(), edges, CFG)
    shuffled = simulate_market(m.frame().sample(fraction=1.0, shuffle=True, seed=seed), edges, CFG)
    assert_rows_equal(shuffled, hm, range(m.n))


# --------------------------------------------------------------------------------------------------------
# 4. sides and path-aware consumption
# --------------------------------------------------------------------------------------------------------


@FAST
@given(m=markets(), buckets=st.integers(10, 800))
def test_longs_sit_below_and_shorts_above_the_close_every_hour(m: Market, buckets: int) -> None:
    cfg = dataclasses.replace(CFG, buckets=buckets)
    edges = edges_for(m, cfg=cfg)
    hm = simulate_market(m.frame(), edges, cfg)
    for h in range(m.n):
        c = m.close[h]
        assert (hm.long_usd[h][~below(edges, c)] == 0).all(), h
        assert (hm.short_usd[h][~above(edges, c)] == 0).all(), h
    c = m.close[-1]
    assert (hm.long_tiers[:, ~below(edges, c)] == 0).all()
    assert (hm.short_tiers[:, ~above(edges, c)] == 0).all()


@FAST
@given(m=markets(quiet=True))
def test_a_level_once_crossed_stays_empty(m: Market) -> None:
    """No new positions after ``quiet_from`` (no OI rise, no traded USD): every bucket a later bar's range reached
    stays empty, whatever price does afterwards."""
    edges = edges_for(m)
    hm = simulate_market(m.frame(), edges, STILL)
    h0 = m.quiet_from
    lowest = np.minimum.accumulate(m.low[h0 + 1 :])
    highest = np.maximum.accumulate(m.high[h0 + 1 :])
    for i, h in enumerate(range(h0 + 1, m.n)):
        assert (hm.long_usd[h][edges[1:] > lowest[i]] == 0).all(), h
        assert (hm.short_usd[h][edges[:-1] < highest[i]] == 0).all(), h


WICK_HOUR, REOPEN_HOUR = 6, 12


def wick_frames(wick_low: float, wick_high: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Positions opened at 100 over hours 1..4; hour 6 wicks to (wick_low, wick_high) (or stays flat in the
    control); price back at 100 afterwards; OI flat from hour 4 until it rises again at hour 12."""
    oi: list[Maybe] = [10.0, 20.0, 30.0, 40.0, 50.0, *([50.0] * 7), 60.0, 60.0]
    prices = [100.0] * len(oi)
    low, high = list(prices), list(prices)
    low[WICK_HOUR], high[WICK_HOUR] = wick_low, wick_high
    return make_frame(low, high, prices, oi), flat_frame(prices, oi)


def test_wick_down_empties_long_levels_even_after_recovery() -> None:
    wick, control = wick_frames(90.0, 100.0)
    edges = price_edges(90.0, 100.0, CFG)
    hm, ref = simulate_market(wick, edges, STILL), simulate_market(control, edges, STILL)
    reached = edges[1:] > 90.0
    assert (ref.long_usd[WICK_HOUR:, reached].sum(axis=1) > 0).all()  # without the wick the levels are there
    assert hm.long_usd[WICK_HOUR - 1, reached].sum() > 0  # ... and were there just before it
    assert (hm.long_usd[WICK_HOUR:REOPEN_HOUR, reached] == 0).all()  # consumed, still empty with price back
    assert hm.long_usd[REOPEN_HOUR, reached].sum() > 0  # until a new cohort lands there
    # before the new cohort: the bands whose levels all lay at or above 90 are gone, the farther ones kept theirs
    tiers = simulate_market(wick.head(REOPEN_HOUR), edges, STILL, record=False).long_tiers
    gone = CFG.far <= 0.10
    assert gone.any() and not gone.all()
    assert (tiers[gone] == 0).all() and (tiers[~gone].sum(axis=1) > 0).all()
    longs, shorts = sides(hm)
    np.testing.assert_allclose([longs[-1], shorts[-1]], [6000.0, 6000.0], rtol=1e-9)


def test_wick_up_empties_short_levels_and_leaves_the_longs_alone() -> None:
    wick, control = wick_frames(100.0, 110.0)
    edges = price_edges(100.0, 110.0, CFG)
    hm, ref = simulate_market(wick, edges, STILL), simulate_market(control, edges, STILL)
    reached = edges[:-1] < 110.0
    assert (ref.short_usd[WICK_HOUR:, reached].sum(axis=1) > 0).all()
    assert hm.short_usd[WICK_HOUR - 1, reached].sum() > 0
    assert (hm.short_usd[WICK_HOUR:REOPEN_HOUR, reached] == 0).all()
    assert hm.short_usd[REOPEN_HOUR, reached].sum() > 0
    tiers = simulate_market(wick.head(REOPEN_HOUR), edges, STILL, record=False).short_tiers
    gone = CFG.far <= 0.10
    assert (tiers[gone] == 0).all() and (tiers[~gone].sum(axis=1) > 0).all()
    # the long side was not touched: it is the control's, to the last digit
    np.testing.assert_allclose(hm.long_usd, ref.long_usd, rtol=1e-12, atol=0)
    np.testing.assert_allclose(reserve(hm)[:, 0], reserve(ref)[:, 0], rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------------------
# 5. OI decrease, attributed to the crossed levels first
# --------------------------------------------------------------------------------------------------------

DROP_PRICE = 89.5  # crosses the upper half of the NARROW longs opened at 100 ([89, 90])
CHURN_USD = 30.0  # opened at the drop by churn (CHURN_USD / NARROW.churn traded USD)


def drop_frame(oi_after: float, churn_usd: float) -> pl.DataFrame:
    """NARROW positions opened at 100 (hours 1-2, 100 USD of OI each); hour 3 gaps down to DROP_PRICE (a flat
    bar: its new longs land at [79.7, 80.6], far below the survivors), OI in coin flat, OI in USD ``oi_after``."""
    prices = [100.0, 100.0, 100.0, DROP_PRICE]
    return flat_frame(
        prices,
        [0.0, 1.0, 2.0, 2.0],
        oi_usd=[0.0, 100.0, 200.0, oi_after],
        volume=[0.0, 0.0, 0.0, churn_usd / NARROW.churn],
    )


@pytest.mark.parametrize("churn_usd", [0.0, CHURN_USD], ids=["no-new", "with-churn"])
@pytest.mark.parametrize("extra", [0.0, 0.3, -0.2], ids=["fall-is-crossed", "fall-beyond", "fall-short"])
def test_oi_fall_is_explained_by_the_crossed_levels_first(extra: float, churn_usd: float) -> None:
    """X = USD at the crossed long levels; OI falls by X + extra × (the rest of the long side). Longs: only the
    part of the fall beyond X closes the rest of the side (levels and reserve) proportionally; shorts (nothing
    crossed): the whole fall closes them proportionally. Then the new cohort (D a side) joins and each side is
    rescaled to the OI."""
    edges = price_edges(DROP_PRICE, 100.0, NARROW)
    before = simulate_market(drop_frame(0.0, 0.0).head(3), edges, NARROW)
    oi0 = 200.0
    crossed = edges[1:] > DROP_PRICE
    x = float(before.long_usd[-1][crossed].sum())
    levels = oi0 * NARROW.leveraged_share
    assert 0.2 * levels < x < 0.8 * levels  # about half of them
    rest = oi0 - x
    oi1 = oi0 - x - extra * rest
    hm = simulate_market(drop_frame(oi1, churn_usd), edges, NARROW)
    assert_rows_equal(hm, before, range(3), prefix=True)

    share = float(leveraged_long_share(np.array([0.0]), np.array([math.log(DROP_PRICE / 100.0)]), NARROW)[0])
    share_short = 2 * NARROW.leveraged_share - share
    fall = oi0 - oi1
    keep_long = 1.0 - max(fall - x, 0.0) / rest  # only the fall beyond X closes the rest of the long side
    keep_short = 1.0 - max(fall, 0.0) / oi0  # no short level crossed: the whole fall
    f_long = oi1 / (rest * keep_long + churn_usd)  # then D joins each side and each is scaled to the OI
    f_short = oi1 / (oi0 * keep_short + churn_usd)
    old_long = between(edges, 85.0, 95.0) & ~crossed  # the surviving levels opened at 100
    old_short = between(edges, 105.0, 120.0)
    new_long, new_short = between(edges, 0.0, 85.0), between(edges, 0.0, 105.0)  # [79.7, 80.6], [98.5, 99.4]
    np.testing.assert_allclose(
        hm.long_usd[3][old_long], before.long_usd[2][old_long] * keep_long * f_long, rtol=1e-9
    )
    np.testing.assert_allclose(
        hm.short_usd[3][old_short], before.short_usd[2][old_short] * keep_short * f_short, rtol=1e-9
    )
    res0, res1 = reserve(before)[2], reserve(hm)[3]
    np.testing.assert_allclose(res1[0], (res0[0] * keep_long + churn_usd * (1 - share)) * f_long, rtol=1e-9)
    np.testing.assert_allclose(
        res1[1], (res0[1] * keep_short + churn_usd * (1 - share_short)) * f_short, rtol=1e-9
    )
    np.testing.assert_allclose(
        hm.long_usd[3][new_long].sum(), churn_usd * share * f_long, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        hm.short_usd[3][new_short].sum(), churn_usd * share_short * f_short, rtol=1e-9, atol=1e-12
    )
    assert (hm.long_usd[3][~(old_long | new_long | crossed)] == 0).all()
    assert (hm.short_usd[3][~(old_short | new_short)] == 0).all()
    assert (hm.long_usd[3][crossed] == 0).all()
    np.testing.assert_allclose(sides(hm)[0][3], oi1, rtol=1e-12)
    np.testing.assert_allclose(sides(hm)[1][3], oi1, rtol=1e-12)
    if extra == 0.0 and churn_usd == 0.0:  # the spec's plain case: the uncrossed levels keep their USD
        np.testing.assert_allclose(hm.long_usd[3][old_long], before.long_usd[2][old_long], rtol=1e-9)


@pytest.mark.parametrize("cfg", [STILL, CFG], ids=["no-decay", "packaged"])
def test_oi_falling_to_zero_empties_the_book_until_new_oi(cfg: HeatmapConfig) -> None:
    """(Raised ZeroDivisionError in _simulate before liqmodel._close reset the factors of an emptied side.)"""
    oi: list[Maybe] = [1.0, 2.0, 0.0, 0.0, 1.0, 1.0]
    hm = simulate_market(flat_frame([10.0] * len(oi), oi), price_edges(10.0, 10.0, cfg), cfg)
    for side in sides(hm):
        np.testing.assert_allclose(side, [0.0, 20.0, 0.0, 0.0, 10.0, 10.0], rtol=1e-12)


def test_a_near_total_oi_fall_leaves_the_remaining_oi_in_the_book() -> None:
    """OI falls 99.75 % in an hour (40 USD to 0.1 USD) with the packaged ageing.

    Known bug: liqmodel._close compares the fall (measured from the last hour's OI) with the book *after* this
    hour's ageing: keep = 1 - drop / held = (OI - aged) / held, so when the remaining OI (0.1 USD) is below the
    USD aged away this hour, keep <= 1e-12 and the side is emptied although OI is 0.1 USD: each side shows 0 at
    hours 4 and 5, and the book's whole history is lost."""
    oi: list[Maybe] = [1.0, 2.0, 3.0, 4.0, 0.01, 0.01, 2.0]
    hm = simulate_market(flat_frame([10.0] * len(oi), oi), price_edges(10.0, 10.0, CFG), CFG)
    for side in sides(hm):
        np.testing.assert_allclose(side, [0.0, 20.0, 30.0, 40.0, 0.1, 0.1, 20.0], rtol=1e-9)


# --------------------------------------------------------------------------------------------------------
# 6. new positions
# --------------------------------------------------------------------------------------------------------


def test_new_oi_opens_as_much_usd_of_longs_as_of_shorts_before_rescaling() -> None:
    """NARROW book opened at 100 (100 USD a side); hour 2 at 104: +0.5 coin = D = 52 USD of longs and 52 of shorts
    (their levels apart from the old ones), then each side 152 USD is scaled to the OI of 300 USD."""
    frame = flat_frame(
        [100.0, 100.0, 104.0], [0.0, 1.0, 1.5], oi_usd=[0.0, 100.0, 300.0], rate=[0.0, 0.0, 2e-4]
    )
    edges = price_edges(100.0, 104.0, NARROW)
    hm = simulate_market(frame, edges, NARROW)
    d, f = 52.0, 300.0 / 152.0
    share = float(leveraged_long_share(np.array([2e-4]), np.array([math.log(1.04)]), NARROW)[0])
    assert share > NARROW.leveraged_share  # funding and the rise: longs are the crowded side
    old_long, new_long = between(edges, 85.0, 91.3), between(edges, 91.3, 100.0)  # [89, 90], [92.6, 93.6]
    old_short, new_short = (
        between(edges, 105.0, 112.7),
        between(edges, 112.7, 120.0),
    )  # [110, 111], [114.4, 115.4]
    np.testing.assert_allclose(hm.long_usd[2][old_long], hm.long_usd[1][old_long] * f, rtol=1e-12)
    np.testing.assert_allclose(hm.short_usd[2][old_short], hm.short_usd[1][old_short] * f, rtol=1e-12)
    np.testing.assert_allclose(hm.long_usd[2][new_long].sum(), d * share * f, rtol=1e-12)
    np.testing.assert_allclose(
        hm.short_usd[2][new_short].sum(), d * (2 * NARROW.leveraged_share - share) * f, rtol=1e-12
    )
    np.testing.assert_allclose(hm.long_usd[2][~(old_long | new_long)], 0.0)
    np.testing.assert_allclose(hm.short_usd[2][~(old_short | new_short)], 0.0)
    res = reserve(hm)
    np.testing.assert_allclose(res[2, 0], (res[1, 0] + d * (1 - share)) * f, rtol=1e-12)
    np.testing.assert_allclose(
        res[2, 1], (res[1, 1] + d * (1 - 2 * NARROW.leveraged_share + share)) * f, rtol=1e-12
    )


def test_a_cohort_splits_by_band_weight_and_the_rest_goes_to_the_reserve() -> None:
    """A flat bar at 100 opens 1 coin; no tilt: each side puts leveraged_share in the bands by weight, the rest in
    the reserve (no level is beyond the close), scaled to the OI of 400 USD."""
    frame = flat_frame([100.0, 100.0], [0.0, 1.0], oi_usd=[0.0, 400.0])
    hm = simulate_market(frame, price_edges(100.0, 100.0, CFG), CFG)
    f, s = 400.0 / 100.0, CFG.leveraged_share
    for tiers in (hm.long_tiers, hm.short_tiers):
        np.testing.assert_allclose(tiers.sum(axis=1), 100.0 * s * CFG.weights * f, rtol=1e-12)
    np.testing.assert_allclose(reserve(hm)[1], [100.0 * (1 - s) * f] * 2, rtol=1e-12)


def expected_cohort(
    edges: FloatArray, low: float, high: float, close: float, usd: float, oi: float, cfg: HeatmapConfig
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """By hand: the band books and the reserve of one cohort of ``usd`` a side opened over [low, high] without
    tilt, levels at or beyond the close removed, each side scaled to ``oi``."""
    jc = bucket_of(edges, close)
    s = cfg.leveraged_share
    longs = np.array(
        [
            usd * s * w * uniform_share(edges, low * (1 - b), high * (1 - a))
            for a, b, w in zip(cfg.near, cfg.far, cfg.weights, strict=True)
        ]
    )
    shorts = np.array(
        [
            usd * s * w * uniform_share(edges, low * (1 + a), high * (1 + b))
            for a, b, w in zip(cfg.near, cfg.far, cfg.weights, strict=True)
        ]
    )
    longs[:, jc:] = 0.0
    shorts[:, : jc + 1] = 0.0
    kept = usd * (1 - s)
    f_long, f_short = oi / (longs.sum() + kept), oi / (shorts.sum() + kept)
    return longs * f_long, shorts * f_short, np.array([kept * f_long, kept * f_short])


@pytest.mark.parametrize("close", [100.0, 91.0, 109.0])
def test_a_cohort_lands_over_the_bar_range_by_band(close: float) -> None:
    """One bar [90, 110]: band [a, b) puts its longs uniformly over [90 (1 - b), 110 (1 - a)] and its shorts over
    [90 (1 + a), 110 (1 + b)]; levels at or beyond the close are removed at once (the rest of the side scaled up)."""
    low, high = 90.0, 110.0
    usd = (low + high + close) / 3  # 1 coin at the typical price
    frame = make_frame([close, low], [close, high], [close, close], [0.0, 1.0], oi_usd=[0.0, 500.0])
    edges = price_edges(low, high, CFG)
    hm = simulate_market(frame, edges, CFG)
    longs, shorts, res = expected_cohort(edges, low, high, close, usd, 500.0, CFG)
    np.testing.assert_allclose(hm.long_tiers, longs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hm.short_tiers, shorts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(reserve(hm)[1], res, rtol=1e-9)
    # the near bands straddle the close: part of them was removed within the bar
    jc = bucket_of(edges, close)
    near_long = uniform_share(edges, low * (1 - CFG.far[0]), high * (1 - CFG.near[0]))[jc:].sum()
    near_short = uniform_share(edges, low * (1 + CFG.near[0]), high * (1 + CFG.far[0]))[: jc + 1].sum()
    assert max(near_long, near_short) > 0.3
    assert (hm.long_usd[1][~below(edges, close)] == 0).all() and (
        hm.short_usd[1][~above(edges, close)] == 0
    ).all()


def test_one_band_by_hand() -> None:
    """Band [0.1, 0.2), bar [90, 110] closing at 100: longs from 72 to 99, shorts from 99 to 132 minus those at or
    below the close."""
    cfg = one_band(0.1, 0.2)
    frame = make_frame([100.0, 90.0], [100.0, 110.0], [100.0, 100.0], [0.0, 1.0], oi_usd=[0.0, 100.0])
    edges = price_edges(90.0, 110.0, cfg)
    hm = simulate_market(frame, edges, cfg)
    longs, shorts = np.flatnonzero(hm.long_usd[1]), np.flatnonzero(hm.short_usd[1])
    assert (np.diff(longs) == 1).all() and (np.diff(shorts) == 1).all()
    assert_in_bucket(edges, int(longs[0]), 72.0)
    assert_in_bucket(edges, int(longs[-1]), 99.0)
    assert int(shorts[0]) == bucket_of(edges, 100.0) + 1  # from 99, cut at the close
    assert_in_bucket(edges, int(shorts[-1]), 132.0)
    inner = longs[1:-1]  # uniform in price: the same USD per unit of price
    density = hm.long_usd[1][inner] / np.diff(edges)[inner]
    np.testing.assert_allclose(density, density[0], rtol=1e-9)
    # no tilt: 100 USD opened a side, 60 leveraged; shorts lost [99, 100] of [99, 132] and were scaled back to 100
    np.testing.assert_allclose(hm.long_usd[1].sum(), 60.0, rtol=1e-12)
    cut = edges[bucket_of(edges, 100.0) + 1]
    kept_short = 60.0 * (132.0 - cut) / 33.0
    np.testing.assert_allclose(hm.short_usd[1].sum(), 100.0 * kept_short / (kept_short + 40.0), rtol=1e-9)


# --------------------------------------------------------------------------------------------------------
# 7. the leveraged split between the sides
# --------------------------------------------------------------------------------------------------------


@st.composite
def split_configs(draw: st.DrawFn, min_damping: float = 0.0) -> HeatmapConfig:
    """Any valid leveraged share and damping (``min_damping`` .. 0.999 of the largest allowed)."""
    share = draw(st.floats(0.05, 0.95))
    damping = draw(st.floats(min_damping, 0.999)) * min(share, 1 - share)
    return dataclasses.replace(STILL, leveraged_share=share, damping=damping)


@FAST
@given(cfg=split_configs(), rate=st.floats(-0.05, 0.05), ret=st.floats(-0.3, 0.3))
def test_leveraged_long_share_stays_within_damping(cfg: HeatmapConfig, rate: float, ret: float) -> None:
    (got,) = leveraged_long_share(np.array([rate]), np.array([ret]), cfg)
    assert abs(got - cfg.leveraged_share) <= cfg.damping + 1e-12
    assert 0 < got < 1 and 0 < 2 * cfg.leveraged_share - got < 1
    tilt = 0.5 * (math.tanh(rate / cfg.funding_scale) + math.tanh(ret / cfg.return_scale))
    assert got == pytest.approx(cfg.leveraged_share + cfg.damping * tilt, abs=1e-12)


def cohort_split(rate: float, ret: float, cfg: HeatmapConfig) -> tuple[float, float]:
    """The leveraged share of each side of the cohort opened in a flat bar after a log move ``ret``."""
    p0 = 100.0
    p1 = p0 * math.exp(ret)
    frame = flat_frame([p0, p1], [1.0, 2.0], rate=[rate, rate])
    hm = simulate_market(frame, price_edges(min(p0, p1), max(p0, p1), cfg), cfg)
    longs, shorts = sides(hm)
    assert longs[1] == pytest.approx(2 * p1, rel=1e-12) and shorts[1] == pytest.approx(2 * p1, rel=1e-12)
    return float(hm.long_usd[1].sum() / longs[1]), float(hm.short_usd[1].sum() / shorts[1])


@FAST
@given(cfg=split_configs(), rate=st.floats(-0.05, 0.05), ret=st.floats(-0.3, 0.3))
def test_the_model_uses_the_split(cfg: HeatmapConfig, rate: float, ret: float) -> None:
    long_share, short_share = cohort_split(rate, ret, cfg)
    (want,) = leveraged_long_share(np.array([rate]), np.array([ret]), cfg)
    assert long_share == pytest.approx(want, rel=1e-9)
    assert short_share == pytest.approx(2 * cfg.leveraged_share - want, rel=1e-9)


@FAST
@given(rate=st.floats(1e-6, 0.05), ret=st.floats(1e-3, 0.3), cfg=split_configs(min_damping=0.01))
def test_positive_funding_and_a_rise_make_longs_more_leveraged(
    rate: float, ret: float, cfg: HeatmapConfig
) -> None:
    long_share, short_share = cohort_split(rate, ret, cfg)
    assert long_share > cfg.leveraged_share > short_share
    long_share, short_share = cohort_split(-rate, -ret, cfg)
    assert short_share > cfg.leveraged_share > long_share


def test_no_evidence_gives_equal_shares() -> None:
    long_share, short_share = cohort_split(0.0, 0.0, STILL)
    assert long_share == pytest.approx(STILL.leveraged_share, rel=1e-12)
    assert short_share == pytest.approx(STILL.leveraged_share, rel=1e-12)


# --------------------------------------------------------------------------------------------------------
# 8. churn: positions opened from traded USD while OI stands still
# --------------------------------------------------------------------------------------------------------


def churn_frame(volume: float) -> pl.DataFrame:
    """NARROW book opened at 100 (hours 1-2), price steps to 104 at hour 3 (nothing crossed), OI flat at 200 USD;
    ``volume`` USD traded at hour 4 only."""
    return flat_frame(
        [100.0, 100.0, 100.0, 104.0, 104.0, 104.0],
        [0.0, 1.0, 2.0, 2.0, 2.0, 2.0],
        oi_usd=[0.0, 100.0, 200.0, 200.0, 200.0, 200.0],
        volume=[0.0, 0.0, 0.0, 0.0, volume, 0.0],
    )


def test_churn_opens_levels_around_the_price_while_each_side_stays_at_oi() -> None:
    edges = price_edges(100.0, 104.0, NARROW)
    vol = 500.0
    hm = simulate_market(churn_frame(vol), edges, NARROW)
    d = NARROW.churn * vol
    f = 200.0 / (200.0 + d)
    new_long = between(edges, 91.3, 100.0)  # 104 x [0.89, 0.90]; the old ones at [89, 90]
    new_short = between(edges, 112.7, 120.0)  # 104 x [1.10, 1.11]; the old ones at [110, 111]
    assert hm.long_usd[3][new_long].sum() == 0 and hm.short_usd[3][new_short].sum() == 0
    s = NARROW.leveraged_share  # no tilt at hour 4: no funding, no move
    np.testing.assert_allclose(hm.long_usd[4][new_long].sum(), d * s * f, rtol=1e-12)
    np.testing.assert_allclose(hm.short_usd[4][new_short].sum(), d * s * f, rtol=1e-12)
    # the older book closed as much (the rescaling)
    old_long, old_short = ~new_long, ~new_short
    np.testing.assert_allclose(hm.long_usd[4][old_long], hm.long_usd[3][old_long] * f, rtol=1e-12)
    np.testing.assert_allclose(hm.short_usd[4][old_short], hm.short_usd[3][old_short] * f, rtol=1e-12)
    np.testing.assert_allclose(reserve(hm)[4], (reserve(hm)[3] + d * (1 - s)) * f, rtol=1e-12)
    for side in sides(hm):
        np.testing.assert_allclose(side[1:], [100.0, 200.0, 200.0, 200.0, 200.0], rtol=1e-12)
    # without traded USD the hours with flat OI leave the book as it is (no ageing here)
    quiet = simulate_market(churn_frame(0.0), edges, NARROW)
    assert_rows_equal(quiet, hm, range(4), prefix=True)
    np.testing.assert_allclose(quiet.long_usd[4:], quiet.long_usd[[3, 3]], rtol=1e-12)
    np.testing.assert_allclose(quiet.short_usd[4:], quiet.short_usd[[3, 3]], rtol=1e-12)
    np.testing.assert_allclose(reserve(quiet)[4:], reserve(quiet)[[3, 3]], rtol=1e-12)


@FAST
@given(m=markets())
def test_churn_share_of_zero_ignores_traded_usd(m: Market) -> None:
    """With churn = 0 the book is the one without a volume column: traded USD alone opens nothing."""
    if m.volume is None:
        m = dataclasses.replace(m, volume=[1e6] * m.n)
    edges = edges_for(m)
    off = dataclasses.replace(CFG, churn=0.0)
    with_volume = simulate_market(m.frame(), edges, off)
    without = simulate_market(m.frame().drop("volume_usd"), edges, off)
    assert_rows_equal(with_volume, without, range(m.n))


# --------------------------------------------------------------------------------------------------------
# 9. ageing
# --------------------------------------------------------------------------------------------------------


@FAST
@given(
    taus=st.lists(st.floats(1.0, 5000.0), min_size=CFG.n_bands + 1, max_size=CFG.n_bands + 1),
    start=st.integers(1, 10),
    hours=st.integers(1, 30),
    oi=st.lists(st.floats(0.5, 2.0), min_size=45, max_size=45),
)
def test_each_band_ages_by_its_own_factor_relative_to_the_reserve(
    taus: list[float], start: int, hours: int, oi: list[float]
) -> None:
    """One cohort at a flat price; then OI in coin flat, traded USD but churn = 0 (no new positions), OI in USD
    wandering without a cross (closing and rescaling apply to the whole side alike): per band, the book relative to
    the reserve shrinks by exp(-1/tau_k) / exp(-1/tau_reserve) per hour, and keeps its shape."""
    cfg = dataclasses.replace(CFG, decay_hours=np.asarray(taus), churn=0.0)
    n = start + hours + 1
    oi_usd = [0.0, *(100.0 * x for x in oi[1:n])]
    frame = flat_frame([100.0] * n, [0.0, *([1.0] * (n - 1))], oi_usd=oi_usd, volume=[1e6] * n)
    edges = price_edges(100.0, 100.0, cfg)
    early = simulate_market(frame.head(start + 1), edges, cfg, record=False)
    late = simulate_market(frame, edges, cfg, record=False)
    decay = np.exp(-1.0 / np.asarray(taus))
    relative = (decay[:-1] / decay[-1]) ** hours
    res_ratio = reserve(late)[0, 0] / reserve(early)[0, 0]
    for k in range(cfg.n_bands):
        filled = early.long_tiers[k] > 0
        assert filled.any()
        np.testing.assert_allclose(
            late.long_tiers[k][filled] / early.long_tiers[k][filled], relative[k] * res_ratio, rtol=1e-9
        )
        assert (late.long_tiers[k][~filled] == 0).all()
    short_ratio = reserve(late)[0, 1] / reserve(early)[0, 1]
    np.testing.assert_allclose(
        late.short_tiers.sum(axis=1) / early.short_tiers.sum(axis=1), relative * short_ratio, rtol=1e-9
    )


def test_ageing_by_hand() -> None:
    """Packaged ageing, 24 hours after one cohort: the nearest band (tau 3 h) relative to the far one (480 h)."""
    n = 26
    frame = flat_frame([100.0] * n, [0.0, *([1.0] * (n - 1))])
    edges = price_edges(100.0, 100.0, CFG)
    hm = simulate_market(frame, edges, CFG, record=False)
    taus = CFG.decay_hours
    ratio = hm.long_tiers[0].sum() / hm.long_tiers[-1].sum()
    start = CFG.weights[0] / CFG.weights[-1]
    assert ratio == pytest.approx(start * math.exp(-24 / taus[0] + 24 / taus[-2]), rel=1e-9)
    assert ratio < 1e-3 * start  # the 3-hour band is all but gone after a day


# --------------------------------------------------------------------------------------------------------
# combine
# --------------------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(ms=st.lists(markets(20, 60), min_size=2, max_size=3), offsets=st.lists(st.integers(0, 30), min_size=3))
def test_combine_sums_venues_hour_by_hour(ms: list[Market], offsets: list[int]) -> None:
    edges = edges_for(*ms)
    starts = [T0 + timedelta(hours=o) for o in offsets[: len(ms)]]
    maps = [simulate_market(m.frame(s), edges, CFG) for m, s in zip(ms, starts, strict=True)]
    both = combine(maps)
    assert both.times == sorted({t for hm in maps for t in hm.times})
    expect_long = np.zeros_like(both.long_usd)
    expect_short = np.zeros_like(both.short_usd)
    expect_reserve = np.zeros((len(both.times), 2))
    for hm in maps:
        rows = [both.times.index(t) for t in hm.times]
        expect_long[rows] += hm.long_usd
        expect_short[rows] += hm.short_usd
        expect_reserve[rows] += reserve(hm)
    np.testing.assert_allclose(both.long_usd, expect_long, rtol=1e-12)
    np.testing.assert_allclose(both.short_usd, expect_short, rtol=1e-12)
    np.testing.assert_allclose(reserve(both), expect_reserve, rtol=1e-12)
    last = [hm for hm in maps if hm.times[-1] == both.times[-1]]
    assert both.price == last[0].price
    ois = [hm.oi_usd for hm in last if hm.oi_usd is not None]
    assert both.oi_usd == (pytest.approx(sum(ois), rel=1e-12) if ois else None)
    # the venues' one-sided books add up, side by side
    longs, shorts = sides(both)
    np.testing.assert_allclose(longs[-1], sum(float(sides(hm)[0][-1]) for hm in last), rtol=1e-9)
    np.testing.assert_allclose(shorts[-1], sum(float(sides(hm)[1][-1]) for hm in last), rtol=1e-9)
    scale = 1e-9 * max(float(longs[-1]), 1.0)
    np.testing.assert_allclose(both.long_tiers.sum(axis=0), both.long_usd[-1], rtol=1e-9, atol=scale)


# --------------------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------------------


@FAST
@given(m=markets())
def test_summary_pockets_sit_on_their_side(m: Market) -> None:
    hm = simulate_market(m.frame(), edges_for(m), CFG)
    s = summarize(hm, CFG)
    price = hm.price
    under, over = s["nearest_below"], s["nearest_above"]
    if under is not None:
        assert isinstance(under, dict)
        assert under["price"] < price and under["distance_pct"] < 0 and under["usd"] > 0
        assert set(under["leverage_mix"]) == {f"~{lev:.0f}x" for lev in CFG.leverage}
        assert sum(under["leverage_mix"].values()) == pytest.approx(1.0, abs=1e-3)
    else:
        assert hm.long_usd[-1][hm.centers < price].sum() == 0
    if over is not None:
        assert isinstance(over, dict)
        assert over["price"] > price and over["distance_pct"] > 0 and over["usd"] > 0
        assert sum(over["leverage_mix"].values()) == pytest.approx(1.0, abs=1e-3)
    else:
        assert hm.short_usd[-1][hm.centers > price].sum() == 0
    cumulative = s["cumulative"]
    assert isinstance(cumulative, dict)
    downs = [v["below_long_usd"] for v in cumulative.values()]
    ups = [v["above_short_usd"] for v in cumulative.values()]
    assert downs == sorted(downs) and ups == sorted(ups)
    assert s["total_long_usd"] == pytest.approx(float(hm.long_usd[-1].sum()), rel=1e-12)
    assert s["total_short_usd"] == pytest.approx(float(hm.short_usd[-1].sum()), rel=1e-12)
    buckets = s["buckets"]
    assert isinstance(buckets, list)
    assert all(abs(b["price"] / price - 1) * 100 <= CFG.display_range_pct for b in buckets)


def test_summarize_an_earlier_row_whose_levels_are_gone_by_the_last_hour() -> None:
    """summarize(row=...) of an hour whose long pocket a later wick consumed: a pocket, without a leverage mix
    (the band books are the last hour's)."""
    oi: list[Maybe] = [10.0, 20.0, 30.0, 40.0, 40.0, 40.0, 40.0]
    prices = [100.0] * len(oi)
    low = list(prices)
    low[5] = 50.0  # a wick below every long level
    hm = simulate_market(make_frame(low, prices, prices, oi), price_edges(50.0, 100.0, STILL), STILL)
    assert hm.long_usd[-1].sum() == 0 and hm.long_usd[4].sum() > 0
    s = summarize(hm, STILL, row=4)
    pocket = s["nearest_below"]
    assert isinstance(pocket, dict) and pocket["usd"] > 0 and pocket["price"] < 100.0
    assert pocket["leverage_mix"] == {}


# --------------------------------------------------------------------------------------------------------
# 10. the bundled sample: BTC around the 10-11 October 2025 cascade
# --------------------------------------------------------------------------------------------------------

BEFORE = datetime(2025, 10, 10, 18, tzinfo=UTC)
AFTER = datetime(2025, 10, 11, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    data_dir: Path
    before: AssetHeatmap
    after: AssetHeatmap


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    data_dir = tmp_path_factory.mktemp("heatmap") / "store"
    with Store(data_dir) as store:  # closed again: the CLI opens it read-only
        import_source(store, "sample", Path("."))
    with Store(data_dir, read_only=True) as store:
        before = asset_heatmap(store, "BTC", BEFORE, days=90, venue=None, cfg=CFG)
        after = asset_heatmap(store, "BTC", AFTER, days=90, venue=None, cfg=CFG)
    return Sample(data_dir, before, after)


def long_within(hm: Heatmap, pct: float, of: float | None = None) -> float:
    """Long USD at the last hour within ``pct`` % below ``of`` (the map's price by default)."""
    c, price = hm.centers, of or hm.price
    return float(hm.long_usd[-1][(c < price) & (c >= price * (1 - pct / 100))].sum())


def store_oi(data_dir: Path, venue: str, when: datetime) -> float:
    with Store(data_dir, read_only=True) as store:
        oi = store.read("open_interest", venues=[venue], assets=["BTC"], end=when)
    return float(oi.sort("ts")["oi_usd"][-1])


def test_sample_venues_and_conservation(sample: Sample) -> None:
    for ah, when in ((sample.before, BEFORE), (sample.after, AFTER)):
        hm = ah.map
        assert ah.venues == ["bybit"]  # the only venue with OI then
        assert set(ah.skipped) == {"binance", "hyperliquid", "okx"}
        assert hm.times[-1] == when and hm.times[0] >= when - timedelta(days=90)
        assert hm.oi_usd is not None and hm.oi_usd > 1e9
        assert hm.oi_usd == pytest.approx(store_oi(sample.data_dir, "bybit", when), rel=1e-9)
        longs, shorts = sides(hm)
        assert longs[-1] == pytest.approx(hm.oi_usd, rel=1e-9)
        assert shorts[-1] == pytest.approx(hm.oi_usd, rel=1e-9)
        # every hour: the two sides carry the same one-sided OI
        np.testing.assert_allclose(longs, shorts, rtol=1e-9)
        # a real book: part of each side at levels, the rest in the hedged reserve
        assert 0.2 < hm.long_usd[-1].sum() / longs[-1] < 0.8
        assert 0.2 < hm.short_usd[-1].sum() / shorts[-1] < 0.8


def test_sample_sides(sample: Sample) -> None:
    for ah in (sample.before, sample.after):
        hm = ah.map
        assert (hm.long_usd[-1][~below(hm.edges, hm.price)] == 0).all()
        assert (hm.short_usd[-1][~above(hm.edges, hm.price)] == 0).all()
        assert hm.long_usd[-1].sum() > 0 and hm.short_usd[-1].sum() > 0


def test_sample_summary(sample: Sample) -> None:
    hm = sample.before.map
    s = summarize(hm, CFG)
    assert set(s) >= {
        "price",
        "oi_usd",
        "buckets",
        "nearest_above",
        "nearest_below",
        "cumulative",
        "total_long_usd",
        "total_short_usd",
    }
    assert s["price"] == hm.price and s["oi_usd"] == hm.oi_usd
    under, over = s["nearest_below"], s["nearest_above"]
    assert isinstance(under, dict) and isinstance(over, dict)
    assert set(under) == {"price", "distance_pct", "usd", "leverage_mix", "threshold_usd"}
    assert under["price"] < hm.price and under["distance_pct"] < 0
    assert over["price"] > hm.price and over["distance_pct"] > 0
    cumulative = s["cumulative"]
    assert isinstance(cumulative, dict)
    assert list(cumulative) == ["0.5%", "1%", "2%", "5%", "10%"]
    downs = [v["below_long_usd"] for v in cumulative.values()]
    ups = [v["above_short_usd"] for v in cumulative.values()]
    assert all(a <= b for a, b in itertools.pairwise(downs))
    assert all(a <= b for a, b in itertools.pairwise(ups))
    assert downs[-1] == pytest.approx(long_within(hm, 10.0), rel=1e-12) and downs[-1] > 0


def bybit_btc(data_dir: Path) -> pl.DataFrame:
    """The hourly rows of the only BTC market with OI in the sample, over the after map's 90 days."""
    with Store(data_dir, read_only=True) as store:
        markets = load_markets(store, AFTER - timedelta(days=90), AFTER, ["BTC"])
    return markets.filter((pl.col("venue") == "bybit") & (pl.col("bar_hours") == 1)).sort("t")


def test_the_cascade_consumed_the_longs_below_price(sample: Sample) -> None:
    """The 22:00 bar wicked to 101,046, 14 % below the 117,585 of 18:00: every long level standing between there and
    the price was liquidated. The cascade's own traded USD (11 B at 22:00) opens new cohorts at once (churn), which
    partly refill the range; without them it stays all but empty, and without the wicks it would have held more."""
    frame = bybit_btc(sample.data_dir)
    p0 = sample.before.map.price
    wick = float(frame.filter(pl.col("t") > BEFORE)["low"].min())  # type: ignore[arg-type]
    assert wick < 0.87 * p0 and sample.after.map.price < 0.97 * p0
    edges = sample.after.map.edges
    real = simulate_market(frame, edges, CFG)
    np.testing.assert_allclose(
        real.long_usd[-1], sample.after.map.long_usd[-1], rtol=1e-9
    )  # Bybit's book alone
    at18 = real.times.index(BEFORE)

    def range_usd(hm: Heatmap, row: int = -1) -> float:  # long USD within 10 % below the 18:00 price
        c = hm.centers
        return float(hm.long_usd[row][(c < p0) & (c >= 0.9 * p0)].sum())

    before, after = long_within(sample.before.map, 10.0), range_usd(sample.after.map)
    unwicked = frame.with_columns(  # the same hours, lows cut to the bars' bodies after 18:00
        low=pl.when(pl.col("t") > BEFORE)
        .then(pl.min_horizontal(pl.col("close").shift(1), pl.col("close")))
        .otherwise(pl.col("low"))
    )
    held = range_usd(simulate_market(unwicked, edges, CFG, record=False))
    no_refill = frame.with_columns(volume_usd=pl.when(pl.col("t") > BEFORE).then(0.0).otherwise("volume_usd"))
    refilled_not = range_usd(simulate_market(no_refill, edges, CFG, record=False))
    print(
        f"\nlongs within 10 % below {p0:,.0f} (churn {CFG.churn}): {before / 1e6:,.0f} M at 18:00, "
        f"{after / 1e6:,.0f} M at 00:00; {held / 1e6:,.0f} M without the wicks; "
        f"{refilled_not / 1e6:,.1f} M with no position opened from traded USD after 18:00 "
        f"({range_usd(real, at18) / 1e6:,.0f} M at 18:00 in that run)"
    )
    # measured at churn 0.1 / 0.2 / 0.5 / 1.0: after / before 0.31 / 0.37 / 0.44 / 0.48, after / held
    # 0.42 / 0.51 / 0.66 / 0.79, refilled_not 3.7 M against 565 M / 792 M / 1,099 M / 1,290 M
    assert before > 5e8 and after < 0.6 * before
    assert after < 0.85 * held
    assert refilled_not < 0.05 * range_usd(real, at18)


# --------------------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------------------


def test_cli_heatmap_json(sample: Sample) -> None:
    result = runner.invoke(
        app, ["heatmap", "BTC", "--as-of", "2025-10-10T18:00", "--json", "--data-dir", str(sample.data_dir)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["asset"] == "BTC"
    assert out["as_of"] == "2025-10-10T18:00:00Z"
    assert out["venues"] == ["bybit"]
    assert out["price"] == pytest.approx(sample.before.map.price)
    assert out["oi_usd"] == pytest.approx(sample.before.map.oi_usd)
    assert out["buckets"] and all(set(b) == {"price", "long_usd", "short_usd"} for b in out["buckets"])
    price = out["price"]
    assert all(b["long_usd"] == 0 for b in out["buckets"] if b["price"] > price * 1.01)
    assert all(b["short_usd"] == 0 for b in out["buckets"] if b["price"] < price * 0.99)
    assert out["nearest_below"]["price"] < price < out["nearest_above"]["price"]
    assert set(out["cumulative"]) == {"0.5%", "1%", "2%", "5%", "10%"}
    assert out["cumulative"]["10%"]["below_long_usd"] == pytest.approx(long_within(sample.before.map, 10.0))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["heatmap", "NOPE"], "NOPE"),
        (["heatmap", "BTC", "--venue", "okx", "--as-of", "2025-10-10T18:00"], "open-interest"),
    ],
    ids=["unknown-asset", "venue-without-oi"],
)
def test_cli_heatmap_errors_are_one_line(sample: Sample, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, [*args, "--data-dir", str(sample.data_dir)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_venues_without_a_bar_at_the_map_hour_are_named_not_counted(sample: Sample) -> None:
    """2026-03-07 02:00, Hyperliquid's last bar in the sample: the other venues' data ended a day earlier; the map
    is Hyperliquid's alone and says why the others are not in it."""
    when = datetime(2026, 3, 7, 2, tzinfo=UTC)
    with Store(sample.data_dir, read_only=True) as store:
        ah = asset_heatmap(store, "BTC", when, days=90, venue=None, cfg=CFG)
    assert ah.venues == ["hyperliquid"]
    assert set(ah.skipped) == {"binance", "bybit", "okx"}
    assert all(why.startswith("no bar since 2026-03-0") for why in ah.skipped.values())
    hl = store_oi(sample.data_dir, "hyperliquid", when)
    assert ah.map.oi_usd == pytest.approx(hl, rel=1e-9)
    longs, shorts = sides(ah.map)
    assert longs[-1] == pytest.approx(hl, rel=1e-9) and shorts[-1] == pytest.approx(hl, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e12, allow_nan=False), min_size=1, max_size=200), st.floats(0, 1))
def test_the_pocket_threshold_is_numpys_linear_quantile(values: list[float], q: float) -> None:
    """The pocket search's density threshold is numpy's default (linear) quantile of the side's non-empty buckets."""
    usd = np.asarray(values)
    centers = np.arange(1.0, usd.size + 1.0)
    found = pockets_by_row(usd[None, :], centers, np.asarray([0.5]), True, q)
    filled = usd[usd > 0]
    assert bool(found.found[0]) == (filled.size > 0)
    if filled.size:
        assert found.threshold[0] == pytest.approx(float(np.quantile(filled, q)), rel=1e-12, abs=1e-6)


def test_the_current_map_without_the_grid_is_the_grids_last_hour(sample: Sample) -> None:
    """`grid=False` keeps only the as-of hour's row: the same book, pockets, reserve and run start as the full grid's
    last row — the summary a user reads does not depend on whether the picture was asked for."""
    with Store(sample.data_dir, read_only=True) as store:
        current = asset_heatmap(store, "BTC", AFTER, days=90, venue=None, cfg=CFG, grid=False)
    full = sample.after
    assert current.map.times == [AFTER] and len(full.map.times) > 24 * 80
    assert current.map.start == full.map.start == full.map.times[0]
    np.testing.assert_array_equal(current.map.long_usd[-1], full.map.long_usd[-1])
    np.testing.assert_array_equal(current.map.short_usd[-1], full.map.short_usd[-1])
    assert current.venues == full.venues and current.skipped == full.skipped
    assert summarize(current.map, CFG) == summarize(full.map, CFG)


def test_one_venues_map_reads_only_that_venue(
    sample: Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`venue=` reads that venue's rows alone — every store read asks for that venue — and the map equals one made
    from a store that holds nothing else."""
    only = tmp_path / "bybit-only"
    asked: list[tuple[str, object]] = []
    read = Store.read

    def spy(self: Store, name: str, **kwargs: Any) -> pl.DataFrame:
        asked.append((name, kwargs.get("venues")))
        return read(self, name, **kwargs)

    with Store(sample.data_dir, read_only=True) as store:
        monkeypatch.setattr(Store, "read", spy)
        from_all = asset_heatmap(store, "BTC", AFTER, days=90, venue="bybit", cfg=CFG, grid=False)
        monkeypatch.setattr(Store, "read", read)
    assert {n for n, _ in asked} == {"candles", "funding", "open_interest"}
    assert all(venues == ["bybit"] for _, venues in asked)
    with Store(sample.data_dir, read_only=True) as store:
        frames = {
            name: store.read(name, venues=["bybit"]) for name in ("candles", "funding", "open_interest")
        }
    with Store(only) as store:
        store.write(frames)
        alone = asset_heatmap(store, "BTC", AFTER, days=90, venue="bybit", cfg=CFG, grid=False)
    assert from_all.venues == alone.venues == ["bybit"]
    np.testing.assert_array_equal(from_all.map.long_usd, alone.map.long_usd)
    np.testing.assert_array_equal(from_all.map.edges, alone.map.edges)


def test_the_map_reads_1h_bars_only_and_equals_the_hourly_rows_of_every_bar(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model steps hour by hour: the candles read asks for 1 h bars alone, and the map equals one built from
    every bar interval's frame filtered to its hourly rows (a 1 h bar is the finest: it always wins its hour)."""
    import levradar.analytics.heatmap as heatmap_module

    asked: list[object] = []
    read = Store.read

    def spy(self: Store, name: str, **kwargs: Any) -> pl.DataFrame:
        if name == "candles":
            asked.append(kwargs.get("interval"))
        return read(self, name, **kwargs)

    with Store(sample.data_dir, read_only=True) as store:
        monkeypatch.setattr(Store, "read", spy)
        hourly = asset_heatmap(store, "BTC", AFTER, days=90, venue=None, cfg=CFG, grid=True)
        monkeypatch.setattr(Store, "read", read)
        every = heatmap_module.load_markets
        monkeypatch.setattr(
            heatmap_module,
            "load_markets",
            lambda *a, **_kw: every(*a).filter(pl.col("bar_hours") == 1),  # all intervals read, hourly kept
        )
        wide = asset_heatmap(store, "BTC", AFTER, days=90, venue=None, cfg=CFG, grid=True)
    assert asked == ["1h"]
    assert hourly.venues == wide.venues and hourly.impact_per_usd == wide.impact_per_usd
    np.testing.assert_array_equal(hourly.map.long_usd, wide.map.long_usd)
    np.testing.assert_array_equal(hourly.map.short_usd, wide.map.short_usd)


MODEL_COLUMNS = {
    "candles": ["venue", "symbol", "asset", "ts", "close", "high", "low", "volume_base", "volume_quote"],
    "funding": ["venue", "symbol", "ts", "rate", "interval_hours"],
    "open_interest": ["venue", "symbol", "ts", "oi_base", "oi_usd"],
}


def test_a_point_in_time_map_reads_only_the_rows_and_columns_the_model_uses(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`heatmap BTC --venue bybit --as-of T`: one read per dataset, of that venue, of the model's columns, and of
    its window only — the 1 h bars closing in [T − 90 d, T], the funding and OI that can be known at those closes
    (within 24 h and 2 h before them) — every row known at T."""
    got: dict[str, tuple[dict[str, Any], pl.DataFrame]] = {}
    read = Store.read

    def spy(self: Store, name: str, **kwargs: Any) -> pl.DataFrame:
        frame = read(self, name, **kwargs)
        assert name not in got
        got[name] = (kwargs, frame)
        return frame

    start = AFTER - timedelta(days=90)
    with Store(sample.data_dir, read_only=True) as store:
        monkeypatch.setattr(Store, "read", spy)
        ah = asset_heatmap(store, "BTC", AFTER, days=90, venue="bybit", cfg=CFG, grid=False)
        monkeypatch.setattr(Store, "read", read)
    assert set(got) == set(MODEL_COLUMNS)
    derived = {"funding": ["rate_1h", "rate_8h", "apr"]}
    for name, (kwargs, frame) in got.items():
        assert kwargs["venues"] == ["bybit"] and kwargs["as_of"] == AFTER
        assert frame.columns == MODEL_COLUMNS[name] + derived.get(name, [])
        assert set(frame["venue"]) == {"bybit"} and frame["ts"].max() <= AFTER  # type: ignore[operator]
    candles = got["candles"][1]
    assert got["candles"][0]["interval"] == "1h"
    hour = timedelta(hours=1)
    assert candles["ts"].min() == start - hour and candles["ts"].max() == AFTER - hour
    assert candles.height == 90 * 24 + 1 and ah.map.start == start  # the bars closing at start .. T, once
    assert got["funding"][1]["ts"].min() >= start - timedelta(hours=24)  # type: ignore[operator]
    assert got["open_interest"][1]["ts"].min() >= start - timedelta(hours=2)  # type: ignore[operator]


def general_hourly_rows(
    store: Store,
    start: datetime,
    as_of: datetime,
    assets: Sequence[str] | None,
    venues: Sequence[str] | None = None,
    *,
    hourly: bool = True,
) -> pl.DataFrame:
    """The hourly rows as the scan's general read gives them: every bar interval read, every column, the bar
    choice and the lagged features; then the 1 h bars' rows and the model's columns (``hourly`` ignored)."""
    frame = load_markets(store, start, as_of, assets, venues).filter(pl.col("bar_hours") == 1)
    return frame.select(
        "venue",
        "symbol",
        "asset",
        "t",
        "bar_hours",
        "close",
        "high",
        "low",
        "volume_usd",
        "rate_8h",
        "oi_base",
        "oi_usd",
        "key",
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    as_of=st.datetimes(datetime(2025, 6, 1), datetime(2026, 3, 7, 12), timezones=st.just(UTC)),
    venue=st.sampled_from([None, "bybit", "binance", "okx", "hyperliquid"]),
    asset=st.sampled_from(["BTC", "ETH", "SOL"]),
)
def test_the_models_read_gives_the_general_reads_hourly_rows_and_map(
    sample: Sample, as_of: datetime, venue: str | None, asset: str
) -> None:
    """The point-in-time read the model uses (1 h bars, its columns, its window, in one lazy join) is exactly the
    general read's hourly rows at any instant, venue and asset — and so is the map made from it."""
    import levradar.analytics.heatmap as heatmap_module

    start = as_of - timedelta(days=90)
    venues = [venue] if venue else None
    with Store(sample.data_dir, read_only=True) as store:
        fast = load_markets(store, start, as_of, [asset], venues, hourly=True)
        assert_frame_equal(fast, general_hourly_rows(store, start, as_of, [asset], venues), check_exact=True)
        maps = []
        for loader in (load_markets, general_hourly_rows):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(heatmap_module, "load_markets", loader)
                try:
                    maps.append(asset_heatmap(store, asset, as_of, days=90, venue=venue, cfg=CFG, grid=True))
                except ValueError as exc:  # no data or no OI then: the same one-line error
                    maps.append(str(exc))
    if isinstance(maps[0], str):
        assert maps[0] == maps[1]
        return
    one, other = maps
    assert isinstance(other, AssetHeatmap)
    assert one.venues == other.venues and one.skipped == other.skipped
    assert one.map.times == other.map.times and one.impact_per_usd == other.impact_per_usd
    np.testing.assert_array_equal(one.map.long_usd, other.map.long_usd)
    np.testing.assert_array_equal(one.map.short_usd, other.map.short_usd)
    assert summarize(one.map, CFG) == summarize(other.map, CFG)


@pytest.mark.parametrize(
    "as_of", [BEFORE, AFTER + timedelta(minutes=30), datetime(2026, 3, 1, 9, tzinfo=UTC)]
)
def test_a_point_in_time_map_is_the_map_of_a_store_that_only_holds_data_up_to_then(
    sample: Sample, tmp_path: Path, as_of: datetime
) -> None:
    """`heatmap BTC [--venue bybit] --as-of T` on the whole sample prints what a store imported with `--to T`
    prints: the model, its summary, outlook and the real prints use nothing after T."""
    with Store(tmp_path / "cut") as cut:
        import_source(cut, "sample", Path("."), Filters(end=as_of))
        assert cut.read("open_interest", start=as_of + timedelta(microseconds=1)).is_empty()
    for venue in ("bybit", None):
        bodies = []
        for data_dir in (sample.data_dir, tmp_path / "cut"):
            with Store(data_dir, read_only=True) as store:
                run = heatmap_report(store, "BTC", as_of, days=90, venue=venue, cfg=CFG, grid=True)
            bodies.append(dumps(run.body))
        assert bodies[0] == bodies[1]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.just(0.0), st.floats(0.5, 1e9)), min_size=12, max_size=12),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.floats(95.0, 106.0), min_size=6, max_size=6),
    st.floats(0.05, 0.95),
)
def test_pockets_by_row_equal_the_pocket_search_row_by_row(
    grid: list[list[float]], prices: list[float], quantile: float
) -> None:
    """The compiled search finds, row by row, the pocket of the rule written out in numpy (the dense buckets: at or
    above the side's quantile; the run of them nearest the price), and `_pocket` adds that run's leverage mix."""
    usd = np.asarray(grid)
    centers = np.linspace(94.0, 107.0, usd.shape[1])
    at = np.asarray(prices[: usd.shape[0]])
    leverage = np.asarray([5.0, 20.0])
    tiers = np.vstack([np.linspace(1.0, 2.0, usd.shape[1]), np.linspace(3.0, 1.0, usd.shape[1])])
    for above in (True, False):
        batch = pockets_by_row(usd, centers, at, above, quantile)
        for r in range(usd.shape[0]):
            expected = _pocket_by_hand(usd[r], centers, float(at[r]), above, quantile)
            one = _pocket(usd[r], centers, tiers, leverage, float(at[r]), above, quantile)
            assert bool(batch.found[r]) == (expected is not None) == (one is not None)
            if expected is None or one is None:
                continue
            run, price, total, threshold = expected
            assert (batch.first[r], batch.last[r]) == (run[0], run[-1])
            assert batch.usd[r] == pytest.approx(total, rel=1e-12)
            assert batch.price[r] == pytest.approx(price, rel=1e-12)
            assert batch.distance_pct[r] == pytest.approx((price / at[r] - 1.0) * 100.0, rel=1e-9, abs=1e-12)
            assert batch.threshold[r] == pytest.approx(threshold, rel=1e-12)
            assert one["usd"] == batch.usd[r] and one["price"] == batch.price[r]
            by_tier = tiers[:, run].sum(axis=1)
            assert one["leverage_mix"] == {
                f"~{lev:.0f}x": round(float(v) / float(by_tier.sum()), 4)
                for lev, v in zip(leverage, by_tier, strict=True)
            }


def _pocket_by_hand(
    usd: npt.NDArray[np.float64], centers: npt.NDArray[np.float64], price: float, above: bool, quantile: float
) -> tuple[list[int], float, float, float] | None:
    """The pocket rule in numpy: (the run's buckets, its USD-weighted price, its USD, the threshold)."""
    side = centers > price if above else centers < price
    filled = usd[side & (usd > 0)]
    if filled.size == 0:
        return None
    threshold = float(np.quantile(filled, quantile))
    dense = side & (usd >= threshold) & (usd > 0)
    idx = np.flatnonzero(dense)
    j = int(idx.min() if above else idx.max())
    run = [j]
    step = 1 if above else -1
    while 0 <= run[-1] + step < usd.size and dense[run[-1] + step]:
        run.append(run[-1] + step)
    run.sort()
    total = float(usd[run].sum())
    return run, float((centers[run] * usd[run]).sum() / total), total, threshold


def test_a_bounded_grid_keeps_every_kth_hours_book_and_sums_adjacent_buckets(sample: Sample) -> None:
    """Downsampling never invents USD: the kept hours are the full grid's rows (the last one included) and each
    merged price row holds exactly the USD of the buckets it spans."""
    full = grid_json(sample.after.map, CFG)
    small = grid_json(sample.after.map, CFG, max_hours=200, max_prices=50)
    assert len(small["times"]) <= 200 and len(small["prices"]) <= 50
    step, merge = small["hour_step"], small["bucket_merge"]
    assert step > 1 and merge > 1 and small["times"][-1] == full["times"][-1]
    rows = {t: i for i, t in enumerate(full["times"])}
    for k, t in enumerate(small["times"]):
        i = rows[t]
        assert i == len(full["times"]) - 1 - step * (len(small["times"]) - 1 - k)
        for side in ("long_usd", "short_usd"):
            merged = np.add.reduceat(np.asarray(full[side][i]), np.arange(0, len(full["prices"]), merge))
            np.testing.assert_allclose(small[side][k], merged, rtol=1e-9, atol=0.006 * merge)  # 2-dp rounding


def test_a_market_whose_oi_starts_after_months_without_it_keeps_a_finite_map(sample: Sample) -> None:
    """Hyperliquid's BTC in the sample has OI only from 2025-12-07 11:00, after ~2,170 hourly bars without it. The
    book's lazy scale factors decay every hour; they used to be folded in only in hours with OI, so after the long
    stretch a deposit (its USD divided by the factor) overflowed and the map read NaN (found by the property test
    above). Every cell is finite now."""
    as_of = datetime(2025, 12, 7, 11, tzinfo=UTC)
    with Store(sample.data_dir, read_only=True) as store:
        both = asset_heatmap(store, "BTC", as_of, days=90, venue=None, cfg=CFG, grid=True)
    assert both.venues == ["bybit", "hyperliquid"]
    assert np.isfinite(both.map.long_usd).all() and np.isfinite(both.map.short_usd).all()
    assert np.isfinite(summarize(both.map, CFG)["total_long_usd"])


@settings(max_examples=300, deadline=None)
@given(
    st.floats(1e-6, 1e6),
    st.floats(1.0001, 100.0),
    st.integers(1, 900),
    st.lists(
        st.one_of(st.floats(-1e7, 1e7), st.sampled_from([0.0, math.inf, -math.inf, math.nan])), max_size=20
    ),
    st.booleans(),
)
def test_the_kernels_bucket_lookup_is_numpys_searchsorted(
    low: float, ratio: float, n: int, values: list[float], uniform: bool
) -> None:
    """The model finds a price's bucket from a guess on log-spaced edges: always numpy's searchsorted index, for
    edges that are not log-spaced too, for values on an edge, outside the edges, zero, infinite or NaN."""
    from levradar.analytics import _kernel

    edges = np.exp(np.linspace(math.log(low), math.log(low * ratio), n + 1))
    if not uniform:
        edges = np.sort(edges * np.random.default_rng(n).uniform(0.9, 1.1, edges.size))
    probes = [*values, *edges[:: max(1, n // 7)].tolist(), low * 1.5]
    for v in probes:
        for side in ("left", "right"):
            assert _kernel.find(edges, v, side == "right") == int(np.searchsorted(edges, v, side=side)), (
                v,
                side,
            )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.just(0.0), st.floats(0.5, 1e9)), min_size=12, max_size=12),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.floats(0.5, 2.0), min_size=6, max_size=6),
    st.floats(0.05, 0.95),
)
def test_pockets_with_a_row_of_centres_each_equal_each_row_on_its_own(
    grid: list[list[float]], scales: list[float], quantile: float
) -> None:
    """The live radar reads every asset's new hour at once, each row on its own asset's buckets: the same pockets
    as each row searched with its own centres."""
    usd = np.asarray(grid)
    base = np.linspace(94.0, 107.0, usd.shape[1])
    centers = np.vstack([base * s for s in scales[: usd.shape[0]]])
    at = 100.0 * np.asarray(scales[: usd.shape[0]])
    for above in (True, False):
        batch = pockets_by_row(usd, centers, at, above, quantile)
        for r in range(usd.shape[0]):
            one = pockets_by_row(usd[r : r + 1], centers[r], at[r : r + 1], above, quantile)
            for name in ("found", "price", "distance_pct", "usd", "threshold", "first", "last"):
                assert getattr(batch, name)[r] == getattr(one, name)[0], name


def test_pockets_refuse_centres_of_another_shape() -> None:
    usd = np.ones((3, 5))
    for centers in (np.ones(4), np.ones((2, 5)), np.ones((3, 6))):
        with pytest.raises(ValueError, match="centers"):
            pockets_by_row(usd, centers, np.ones(3), True, 0.5)
