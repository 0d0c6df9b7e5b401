"""Evaluation, models, anomalies and the Dask fan-out, on the bundled real sample."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from levradar.analytics.models import (
    LABEL_HORIZON,
    RADAR_FEATURES,
    RegistryError,
    SavedModel,
    apply_registry,
    load_registry,
    model_at,
    save_registry,
)
from levradar.analytics.scan import history, scan, screen
from levradar.cli import app
from levradar.evaluation.anomalies import anomalies
from levradar.evaluation.model import _design, _x
from levradar.evaluation.signals import (
    HORIZONS,
    OUTCOME_COLUMNS,
    Split,
    _rows,
    frozen_edges,
    load_frames,
    with_outcomes,
)
from levradar.store import Store
from tests.test_api import demo_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("evaluation"))


@pytest.fixture(scope="module")
def evaluation(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(
        app, ["evaluate", "--assets", "BTC,ETH,SOL", "--out", str(out), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_outcomes_are_forward_looking_and_exact() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    prices = [100.0, 101.0, 99.0, 102.0, 98.0, 103.0] * 20
    frame = pl.DataFrame(
        {
            "t": [t0 + timedelta(hours=i) for i in range(len(prices))],
            "asset": "X",
            "price": prices,
            "oi_base": [10.0 + i for i in range(len(prices))],
        }
    ).filter(pl.col("t") != t0 + timedelta(hours=7))  # a missing hour: horizons must not shift
    out = with_outcomes(frame)
    row = out.row(0, named=True)
    assert row["ret_4h"] == pytest.approx(98.0 / 100 - 1) and row["abs_ret_4h"] == pytest.approx(0.02)
    assert row["drawdown_4h"] == pytest.approx(98.0 / 100 - 1) and row["runup_4h"] == pytest.approx(0.02)
    assert row["oi_chg_4h"] == pytest.approx(14.0 / 10 - 1)
    at3 = out.filter(pl.col("t") == t0 + timedelta(hours=3)).row(0, named=True)
    assert at3["ret_4h"] is None  # t+4 = the missing hour 7
    assert out.filter(pl.col("t") == t0 + timedelta(hours=7)).is_empty()
    last = out.tail(1).row(0, named=True)
    assert all(last[f"ret_{h}h"] is None for h in HORIZONS)  # no future, no outcome


def test_state_rows_resample_the_hourly_grid() -> None:
    """A state's effect is its mean excess over its hours; the interval comes from the studentized stationary
    bootstrap of the complete hourly grid (a missing hour stays a gap), and two assets' rows at the same hour share
    a grid cell (pooled resampling keeps an hour's assets together)."""
    rng = np.random.default_rng(0)
    n = 24 * 60
    hours = np.arange(n) + 480_000
    hours = hours[np.arange(n) % 97 != 5]  # a few missing hours
    shock = np.convolve(
        rng.standard_normal(hours.size + 23), np.ones(24) / 24, mode="valid"
    )  # overlapping 24h
    excess = np.column_stack([shock + 0.01 * (i + 1) for i in range(len(OUTCOME_COLUMNS))])
    mask = (hours // 24) % 3 == 0
    days = hours // 24
    rows = _rows("s", "X", mask, excess, days, hours)
    assert len(rows) == len(OUTCOME_COLUMNS)
    for i, r in enumerate(rows):
        assert r["effect"] == pytest.approx(excess[mask, i].mean())
        assert r["low"] < r["effect"] < r["high"] and 0 < r["p"] <= 1 and r["block_hours"] >= 1
        assert r["days"] == np.unique(days[mask]).size and r["hours"] == int(mask.sum())
    # the same rows twice (two assets at the same hours): the same effect, the hours resampled together
    twice = _rows(
        "s",
        "pooled",
        np.concatenate([mask, mask]),
        np.vstack([excess, excess]),
        np.concatenate([days, days]),
        np.concatenate([hours, hours]),
    )
    assert twice[0]["effect"] == pytest.approx(rows[0]["effect"])
    assert twice[0]["high"] - twice[0]["low"] == pytest.approx(rows[0]["high"] - rows[0]["low"], rel=1e-9)
    few = _rows("s", "X", days < days[0] + 3, excess, days, hours)  # seen on 3 days: listed, not tested
    assert all(r["p"] is None and r["block_hours"] is None for r in few)


def test_thresholds_come_from_the_train_period_only() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    n = 400
    frame = pl.DataFrame(
        {
            "t": [t0 + timedelta(hours=i) for i in range(n)],
            "lsi": [float(i % 50) if i < 200 else 1000.0 + i for i in range(n)],
            "fragility": [float(i % 50) for i in range(n)],
            "squeeze_long": [float(i % 50) for i in range(n)],
            "squeeze_short": [float(i % 50) for i in range(n)],
        }
    )
    split = Split(t0 + timedelta(hours=200))
    edges = frozen_edges(split.train(frame))
    assert max(edges["lsi_deciles"]) < 50  # the later, much larger values did not move the edges
    assert split.test(frame)["t"].min() == t0 + timedelta(hours=200 + max(HORIZONS))  # embargo


def test_evaluate_reports_states_events_and_models(evaluation: tuple[dict[str, object], Path]) -> None:
    result, out = evaluation
    assert result["assets"] == ["BTC", "ETH", "SOL"]
    states = result["states"]
    assert isinstance(states, dict) and states["tests"] > 100
    rows = states["rows"]
    groups = {r["group"] for r in rows}
    assert groups == {"BTC", "ETH", "SOL", "pooled"}  # per asset and pooled
    tested = [r for r in rows if r["p"] is not None]
    assert all(r["days"] >= 5 and r["q"] >= r["p"] - 1e-12 for r in tested)  # q-values never below p
    assert all(r["low"] <= r["effect"] <= r["high"] and r["block_hours"] >= 1 for r in tested)
    assert {r["outcome"] for r in rows} >= {"abs_ret_4h", "drawdown_24h", "runup_72h", "oi_chg_24h"}
    (cascade,) = [e for e in result["events"] if e["asset"] == "SOL"]
    assert (
        cascade["event"] == "2025-10-10 cascade" and cascade["4h"] is not None and cascade["72h"] is not None
    )
    assert cascade["move_-4h_to_+24h"] < -0.05
    model = result["model"]
    for target in ("long_flush", "short_squeeze"):
        t = model["targets"][target]
        if t["evaluated"]:
            assert set(t["models"]) == {"radar", "price_only", "no_funding", "no_oi", "no_heatmap", "rules"}
            for s in t["models"].values():
                assert 0 <= s["brier"] <= 1 and (s["auc"] is None or 0 <= s["auc"] <= 1)
            for name, c in t["comparisons"].items():  # other − radar, with its interval
                other = name.removesuffix("_minus_radar")
                diff = t["models"][other]["brier"] - t["models"]["radar"]["brier"]
                assert c["brier_difference"] == pytest.approx(diff, abs=1e-12)
                assert c["low"] <= c["brier_difference"] <= c["high"]
            assert t["radar_beats_price_only"] == (
                t["comparisons"]["price_only_minus_radar"]["low"] > 0
                and t["comparisons"]["price_only_minus_radar"]["auc_difference"] > 0
            )
    deciles = result["deciles"]
    assert deciles["liquidations_from"] == "store"
    lsi = deciles["scores"]["lsi"]["abs_ret_24h"]
    assert lsi["top_hours"] > 0 and lsi["bottom_hours"] > 0
    assert (
        lsi["ratio"] == pytest.approx(lsi["top_mean"] / lsi["bottom_mean"])
        and lsi["low"] <= lsi["ratio"] <= lsi["high"]
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "evaluation.md",
        "lsi_deciles.png",
        "reliability.png",
        "states_24h.png",
    ]
    md = (out / "evaluation.md").read_text()
    assert "Stress events" in md and "null result" in md and "2025-10-10 cascade" in md


def test_anomalies_flag_the_cascade(data_dir: Path) -> None:
    with Store(data_dir, read_only=True) as store:
        during = anomalies(store, datetime(2025, 10, 10, 23, tzinfo=UTC), ["BTC", "ETH", "SOL"])
        quiet = anomalies(store, datetime(2025, 9, 20, 12, tzinfo=UTC), ["BTC", "ETH", "SOL"])
    assert all(r["unusual"] for r in during["assets"])
    sol = next(r for r in during["assets"] if r["asset"] == "SOL")
    assert sol["why"][0]["feature"] in ("funding_z", "oi_roc_24h") and abs(sol["why"][0]["z"]) >= 3
    assert sum(r["unusual"] for r in quiet["assets"]) < 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as lc:
        yield str(lc.scheduler_address)


def test_scan_over_dask_equals_the_local_scan(data_dir: Path, cluster: str) -> None:
    runner = CliRunner()
    local = runner.invoke(app, ["scan", "--json", "--data-dir", str(data_dir)])
    remote = runner.invoke(app, ["scan", "--json", "--cluster", cluster, "--data-dir", str(data_dir)])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b.pop("cluster") == cluster
    assert a == b


def test_evaluate_over_dask_equals_the_local_run(
    data_dir: Path, cluster: str, evaluation: tuple[dict[str, object], Path]
) -> None:
    local, _ = evaluation
    result = CliRunner().invoke(
        app, ["evaluate", "--assets", "BTC,ETH,SOL", "--cluster", cluster, "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    remote = json.loads(result.stdout)
    local = {k: v for k, v in local.items() if k != "written"}
    assert remote == local


def test_evaluate_saves_a_walk_forward_registry(
    data_dir: Path, evaluation: tuple[dict[str, object], Path]
) -> None:
    """Every saved model carries its window; it may speak only after its training labels end, and it is
    qualified only by the out-of-sample evidence that existed then."""
    result, _ = evaluation
    model = result["model"]
    assert isinstance(model, dict)
    registry = load_registry(data_dir)
    assert registry and len(registry) == len(model["saved"])
    for m in registry:
        assert m.trained_to + LABEL_HORIZON <= m.valid_from
        assert m.qualified == (bool(m.evidence["beats_rules"]) and bool(m.evidence["beats_price_only"]))
        through = m.evidence["through"]
        assert _when(through) <= m.valid_from  # the qualifying evidence ends before the model speaks
    for target in ("long_flush", "short_squeeze"):
        mine = sorted((m for m in registry if m.target == target), key=lambda m: m.valid_from)
        if mine:
            assert not mine[0].qualified  # the first fold has no out-of-sample evidence before it


def _when(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@pytest.mark.parametrize("when", ["2025-10-11T00:00", "2026-02-01T12:00", "2026-03-05T23:00"])
def test_a_scan_uses_no_model_trained_after_its_as_of(
    data_dir: Path, evaluation: tuple[dict[str, object], Path], when: str
) -> None:
    """After evaluate, a historical scan's squeeze scores come from the model valid then (or the rules), and
    scan and screen read the same numbers."""
    as_of = datetime.fromisoformat(when).replace(tzinfo=UTC)
    registry = load_registry(data_dir)
    with Store(data_dir, read_only=True) as store:
        reads = {r["asset"]: r for r in scan(store, as_of)}
        ranked = screen(store, as_of)
    for target, column in (("long_flush", "squeeze_long"), ("short_squeeze", "squeeze_short")):
        chosen = model_at(registry, target, as_of)
        assert chosen is None or (chosen.valid_from <= as_of and chosen.trained_to + LABEL_HORIZON <= as_of)
        for read in reads.values():
            described = read["scores"]["squeeze_model"]
            if chosen is not None and chosen.qualified:
                assert f"valid from {chosen.valid_from:%Y-%m-%d %H:%M}" in described
            else:
                assert f"{column}: rule-based" in described
    for row in ranked["highest_squeeze_risk"]:
        scores = reads[row["asset"]]["scores"]
        assert row["score"] == pytest.approx(max(scores["squeeze_long"], scores["squeeze_short"]), abs=0.051)


def test_a_model_is_never_used_before_it_is_valid(tmp_path: Path) -> None:
    """A registry with a qualified model valid from T: rows before T keep the rule scores, rows after use it."""
    t = datetime(2025, 10, 10, 12, tzinfo=UTC)
    model = SavedModel(
        target="long_flush",
        valid_from=t,
        trained_from=t - timedelta(days=200),
        trained_to=t - timedelta(days=4),
        qualified=True,
        evidence={"through": t, "auc": 0.7, "auc_rules": 0.6, "beats_rules": True},
        features=["funding_z"],
        medians=[0.0],
        mean=[0.0],
        scale=[1.0],
        coef=[1.0],
        intercept=0.0,
    )
    save_registry(tmp_path, [model])
    frame = pl.DataFrame(
        {
            "t": [t - timedelta(hours=1), t, t + timedelta(hours=1)],
            "funding_metric": [0.0, 0.0, 2.0],
            "squeeze_long": [40.0, 40.0, 40.0],
            "squeeze_short": [10.0, 10.0, 10.0],
        }
    )
    out = apply_registry(frame, load_registry(tmp_path))
    assert out["squeeze_long"].to_list() == pytest.approx([40.0, 50.0, 100 / (1 + np.exp(-2.0))])
    assert out["squeeze_short"].to_list() == [10.0, 10.0, 10.0]  # no model for that target
    assert (
        out["squeeze_model"][0].startswith("squeeze_long: rule-based")
        and "later data" in out["squeeze_model"][0]
    )
    assert "valid from 2025-10-10 12:00" in out["squeeze_model"][1]


def test_model_inputs_never_see_the_outcomes(data_dir: Path) -> None:
    """The model's inputs at an hour are the read of that hour: scrambling every forward outcome (the forward 24h
    return included, which shares the read's column name) leaves the input matrix unchanged, and the past 24h
    return is the read's own."""
    start, end = datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 10, 15, tzinfo=UTC)
    frames = load_frames(data_dir, ["BTC", "SOL"], start, end)
    design = _design(frames)
    rng = np.random.default_rng(3)
    scrambled = {
        a: f.with_columns(pl.Series(c, rng.normal(size=f.height)) for c in OUTCOME_COLUMNS)
        for a, f in frames.items()
    }
    a, b = _x(design, RADAR_FEATURES), _x(_design(scrambled), RADAR_FEATURES)
    assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(np.nan_to_num(a), np.nan_to_num(b))
    with Store(data_dir, read_only=True) as store:
        read = history(store, "BTC", start, end, models=False)
    joined = design.filter(pl.col("asset") == "BTC").join(read.select("t", past="ret_24h"), on="t")
    assert joined.height > 500 and np.allclose(
        joined["ret_24h"].to_numpy(), joined["past"].to_numpy(), equal_nan=True
    )


def test_old_model_files_are_refused(data_dir: Path, tmp_path: Path) -> None:
    """Model files of versions 1 and 2 were trained with the forward return as an input: a clear error, never
    used."""
    store = tmp_path / "store"
    shutil.copytree(data_dir, store, ignore=shutil.ignore_patterns("models"))
    path = store / "models" / "squeeze.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 2, "models": []}))
    with pytest.raises(RegistryError, match=r"version 2.*forward 24h return.*levradar evaluate"):
        load_registry(store)
    result = CliRunner().invoke(app, ["scan", "--data-dir", str(store)])
    assert (
        result.exit_code == 2 and "forward 24h return" in result.output and "Traceback" not in result.output
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["memo", "NOPE"], "unknown asset NOPE; the store has: BTC, DOGE, ETH, SOL, XRP"),
        (["checklist", "--assets", "NOPE"], "unknown asset NOPE"),
        (["anomalies", "--assets", "NOPE"], "unknown asset NOPE"),
        (["evaluate", "--assets", "BTC,NOPE"], "unknown asset NOPE"),
        (
            ["alerts", "replay", "--from", "2025-10-10", "--rules", "/nonexistent.toml"],
            "cannot read the rules file",
        ),
        (["alerts", "replay", "--from", "yesterday"], "--from: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_input_is_one_clear_line(data_dir: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
