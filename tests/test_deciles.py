"""Top-vs-bottom decile ratios and the forward liquidation flow behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.evaluation.deciles import decile_ratios, realised_flow, with_flow, with_vol_relative
from levradar.evaluation.signals import Split

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(
    period=st.sampled_from([1, 4, 24]),
    totals=st.lists(st.floats(0, 1e9, allow_nan=False), min_size=2, max_size=40),
    gap=st.integers(0, 39),
)
def test_forward_flow_is_the_sum_of_the_next_24h_of_periods(
    period: int, totals: list[float], gap: int
) -> None:
    """The forward 24h flow at a period start is the sum of the periods that start in [t, t + 24h), and only where
    every one of them is present (a missing period leaves the hours whose window holds it without a flow)."""
    starts = [T0 + timedelta(hours=period * i) for i in range(len(totals))]
    keep = [i for i in range(len(totals)) if i != gap or len(totals) < 3]
    realised = pl.DataFrame(
        {
            "ts": [starts[i] for i in keep],
            "asset": "BTC",
            "long_usd": [totals[i] * 0.25 for i in keep],
            "short_usd": [totals[i] * 0.75 for i in keep],
        }
    )
    flow = realised_flow(realised)
    per_window = 24 // period
    expected = {}
    present = set(keep)
    for i in keep:
        window = range(i, i + per_window)
        if all(j in present for j in window):
            expected[starts[i]] = sum(totals[j] for j in window)
    got = dict(zip(flow["t"].to_list(), flow["liq_usd_24h"].to_list(), strict=True))
    assert got.keys() == expected.keys()
    for t, v in expected.items():
        assert got[t] == pytest.approx(v, rel=1e-9, abs=1e-6)


def test_flow_is_a_share_of_oi_at_the_hour() -> None:
    frame = pl.DataFrame(
        {"t": [T0, T0 + timedelta(hours=1)], "asset": "BTC", "oi_usd": [2e9, 0.0]},
        schema_overrides={"t": pl.Datetime("us", "UTC")},
    )
    flow = pl.DataFrame(
        {"asset": ["BTC", "BTC"], "t": [T0, T0 + timedelta(hours=1)], "liq_usd_24h": [5e7, 1e7]},
        schema_overrides={"t": pl.Datetime("us", "UTC")},
    )
    out = with_flow(frame, flow)
    assert out["liq_flow_24h"].to_list() == [pytest.approx(0.025), None]  # no OI: no share
    assert with_flow(frame, None)["liq_flow_24h"].null_count() == 2


def _frames(link: float, seed: int) -> dict[str, pl.DataFrame]:
    """Two assets, 6,000 hours: a persistent score and an outcome that grows with it by ``link``."""
    rng = np.random.default_rng(seed)
    out = {}
    for asset in ("A", "B"):
        n = 6000
        score = np.convolve(rng.normal(size=n + 47), np.ones(48) / 48, mode="valid") * 200 + 50
        outcome = np.abs(rng.normal(size=n)) * (1 + link * (score - score.min()) / np.ptp(score))
        out[asset] = pl.DataFrame(
            {
                "t": [T0 + timedelta(hours=i) for i in range(n)],
                "asset": asset,
                "lsi": score,
                "fragility": score[::-1].copy(),
                "abs_ret_24h": outcome,
                "liq_flow_24h": outcome,
            }
        )
    return out


def test_a_score_that_ranks_the_outcome_has_a_ratio_above_one() -> None:
    split = Split(T0 + timedelta(hours=2000))
    linked = decile_ratios(_frames(3.0, 1), split)["scores"]["lsi"]["abs_ret_24h"]
    assert linked["low"] > 1.0 and linked["ratio"] > 1.5
    test = split.test(_frames(3.0, 1)["A"])
    assert linked["top_hours"] + linked["bottom_hours"] < 2 * test.height  # only the two deciles count
    unrelated = decile_ratios(_frames(0.0, 2), split)["scores"]["lsi"]["abs_ret_24h"]
    assert unrelated["low"] < 1.0 < unrelated["high"]


def test_a_score_that_only_tracks_volatility_gets_no_credit_beyond_it() -> None:
    """Outcomes that scale with realised volatility and a score that is the volatility: the raw ratio is large,
    the ratio relative to the same volatility decile is 1 within its interval."""
    rng = np.random.default_rng(5)
    split = Split(T0 + timedelta(hours=2000))
    frames = {}
    for asset in ("A", "B"):
        n = 6000
        rv = np.exp(np.convolve(rng.normal(size=n + 47), np.ones(48) / 48, mode="valid") * 4) * 0.5
        frame = pl.DataFrame(
            {
                "t": [T0 + timedelta(hours=i) for i in range(n)],
                "asset": asset,
                "rv_24h": rv,
                "lsi": rv * 100,
                "fragility": rv * 100,
                "abs_ret_24h": np.abs(rng.normal(size=n)) * rv,
                "liq_flow_24h": None,
            }
        )
        frames[asset] = with_vol_relative(frame, split)
    got = decile_ratios(frames, split)["scores"]["lsi"]
    assert got["abs_ret_24h"]["low"] > 1.5
    assert got["abs_ret_24h_vs_vol"]["low"] < 1.0 < got["abs_ret_24h_vs_vol"]["high"]
    assert got["liq_flow_24h"]["ratio"] is None  # no liquidations: reported as missing, not as a number
