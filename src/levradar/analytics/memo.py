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
    what_changes,
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
        ah = asset_heatmap(
            store, asset, as_of, days=HEATMAP_DAYS, venue=None, cfg=configs.heatmap, grid=False
        )
        moves = [float(m) for m in configs.views["risk"]["stress_moves"]]
        current = book(ah.map, configs.heatmap)
        scenarios = [scenario(current, m, ah.impact_per_usd, ah.stress_impact) for m in moves]
    except ValueError:  # no OI history: no heatmap, no stress
        scenarios = []
    risk_view = risk(read, struct, scenarios, side, configs.views)
    views = {
        "derivatives": derivatives(read, configs.signals),
        "structure": struct,
        "risk": [*risk_view, what_changes(read, configs.signals, risk_view)],
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


def memo_text(a: Analysis) -> str:
    """The memo: finding texts in a fixed order (every number in it is a finding's), plus the playbook."""

    def text(view: str, fid: str) -> str:
        return next((f.text for f in a.views[view] if f.id == fid), "")

    lines = [
        text("derivatives", "coverage"),
        " ".join(
            x
            for x in (
                text("derivatives", "read"),
                text("derivatives", "funding"),
                text("derivatives", "open_interest"),
            )
            if x
        ),
        text("derivatives", "venue_quotes"),
        f"Playbook: {a.read['playbook']}" if a.read["playbook"] else "",
        " ".join(x for x in (text("derivatives", "liquidations"), text("derivatives", "forced_flow")) if x),
        " ".join(x for x in (text("execution", "bias"), text("execution", "trigger")) if x),
        " ".join(x for x in (text("risk", "invalidation"), text("risk", "size")) if x),
        text("risk", "what_changes"),
    ]
    return "\n".join(line for line in lines if line)


def memo(store: Store, asset: str, as_of: datetime, cfg: Configs | None = None) -> dict[str, Any]:
    configs = cfg or default_configs()
    a = analyse(store, asset, as_of, configs)
    return {
        "asset": a.asset,
        "as_of": a.as_of,
        "side": a.side,
        "views": {name: [f.to_dict() for f in findings] for name, findings in a.views.items()},
        "text": memo_text(a),
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
