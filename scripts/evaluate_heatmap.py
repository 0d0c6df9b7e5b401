"""Validate the liquidation heatmap against real liquidation fills; prints JSON.

Usage: python scripts/evaluate_heatmap.py [--data-dir DIR] [--days 30]
Without --data-dir the bundled sample is loaded into a temporary store. For every hour with real fills (OKX
liquidation orders, 2026-03-04..05 in the sample) and every asset, the model is run on that venue's data up to the
*start* of the hour (nothing after it is used), and each fill is checked, on its side (long fills against levels
below the price, short fills above), against: the model's **likely zone** for the hour (buckets whose expected
forced flow, USD × the chance price reaches them, is in the side's top decile), the model's **dense buckets** (the
book alone, top decile of USD), the **naive bands** at ±1, 2, 4 and 10 % from the price and a **contiguous band**
from the price — the last two with the same total width as the likely zone. Reported: the share of liquidated USD
inside each, overall, per asset and per side; and the same for the 2025-10-10 cascade's OI-drop proxy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from levradar.analytics.forecast import hit_probability
from levradar.analytics.heatmap import LIKELY_HOURS, asset_heatmap, book, likely_mask, load_heatmap_config
from levradar.ingest.run import import_source
from levradar.store import Store

OFFSETS = (0.01, 0.02, 0.04, 0.10)


def _baseline_hit(price: float, fill: float, width: float, below: bool) -> bool:
    """Four bands centred at price·(1 ∓ offset), each a quarter of ``width`` (a price span) wide."""
    half = width / len(OFFSETS) / 2.0
    for off in OFFSETS:
        centre = price * (1 - off) if below else price * (1 + off)
        if abs(fill - centre) <= half:
            return True
    return False


def evaluate(store: Store, days: int) -> dict[str, object]:
    """Each fill against four zones of equal width on its side: the model's likely zone for the hour (fuel × the
    chance price reaches it), the model's dense buckets (the book alone), the naive bands and a contiguous band
    from the price."""
    cfg = load_heatmap_config()
    fills = store.read("liquidations", derived=False).with_columns(hour=pl.col("ts").dt.truncate("1h"))
    rows = []
    for (venue, asset, hour), group in fills.group_by(["venue", "asset", "hour"], maintain_order=True):
        try:
            ah = asset_heatmap(store, str(asset), hour, days=days, venue=str(venue), cfg=cfg)
        except ValueError:
            continue  # no OI history for the venue: the model has nothing to say
        b = book(ah.map, cfg)
        widths = np.diff(ah.map.edges)
        vol = ah.vol.at(hour, timedelta(hours=LIKELY_HOURS)) if ah.vol else None
        if vol is None:
            continue
        reach = hit_probability(np.log(b.centers / b.price), vol, LIKELY_HOURS)
        for r in group.iter_rows(named=True):
            below = r["liquidated_side"] == "long"
            side = b.centers < b.price if below else b.centers > b.price
            likely = likely_mask((b.long_usd if below else b.short_usd) * reach * side, cfg.pocket_quantile)
            dense = b.dense_long if below else b.dense_short
            j = int(np.searchsorted(ah.map.edges, r["price"], side="right")) - 1
            width = float(widths[likely].sum())
            near = b.price * (1 - width / b.price) <= r["price"] <= b.price if below else (
                b.price <= r["price"] <= b.price * (1 + width / b.price)
            )
            rows.append(
                {
                    "asset": asset,
                    "venue": venue,
                    "usd": r["notional_usd"],
                    "side": r["liquidated_side"],
                    "likely": 0 <= j < likely.size and bool(likely[j]),
                    "dense": 0 <= j < dense.size and bool(dense[j]),
                    "bands": _baseline_hit(b.price, r["price"], width, below),
                    "contiguous": bool(near),
                    "zone_width_pct": width / b.price * 100.0,
                }
            )
    frame = pl.DataFrame(rows)
    if frame.is_empty():
        return {"fills": 0}

    def shares(f: pl.DataFrame) -> dict[str, float]:
        total = f["usd"].sum()
        out = {"fills": f.height, "usd": round(float(total), 2)}
        for zone in ("likely", "dense", "bands", "contiguous"):
            out[f"{zone}_share_usd"] = round(float(f.filter(pl.col(zone))["usd"].sum() / total), 4)
        out["mean_zone_width_pct"] = round(float(f["zone_width_pct"].mean()), 3)  # type: ignore[arg-type]
        return out

    return {
        "overall": shares(frame),
        "by_asset": {str(a): shares(g) for (a,), g in frame.group_by(["asset"], maintain_order=True)},
        "by_side": {str(s): shares(g) for (s,), g in frame.group_by(["side"], maintain_order=True)},
        "model_days": days,
        "window": "hour of each fill, model as of the start of that hour; zones of equal width on the fill's side",
    }


CASCADE = ("2025-10-10T19:00:00+00:00", "2025-10-11T03:00:00+00:00")


def cascade(store: Store, days: int) -> dict[str, object]:
    """The 2025-10-10 cascade, which left no prints in the shared data: the realised forced flow of each hour is
    proxied by the fall in OI (coin × the bar's typical price), spread uniformly over the bar's range — the same
    spreading the model uses for new positions. Each hour is scored against the model as of its start."""
    cfg = load_heatmap_config()
    start, end = (datetime.fromisoformat(x) for x in CASCADE)
    out: dict[str, object] = {}
    for asset in ("BTC", "ETH", "SOL"):
        model_usd = base_usd = near_usd = total = 0.0
        bars = store.read("candles", venues=["bybit"], assets=[asset], interval="1h", start=start, end=end)
        oi = store.read(
            "open_interest", venues=["bybit"], assets=[asset], start=start - timedelta(hours=1), end=end
        )
        oi_at = dict(zip(oi["ts"].to_list(), oi["oi_base"].to_list(), strict=True))
        for bar in bars.iter_rows(named=True):
            t0, t1 = bar["ts"], bar["ts"] + timedelta(hours=1)
            if oi_at.get(t0) is None or oi_at.get(t1) is None or oi_at[t1] >= oi_at[t0]:
                continue
            flow = (oi_at[t0] - oi_at[t1]) * (bar["high"] + bar["low"] + bar["close"]) / 3.0
            ah = asset_heatmap(store, asset, t0, days=days, venue="bybit", cfg=cfg)
            b = book(ah.map, cfg)
            edges, widths = ah.map.edges, np.diff(ah.map.edges)
            below = bar["close"] <= bar["open"]  # a falling bar liquidates longs, a rising one shorts
            vol = ah.vol.at(t0, timedelta(hours=LIKELY_HOURS)) if ah.vol else None
            if vol is None:
                continue
            side = b.centers < b.price if below else b.centers > b.price
            reach = hit_probability(np.log(b.centers / b.price), vol, LIKELY_HOURS)
            likely = likely_mask((b.long_usd if below else b.short_usd) * reach * side, cfg.pocket_quantile)
            lo, hi = bar["low"], bar["high"]
            overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
            share = overlap / max(hi - lo, 1e-12)
            model_usd += flow * float(share[likely].sum())
            zone = float(widths[likely].sum())
            half = zone / len(OFFSETS) / 2.0
            bands = [(b.price * (1 - o if below else 1 + o)) for o in OFFSETS]
            in_base = sum(max(0.0, min(hi, c + half) - max(lo, c - half)) for c in bands) / max(
                hi - lo, 1e-12
            )
            base_usd += flow * min(in_base, 1.0)
            near = (b.price - zone, b.price) if below else (b.price, b.price + zone)
            in_near = max(0.0, min(hi, near[1]) - max(lo, near[0])) / max(hi - lo, 1e-12)
            near_usd += flow * min(in_near, 1.0)
            total += flow
        if total > 0:
            out[asset] = {
                "proxy_forced_usd": round(total, 0),
                "likely_share_usd": round(model_usd / total, 4),
                "bands_share_usd": round(base_usd / total, 4),
                "contiguous_share_usd": round(near_usd / total, 4),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    if args.data_dir:
        with Store(args.data_dir, read_only=True) as store:
            print(
                json.dumps(
                    {"fills": evaluate(store, args.days), "cascade_2025_10_10": cascade(store, args.days)},
                    indent=2,
                )
            )
        return
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        import_source(store, "sample", Path("."))
        print(
            json.dumps(
                {"fills": evaluate(store, args.days), "cascade_2025_10_10": cascade(store, args.days)},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
