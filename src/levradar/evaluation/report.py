"""``levradar evaluate``: states, events and models on the store's history → JSON, Markdown and PNG plots."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from levradar.analytics.models import save_registry
from levradar.evaluation.deciles import (
    decile_ratios,
    realised_flow,
    store_realised,
    with_flow,
    with_vol_relative,
)
from levradar.evaluation.model import fit_final, walk_forward
from levradar.evaluation.signals import default_split, evaluate_states, event_table, load_frames

Q_LEVEL = 0.10  # false-discovery rate at which an effect is called "supported"


def run(
    store_dir: Path,
    assets: list[str],
    start: datetime,
    end: datetime,
    *,
    cluster: str | None = None,
    train_share: float = 0.4,
    realised: pl.DataFrame | None = None,
    save: bool = True,
) -> dict[str, Any]:
    """Everything ``evaluate`` reports. ``realised``: realised liquidations (``read_realised``) for the decile
    ratios' forward liquidation flow; without it, the liquidations recorded in the store. ``save``: keep the
    fitted squeeze models in the data directory (later scans use the qualified ones)."""
    frames = load_frames(store_dir, assets, start, end, cluster=cluster)
    if not frames:
        raise ValueError("no hourly history for these assets in this period")
    split = default_split(list(frames.values()), train_share)
    states = evaluate_states(frames, split)
    source = "file" if realised is not None else "store"
    flow = realised_flow(realised if realised is not None else store_realised(store_dir, sorted(frames)))
    deciles = decile_ratios(
        {a: with_vol_relative(with_flow(f, flow), split) for a, f in frames.items()}, split
    )
    deciles["liquidations_from"] = source
    model = walk_forward(frames)
    registry = [*model.pop("registry"), *fit_final(frames, model)]
    if save:
        save_registry(store_dir, registry)
    model["saved"] = [
        {
            "target": m.target,
            "valid_from": m.valid_from,
            "trained": [m.trained_from, m.trained_to],
            "qualified": m.qualified,
        }
        for m in registry
    ]
    model["models_file"] = "saved" if save else "not written (read-only run)"
    return {
        "period": {"from": start, "to": end},
        "assets": sorted(frames),
        "hours": {a: f.height for a, f in sorted(frames.items())},
        "split": {"train_end": split.train_end, "train_share": train_share},
        "q_level": Q_LEVEL,
        "states": states,
        "events": event_table(frames),
        "deciles": deciles,
        "model": model,
    }


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x * 100:+.{digits}f} %"


def _blocks(result: dict[str, Any]) -> str:
    """The range and median of the mean block lengths (hours) the tests used."""
    hours = sorted(r["block_hours"] for r in result["states"]["rows"] if r.get("block_hours") is not None)
    if not hours:
        return "no test"
    return f"{hours[0]:.0f}–{hours[-1]:.0f} h, median {hours[len(hours) // 2]:.0f} h"


def _pooled(result: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    rows = [r for r in result["states"]["rows"] if r["group"] == "pooled" and r["outcome"] == outcome]
    return sorted(rows, key=lambda r: -(r["effect"] if r["effect"] is not None else -9))


def markdown(result: dict[str, Any]) -> str:
    q = result["q_level"]
    lines = [
        "# levradar evaluation",
        "",
        f"Period {result['period']['from']:%Y-%m-%d} → {result['period']['to']:%Y-%m-%d}, assets "
        f"{', '.join(result['assets'])}. Thresholds fitted before {result['split']['train_end']:%Y-%m-%d %H:%M} UTC "
        "(train), effects measured after it plus a 72h embargo (test). Effects are the state's mean outcome minus the "
        "asset's own test-period mean; 95 % intervals and p-values from a studentized stationary bootstrap of the "
        f"hourly grid (mean block lengths from the data, {_blocks(result)}); q = Benjamini–Hochberg over all "
        f"{result['states']['tests']} tests; supported when q < {q}.",
        "",
        "## States, pooled over assets: forward 24h",
        "",
        "| state | days | abs return | 95 % CI | q | drawdown | run-up | OI change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["state"], r["outcome"]): r for r in result["states"]["rows"] if r["group"] == "pooled"}

    def cell(state: str, outcome: str) -> str:
        return _pct(by.get((state, outcome), {}).get("effect"))

    for r in _pooled(result, "abs_ret_24h"):
        s = r["state"]
        ci = "–" if r["low"] is None else f"{_pct(r['low'])} … {_pct(r['high'])}"
        qv = "–" if r["q"] is None else f"{r['q']:.3f}" + (" ✓" if r["q"] < q else "")
        lines.append(
            f"| {s} | {r['days']} | {_pct(r['effect'])} | {ci} | {qv} | {cell(s, 'drawdown_24h')} | "
            f"{cell(s, 'runup_24h')} | {cell(s, 'oi_chg_24h')} |"
        )
    supported = [r for r in result["states"]["rows"] if r["q"] is not None and r["q"] < q]
    per_asset = [r for r in supported if r["group"] != "pooled"]
    signed = [r for r in supported if r["outcome"].startswith("ret_")]
    lines += [
        "",
        f"Supported effects: {len(supported)} of {result['states']['tests']} tests "
        f"({len(per_asset)} per asset, {len(signed)} on the signed return). Everything else is a null result at this "
        "sample size.",
        "",
        "## Stress events: what the radar said before",
        "",
        "| event | asset | 72h before | 24h before | 4h before | move −4h → +24h |",
        "|---|---|---|---|---|---|",
    ]

    def said(x: dict[str, Any] | None) -> str:
        if not x:
            return "no read"
        return f"{x['tag']}, LSI {x['lsi']:.0f}, {x['oi_regime']} OI, {x['funding_regime']} funding"

    for e in result["events"]:
        lines.append(
            f"| {e['event']} | {e['asset']} | {said(e['72h'])} | {said(e['24h'])} | {said(e['4h'])} | "
            f"{_pct(e['move_-4h_to_+24h'], 1)} |"
        )
    lines += ["", "## Calibrated probabilities (walk-forward, out of sample)", ""]
    model = result["model"]
    d = model["definition"]
    lines.append(
        f"Targets within 24h: a move of {d['move_daily_vols']} daily volatilities (drawdown for a long flush, run-up "
        f"for a short squeeze) with OI falling to its training {int(d['oi_drop_quantile'] * 100)}th percentile. "
        f"{len(model['folds'])} quarterly folds, ≥ {d['min_train_days']} days of training, {d['embargo_hours']:.0f}h "
        "embargo. Rules = the 0–100 squeeze scores read as probabilities."
    )
    groups = ", ".join(f"{g}: {', '.join(cols)}" for g, cols in d["feature_groups"].items())
    lines += [
        "",
        f"Input groups — {groups}. `radar` uses all, `price_only` the price group, `no_X` all but X.",
    ]
    lines += ["", "| target | rows | base rate | model | AUC | Brier |", "|---|---|---|---|---|---|"]
    for name, t in model["targets"].items():
        if not t.get("evaluated"):
            lines.append(f"| {name} | – | – | not enough events | – | – |")
            continue
        for m, s in t["models"].items():
            auc = "–" if s["auc"] is None else f"{s['auc']:.3f}"
            lines.append(f"| {name} | {t['rows']} | {t['base_rate']:.4f} | {m} | {auc} | {s['brier']:.4f} |")
    lines += [
        "",
        "Brier difference per asset-hour, other model − radar (> 0: the radar is better; 95 % studentized "
        "stationary-bootstrap interval over the hours):",
        "",
        "| target | comparison | Brier difference × 10⁴ | 95 % CI × 10⁴ | AUC difference |",
        "|---|---|---|---|---|",
    ]
    for name, t in model["targets"].items():
        for c, v in t.get("comparisons", {}).items():
            lines.append(
                f"| {name} | {c.removesuffix('_minus_radar')} | {v['brier_difference'] * 1e4:+.2f} | "
                f"{_range(v['low'], v['high'], 1e4, '+.2f')} | {v['auc_difference']:+.4f} |"
            )
        if t.get("evaluated"):
            adds = ", ".join(t["groups_that_add"]) or "none"
            verdict = "beats" if t["radar_beats_price_only"] else "does NOT beat"
            lines.append(f"| {name} | verdict | radar {verdict} price-only; groups that add: {adds} | | |")
    lines += ["", *_decile_lines(result), "", "Plots: states_24h.png, lsi_deciles.png, reliability.png."]
    return "\n".join(lines) + "\n"


def _range(low: float | None, high: float | None, scale: float, spec: str) -> str:
    return "–" if low is None or high is None else f"{low * scale:{spec}}…{high * scale:{spec}}"


def _decile_lines(result: dict[str, Any]) -> list[str]:
    deciles = result["deciles"]
    lines = [
        "## Top vs bottom decile (test period, edges from the train period)",
        "",
        "Mean outcome in the top decile / mean in the bottom decile, pooled over assets (95 % percentile interval of "
        f"the stationary bootstrap). Liquidations from the {deciles['liquidations_from']}.",
        "",
        "| score | outcome | ratio | 95 % CI | top hours | bottom hours |",
        "|---|---|---|---|---|---|",
    ]
    for score, outcomes in deciles["scores"].items():
        for outcome, r in outcomes.items():
            what = deciles["definition"][outcome]
            if r["ratio"] is None:
                lines.append(
                    f"| {score} | {what} | – (no data) | – | {r['top_hours']} | {r['bottom_hours']} |"
                )
                continue
            lines.append(
                f"| {score} | {what} | {r['ratio']:.2f} | {_range(r['low'], r['high'], 1.0, '.2f')} | {r['top_hours']} | "
                f"{r['bottom_hours']} |"
            )
    return lines


def plots(result: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    rows = [r for r in _pooled(result, "abs_ret_24h") if r["effect"] is not None and r["low"] is not None]
    fig, ax = plt.subplots(figsize=(9, max(3, 0.28 * len(rows))))
    names = [r["state"] for r in rows]
    eff = [r["effect"] * 100 for r in rows]
    err = [[(r["effect"] - r["low"]) * 100 for r in rows], [(r["high"] - r["effect"]) * 100 for r in rows]]
    colours = ["#c0392b" if r["q"] is not None and r["q"] < result["q_level"] else "#7f8c8d" for r in rows]
    ax.barh(names, eff, xerr=err, color=colours)
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("forward 24h |return| vs the asset's own mean (percentage points), 95 % CI")
    ax.set_title(f"States, pooled, test period (red: q < {result['q_level']:.2f})")
    fig.tight_layout()
    written.append(out / "states_24h.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    deciles = [r for r in _pooled(result, "abs_ret_24h") if r["state"].startswith("lsi_decile=")]
    deciles.sort(key=lambda r: int(r["state"].split("=")[1]))
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [int(r["state"].split("=")[1]) for r in deciles if r["effect"] is not None]
    ys = [r["effect"] * 100 for r in deciles if r["effect"] is not None]
    lo = [r["low"] * 100 if r["low"] is not None else None for r in deciles if r["effect"] is not None]
    hi = [r["high"] * 100 if r["high"] is not None else None for r in deciles if r["effect"] is not None]
    ax.plot(xs, ys, marker="o")
    ax.fill_between(
        xs,
        [v if v is not None else y for v, y in zip(lo, ys, strict=True)],
        [v if v is not None else y for v, y in zip(hi, ys, strict=True)],
        alpha=0.25,
    )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("LSI decile (edges from the train period)")
    ax.set_ylabel("24h |return| vs own mean (pp)")
    ax.set_title("Leverage Stress Index deciles, test period")
    fig.tight_layout()
    written.append(out / "lsi_deciles.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (name, t) in zip(axes, result["model"]["targets"].items(), strict=False):
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        if t.get("evaluated"):
            for m, s in t["models"].items():
                rel = s["reliability"]
                ax.plot(rel["predicted"], rel["observed"], marker="o", label=f"{m} (AUC {s['auc'] or 0:.2f})")
        ax.set_title(f"{name}: reliability, out of sample")
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed frequency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(out / "reliability.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def write(result: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.md").write_text(markdown(result))
    return [out / "evaluation.md", *plots(result, out)]
