"""The trade memo: the four views composed into a short, deterministic, plain-language read.

Every number in the text comes from a finding (``views``), so each can be traced; the same inputs always give
the same memo. :func:`checklist` is the daily list over a watchlist.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from levradar.analytics.config import SignalConfig, load_config
from levradar.analytics.heatmap import HeatmapConfig, asset_heatmap, book, load_heatmap_config
from levradar.analytics.scan import scan
from levradar.analytics.scenario import scenario
from levradar.analytics.views import (
    Bias,
    Finding,
    ViewsConfig,
    bias,
    derivatives,
    execution,
    load_views_config,
    risk,
    structure,
    value,
)
from levradar.store import Store

HEATMAP_DAYS = 90


@dataclass(frozen=True)
class Configs:
    signals: SignalConfig
    heatmap: HeatmapConfig
    views: ViewsConfig

    @property
    def digest(self) -> str:
        """A hash of every parameter the memo depends on (kept in the journal with each read)."""
        blob = json.dumps(
            [self.signals.digest, repr(self.heatmap), self.views.raw], sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_configs() -> Configs:
    return Configs(load_config(), load_heatmap_config(), load_views_config())


@dataclass(frozen=True)
class Analysis:
    asset: str
    as_of: datetime
    read: dict[str, Any]
    views: dict[str, list[Finding]]
    side: Bias
    why: str
    inputs: dict[str, Any]  # the data times every view was computed from


def analyse(store: Store, asset: str, as_of: datetime, cfg: Configs | None = None) -> Analysis:
    configs = cfg or default_configs()
    reads = scan(store, as_of, [asset], config=configs.signals)
    if not reads:
        raise ValueError(f"no radar read for {asset} as of {as_of:%Y-%m-%d %H:%M} UTC: not enough history")
    read = reads[0]
    lookback = timedelta(days=int(configs.views["structure"]["lookback_days"]))
    candles = store.read(
        "candles",
        assets=[asset],
        venues=[read["price_venue"]],
        interval="1h",
        start=as_of - lookback,
        as_of=as_of,
    )
    struct = structure(candles, read, configs.views)
    side, why = bias(read, struct)
    try:
        ah = asset_heatmap(store, asset, as_of, days=HEATMAP_DAYS, venue=None, cfg=configs.heatmap)
        moves = [float(m) for m in configs.views["risk"]["stress_moves"]]
        current = book(ah.map, configs.heatmap)
        scenarios = [scenario(current, m, ah.impact_per_usd) for m in moves]
    except ValueError:  # no OI history: no heatmap, no stress
        scenarios = []
    views = {
        "derivatives": derivatives(read, configs.signals),
        "structure": struct,
        "risk": risk(read, struct, scenarios, side, configs.views),
        "execution": execution(read, struct, side, why, configs.views),
    }
    inputs = {
        "as_of": as_of,
        "radar_data_time": read["data_time"],
        "candles_last": candles["ts"].max() if not candles.is_empty() else None,
        "price_venue": read["price_venue"],
        "config": configs.digest,
    }
    return Analysis(read["asset"], as_of, read, views, side, why, inputs)


def _money(usd: float) -> str:
    return f"${usd / 1e9:,.2f} B" if usd >= 1e9 else f"${usd / 1e6:,.1f} M" if usd >= 1e6 else f"${usd:,.0f}"


def _pocket(p: dict[str, Any] | None, side: str) -> str:
    if not p:
        return f"no dense {side} pocket in range"
    return f"{side} pocket {p['distance_pct']:+.1f} % at {p['price']:,.6g} ({_money(p['usd'])})"


def _changes(a: Analysis, cfg: SignalConfig) -> str:
    """What would change the read: the regime boundaries nearest to the current z, and the invalidation."""
    parts = []
    for name, block in (("funding", "funding"), ("OI", "oi")):
        z = a.read[block]["z"]
        if z is None:
            continue
        bounds = [float(b) for b in cfg.value(block, "boundaries")]
        up = next((b for b in bounds if b > z), None)
        down = next((b for b in reversed(bounds) if b < z), None)
        span = " or ".join(
            x
            for x in (
                f"above z {up:+.2f}" if up is not None else "",
                f"below z {down:+.2f}" if down is not None else "",
            )
            if x
        )
        parts.append(f"{name} moving {span} (now {z:+.2f})")
    stop = value(a.views["risk"], "invalidation", "invalidation")
    if stop is not None:
        parts.append(f"a close beyond {stop:,.6g}")
    return "The read changes with " + "; ".join(parts) + "." if parts else ""


def memo_text(a: Analysis, cfg: SignalConfig) -> str:
    r, s = a.read, a.read["scores"]
    f, o = r["funding"], r["oi"]
    lines = [
        f"{a.asset} reads {r['tag']}. Funding {f['regime'] or 'unknown'} "
        f"({(f['rate_8h'] or 0) * 100:+.4f} % per 8h, {(f['pct_90d'] or 0) * 100:.0f}th percentile of 90 days); "
        f"OI {o['regime'] or 'unknown'} ({(o['roc_4h'] or 0) * 100:+.1f} % in 4h, {(o['roc_24h'] or 0) * 100:+.1f} % "
        f"in 24h); fragility {s['fragility']}, LSI {s['lsi']}.",
    ]
    if r["playbook"]:
        lines.append(f"Playbook: {r['playbook']}")
    liq = r["liquidation"]
    lines.append(
        f"Nearest liquidations: {_pocket(liq.get('nearest_below'), 'long')}; {_pocket(liq.get('nearest_above'), 'short')}."
    )
    execution_text = " ".join(x.text for x in a.views["execution"])
    risk_text = " ".join(x.text for x in a.views["risk"] if x.id in ("invalidation", "size"))
    lines += [execution_text, risk_text]
    change = _changes(a, cfg)
    if change:
        lines.append(change)
    return "\n".join(line for line in lines if line)


def memo(store: Store, asset: str, as_of: datetime, cfg: Configs | None = None) -> dict[str, Any]:
    configs = cfg or default_configs()
    a = analyse(store, asset, as_of, configs)
    return {
        "asset": a.asset,
        "as_of": a.as_of,
        "side": a.side,
        "views": {name: [f.to_dict() for f in findings] for name, findings in a.views.items()},
        "text": memo_text(a, configs.signals),
        "inputs": a.inputs,
    }


def checklist(
    store: Store, as_of: datetime, assets: list[str], cfg: Configs | None = None
) -> list[dict[str, Any]]:
    """The daily checklist per asset: pockets above/below, funding vs its 90-day percentile, OI over 4h/24h,
    continuation or mean reversion, where the invalidation goes."""
    configs = cfg or default_configs()
    out = []
    for asset in assets:
        a = analyse(store, asset, as_of, configs)
        r = a.read
        out.append(
            {
                "asset": a.asset,
                "tag": r["tag"],
                "pocket_below": r["liquidation"].get("nearest_below"),
                "pocket_above": r["liquidation"].get("nearest_above"),
                "funding_rate_8h": r["funding"]["rate_8h"],
                "funding_pct_90d": r["funding"]["pct_90d"],
                "oi_roc_4h": r["oi"]["roc_4h"],
                "oi_roc_24h": r["oi"]["roc_24h"],
                "mode": value(a.views["execution"], "trigger", "mode"),
                "side": a.side,
                "invalidation": value(a.views["risk"], "invalidation", "invalidation"),
            }
        )
    return out
