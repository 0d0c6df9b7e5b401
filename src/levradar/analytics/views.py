"""The four analysis views of one asset — Derivatives, Structure, Risk, Execution — as pure functions.

Each returns findings: a statement with the values it rests on, the thresholds it was judged against and the time
of the data. Inputs are what the radar already computed (the scan read, the heatmap summary, the scenarios) and the
hourly candles of the asset's price venue; nothing here reads the store. Parameters: config/views.toml.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.scan import QUOTE_MAX_AGE
from levradar.fmt import ordinal

Bias = Literal["long", "short", "none"]
CROWDED = 60.0  # |crowding| at or above which positioning is crowded: no trend-following into it


@dataclass(frozen=True)
class Finding:
    id: str
    text: str
    values: dict[str, Any]
    thresholds: dict[str, Any] = field(default_factory=dict)
    data_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ViewsConfig:
    raw: dict[str, dict[str, Any]]

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.raw[key]


def load_views_config(path: str | Path | None = None) -> ViewsConfig:
    text = (
        Path(path).read_text()
        if path
        else (resources.files("levradar.config") / "views.toml").read_text(encoding="utf-8")
    )
    return ViewsConfig(tomllib.loads(text))


def _percentile_words(share: float | None) -> str:
    """0.71 → '71st percentile'; None → 'percentile n/a'."""
    return "percentile n/a" if share is None else f"{ordinal(round(share * 100))} percentile"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:+.{digits}f} %"


def _price(x: float) -> str:
    return f"{x:,.{max(0, 4 - math.floor(math.log10(abs(x))))}f}" if x else "0"


def money(usd: float) -> str:
    return f"${usd / 1e9:,.2f} B" if usd >= 1e9 else f"${usd / 1e6:,.1f} M" if usd >= 1e6 else f"${usd:,.0f}"


def pocket_text(p: dict[str, Any] | None, side: str) -> str:
    if not p:
        return f"no dense {side} pocket in range"
    return f"{side} pocket {p['distance_pct']:+.1f} % at {_price(p['price'])} ({money(p['usd'])})"


# -- Derivatives ---------------------------------------------------------------------------------------------


def venue_quotes(read: dict[str, Any]) -> Finding | None:
    """What the venues' live feeds quoted at the hour: the predicted rate of each one's coming settlement (per 8h)
    against the asset's last settled rate — a quote of the other sign says the crowding is turning before the
    settlement shows it — and each venue's basis (mark over index − 1). None when no venue quoted either."""
    predicted = {
        v["venue"]: v["funding"]["predicted"]["rate_8h"]
        for v in read.get("venues", [])
        if (v.get("funding") or {}).get("predicted") and v["funding"]["predicted"]["rate_8h"] is not None
    }
    basis = {v["venue"]: v["basis"] for v in read.get("venues", []) if v.get("basis") is not None}
    if not predicted and not basis:
        return None
    settled = read["funding"]["rate_8h"]
    flips = sorted(venue for venue, rate in predicted.items() if settled is not None and rate * settled < 0)
    parts = []
    if predicted:
        quotes = ", ".join(f"{venue} {_pct(rate, 4)}" for venue, rate in sorted(predicted.items()))
        parts.append(f"Next settlement as quoted: {quotes} per 8h")
        if flips:
            parts.append(
                f"{', '.join(flips)} quote{'s' if len(flips) == 1 else ''} the opposite sign "
                f"to the last settled {_pct(settled, 4)}"
            )
    if basis:
        parts.append("basis " + ", ".join(f"{venue} {_pct(b, 3)}" for venue, b in sorted(basis.items())))
    return Finding(
        "venue_quotes",
        "; ".join(parts) + ".",
        {"predicted_rate_8h": predicted, "settled_rate_8h": settled, "sign_flips": flips, "basis": basis},
        {"max_quote_age_hours": QUOTE_MAX_AGE.total_seconds() / 3600},
        read["data_time"],
    )


def derivatives(read: dict[str, Any], cfg: SignalConfig) -> list[Finding]:
    """Funding, OI, positioning scores and liquidation proximity as the radar read them."""
    t = read["data_time"]
    f, o, s, liq = read["funding"], read["oi"], read["scores"], read["liquidation"]
    out = [
        Finding(
            "read",
            f"{read['asset']} reads {read['tag']}: fragility {s['fragility']}, LSI {s['lsi']}.",
            {"tag": read["tag"], "setup": read["setup"], "price": read["price"]},
            {},
            t,
        ),
        Finding(
            "funding",
            f"Funding {f['regime'] or 'unknown'}: {_pct(f['rate_8h'], 4)} per 8h ({_pct(f['apr'])} APR), "
            f"{_percentile_words(f['pct_90d'])} of 90 days, z {f['z'] if f['z'] is not None else 'n/a'}.",
            {k: f[k] for k in ("regime", "rate_8h", "apr", "pct_90d", "z", "persistence_h")},
            {"z_boundaries": cfg.value("funding", "boundaries"), "labels": cfg.value("funding", "labels")},
            t,
        ),
        Finding(
            "open_interest",
            f"OI {o['regime'] or 'unknown'}: {_pct(o['roc_4h'])} in 4h, {_pct(o['roc_24h'])} in 24h; quadrant "
            f"{read['quadrant'] or 'n/a'}.",
            {k: o[k] for k in ("regime", "usd", "roc_4h", "roc_24h", "z")} | {"quadrant": read["quadrant"]},
            {"z_boundaries": cfg.value("oi", "boundaries"), "labels": cfg.value("oi", "labels")},
            t,
        ),
        Finding(
            "positioning",
            f"Crowding {s['crowding']}, fragility {s['fragility']}, squeeze risk long {s['squeeze_long']} / short "
            f"{s['squeeze_short']}, LSI {s['lsi']}; deleveraging: {s['deleveraging'] or 'none'}.",
            {
                k: s[k]
                for k in ("crowding", "fragility", "squeeze_long", "squeeze_short", "lsi", "deleveraging")
            },
            {"scale": "0-100 (crowding -100..100)"},
            t,
        ),
        Finding(
            "liquidations",
            f"Nearest liquidations: {pocket_text(liq.get('nearest_below'), 'long')}; "
            f"{pocket_text(liq.get('nearest_above'), 'short')} (proximity {liq.get('proximity') or 'unavailable'}).",
            {
                "proximity": liq.get("proximity"),
                "nearest_below": liq.get("nearest_below"),
                "nearest_above": liq.get("nearest_above"),
            },
            {
                "daily_vol_boundaries": cfg.value("liquidation", "boundaries"),
                "model_from": liq.get("run_from"),
            },
            t,
        ),
    ]
    quoted = venue_quotes(read)
    if quoted is not None:
        out.append(quoted)
    forecast = liq.get("forecast_24h") or {}
    if forecast.get("total_usd") is not None:
        out.append(
            Finding(
                "forced_flow",
                f"Expected forced flow over the next 24h: longs {money(forecast['long_usd'])}, shorts "
                f"{money(forecast['short_usd'])} (modelled levels × the chance price reaches them).",
                {k: forecast.get(k) for k in ("long_usd", "short_usd", "total_usd", "hourly_vol")},
                {"horizon_hours": forecast.get("horizon_hours")},
                t,
            )
        )
    out += [Finding(f"contradiction:{c['id']}", c["text"], {}, {}, t) for c in read["contradictions"]]
    cov = read.get("coverage") or {}
    if cov.get("status") in ("partial", "stale"):
        missing = ", ".join(
            f"{m['venue']} (last bar {m['last_bar']:%Y-%m-%d %H:%M} UTC)" if m["last_bar"] else m["venue"]
            for m in cov.get("missing", [])
        )
        out.append(
            Finding(
                "coverage",
                f"Read {cov['status']} at {cov['data_time']:%Y-%m-%d %H:%M} UTC from {', '.join(cov['venues'])} "
                f"({cov['weight_present'] * 100:.0f} % of the asset's weight)"
                + (f"; missing {missing}" if missing else "")
                + ".",
                {k: cov.get(k) for k in ("status", "venues", "weight_present", "behind_h")},
                {"main_share": cfg.value("aggregation", "main_share")},
                t,
            )
        )
    return out


# -- Structure -----------------------------------------------------------------------------------------------


def _ema(x: np.ndarray, hours: int) -> np.ndarray:
    alpha = 2.0 / (hours + 1.0)
    out = np.empty_like(x)
    acc = x[0]
    for i, v in enumerate(x):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def _swings(high: np.ndarray, low: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """Indices of swing highs/lows: the extreme of the 2k+1 bars centred on them (confirmed: k bars after)."""
    n = high.size
    highs = [i for i in range(k, n - k) if high[i] == high[i - k : i + k + 1].max()]
    lows = [i for i in range(k, n - k) if low[i] == low[i - k : i + k + 1].min()]
    return highs, lows


def round_levels(price: float) -> tuple[float, float]:
    """The nearest round numbers below and above: multiples of the power of ten one digit under the price's."""
    exponent = math.floor(math.log10(price))
    if 10.0**exponent > price:  # log10 rounded up just below a power of ten
        exponent -= 1
    step = 10.0 ** (exponent - 1)
    n = math.floor(price / step)
    while n * step > price:  # guard the float division both ways
        n -= 1
    while (n + 1) * step <= price:
        n += 1
    return n * step, (n + 1) * step


def efficiency_ratio(close: np.ndarray, hours: int) -> np.ndarray:
    """|net move| / sum |hourly moves| over ``hours`` (1 = a straight line, near 0 = chop); NaN before full."""
    out = np.full(close.size, np.nan)
    if close.size <= hours:
        return out
    csum = np.cumsum(np.abs(np.diff(close, prepend=close[0])))
    path = csum[hours:] - csum[:-hours]
    net = np.abs(close[hours:] - close[:-hours])
    out[hours:] = np.divide(net, path, out=np.zeros_like(net), where=path > 0)
    return out


def structure(candles: pl.DataFrame, read: dict[str, Any], cfg: ViewsConfig) -> list[Finding]:
    """Trend, key levels (swing highs/lows, round numbers), volatility regime, trending vs ranging, from the
    hourly candles (``ts, high, low, close``) of the asset's price venue up to the read's data time."""
    c = cfg["structure"]
    bars = candles.sort("ts")
    if bars.height < int(c["trend_slow_hours"]):
        return [
            Finding("structure", "Not enough hourly history for a structure read.", {"hours": bars.height})
        ]
    close, high, low = (bars[col].to_numpy().astype(float) for col in ("close", "high", "low"))
    t = bars["ts"][-1]
    price = float(close[-1])
    daily_vol = float(np.nanstd(np.diff(np.log(close[-24 * 7 :])))) * math.sqrt(24.0)
    fast, slow = _ema(close, int(c["trend_fast_hours"])), _ema(close, int(c["trend_slow_hours"]))
    spread = (fast[-1] - slow[-1]) / price
    min_spread = float(c["trend_min_vol"]) * daily_vol
    trend = "up" if spread > min_spread else "down" if spread < -min_spread else "sideways"
    k = int(c["swing_hours"])
    hi_idx, lo_idx = _swings(high, low, k)
    n = int(c["levels_per_side"])
    resist = sorted({float(high[i]) for i in hi_idx if high[i] > price})[:n]
    support = sorted({float(low[i]) for i in lo_idx if low[i] < price}, reverse=True)[:n]
    round_below, round_above = round_levels(price)
    er = efficiency_ratio(close, int(c["efficiency_hours"]))
    valid = er[~np.isnan(er)]
    er_now = float(er[-1]) if not np.isnan(er[-1]) else None
    lo_q, hi_q = (float(np.quantile(valid, q)) for q in (c["ranging_quantile"], c["trending_quantile"]))
    character = (
        "unknown"
        if er_now is None
        else "trending"
        if er_now >= hi_q
        else "ranging"
        if er_now <= lo_q
        else "mixed"
    )
    vol = read["volatility"]
    return [
        Finding(
            "trend",
            f"Trend {trend}: the {c['trend_fast_hours']}h EMA is {_pct(spread, 2)} from the "
            f"{c['trend_slow_hours']}h EMA (threshold ±{min_spread * 100:.2f} %, {c['trend_min_vol']} daily vol).",
            {"trend": trend, "ema_spread": spread, "daily_vol": daily_vol, "price": price},
            {"min_spread": min_spread},
            t,
        ),
        Finding(
            "levels",
            "Swing highs above: "
            + (", ".join(_price(x) for x in resist) or "none in the window")
            + "; swing lows below: "
            + (", ".join(_price(x) for x in support) or "none in the window")
            + f"; round numbers {_price(round_below)} / {_price(round_above)}.",
            {
                "resistance": resist,
                "support": support,
                "round_below": round_below,
                "round_above": round_above,
            },
            {"swing_hours": k, "lookback_days": c["lookback_days"]},
            t,
        ),
        Finding(
            "volatility",
            f"Volatility {vol['regime'] or 'unknown'}: 24h realised {_pct(vol['rv_24h'], 0)} annualised vs "
            f"{_pct(vol['rv_7d'], 0)} over 7 days.",
            {k: vol[k] for k in ("regime", "rv_24h", "rv_7d", "pct_90d")},
            {},
            read["data_time"],
        ),
        Finding(
            "character",
            f"Market is {character}: efficiency ratio {er_now if er_now is None else round(er_now, 2)} over "
            f"{c['efficiency_hours']}h (ranging ≤ {lo_q:.2f}, trending ≥ {hi_q:.2f}, quantiles of its own "
            f"{c['lookback_days']} days).",
            {"character": character, "efficiency_ratio": er_now},
            {"ranging_at_or_below": lo_q, "trending_at_or_above": hi_q},
            t,
        ),
    ]


# -- Risk and Execution --------------------------------------------------------------------------------------


def value(findings: list[Finding], fid: str, key: str) -> Any:
    """One value of one finding (None when the finding or value is absent)."""
    return next((f.values.get(key) for f in findings if f.id == fid), None)


PLAYBOOK_BIAS: dict[str, tuple[Bias, str]] = {
    "A": (
        "none",
        "crowded longs (setup A): avoid late longs; a long only after a flush and reclaim, any short smaller",
    ),
    "B": (
        "none",
        "crowded shorts (setup B): do not chase breakdowns into the short clusters; a long only on a "
        "break-and-hold, invalidation tight",
    ),
    "C": (
        "none",
        "post-flush deleveraging (setup C): wait for volatility compression, a base and funding normalising",
    ),
}
PLAYBOOK_TRIGGER = {
    "A": "flush-and-reclaim",
    "B": "break-and-hold",
    "C": "base-building",
    "D": "break-and-hold",
}


def bias(read: dict[str, Any], struct: list[Finding]) -> tuple[Bias, str]:
    """The side a trade would take, and why — the setup's playbook (docs/memo.md): A, B and C stand aside until
    their trigger; D follows the trend; without a setup, stand aside unless the structure is clearly trending."""
    setup = read["setup"]
    if setup in PLAYBOOK_BIAS:
        return PLAYBOOK_BIAS[setup]
    trend, character = value(struct, "trend", "trend"), value(struct, "character", "character")
    clear = trend in ("up", "down") and character == "trending"
    if setup == "D" and clear:
        return (
            "long" if trend == "up" else "short"
        ), f"stable trend (setup D): trend-follow the {trend}trend with an invalidation"
    if setup is None and clear and abs(read["scores"]["crowding"] or 0.0) < CROWDED:
        return (
            "long" if trend == "up" else "short"
        ), f"no setup; a clear {trend}trend, positioning not crowded"
    return "none", "no setup and no clear, uncrowded trend: stand aside"


def risk(
    read: dict[str, Any],
    struct: list[Finding],
    scenarios: list[dict[str, Any]],
    side: Bias,
    cfg: ViewsConfig,
) -> list[Finding]:
    """Size from fragility; invalidation beyond the level where forced flows flip against the trade; stress."""
    c = cfg["risk"]
    t = read["data_time"]
    fragility = read["scores"]["fragility"]
    calm, floor = float(c["calm_fragility"]), float(c["floor"])
    size = (
        1.0
        if fragility is None
        else max(floor, min(1.0, 1 - (fragility - calm) / (100 - calm) * (1 - floor)))
    )
    out = [
        Finding(
            "size",
            f"Size ×{size:.2f} of normal: fragility {fragility} (×1 up to {calm:.0f}, ×{floor} at 100).",
            {"size_multiplier": size, "fragility": fragility},
            {"calm_fragility": calm, "floor": floor},
            t,
        )
    ]
    price = read["price"]
    daily_vol = value(struct, "trend", "daily_vol") or (read["volatility"]["rv_24h"] or 0) / math.sqrt(365)
    buffer = float(c["invalidation_buffer_vol"]) * daily_vol
    liq = read["liquidation"]
    if side != "none" and price:
        pocket = liq.get("nearest_below") if side == "long" else liq.get("nearest_above")
        swings = value(struct, "levels", "support" if side == "long" else "resistance") or []
        if pocket:
            level, what = (
                float(pocket["price"]),
                f"the {'long' if side == 'long' else 'short'}-liquidation pocket",
            )
        elif swings:
            level, what = float(swings[0]), f"the nearest swing {'low' if side == 'long' else 'high'}"
        else:
            level, what = (
                price * (1 - 2 * daily_vol if side == "long" else 1 + 2 * daily_vol),
                "two daily vols",
            )
        stop = level * (1 - buffer) if side == "long" else level * (1 + buffer)
        out.append(
            Finding(
                "invalidation",
                f"Invalidation {_price(stop)} ({_pct(stop / price - 1, 2)}): beyond {what} at {_price(level)}, "
                f"where forced {'selling' if side == 'long' else 'buying'} would take over.",
                {"side": side, "invalidation": stop, "level": level, "distance": stop / price - 1},
                {"buffer_daily_vol": c["invalidation_buffer_vol"]},
                t,
            )
        )
    for s in scenarios:
        cascade = s.get("cascade") or {}
        out.append(
            Finding(
                f"stress:{s['move_pct']:+.0f}%",
                f"A {s['move_pct']:+.1f} % move forces ${s['forced_usd'] / 1e6:,.1f} M of liquidations"
                + (
                    f" and cascades to {cascade['final_move_pct']:+.2f} %."
                    if cascade
                    else "; no cascade estimate (no volume-based impact)."
                ),
                {
                    "move_pct": s["move_pct"],
                    "forced_usd": s["forced_usd"],
                    "final_move_pct": cascade.get("final_move_pct"),
                },
                {},
                t,
            )
        )
    return out


def execution(
    read: dict[str, Any], struct: list[Finding], side: Bias, why: str, cfg: ViewsConfig
) -> list[Finding]:
    """Trigger (break-and-hold, reclaim, wick-and-close), timeframe, continuation vs mean reversion."""
    t = read["data_time"]
    character = value(struct, "character", "character")
    crowding = read["scores"]["crowding"] or 0.0
    mode = "continuation" if character == "trending" and abs(crowding) < CROWDED else "mean reversion"
    if read["setup"] in PLAYBOOK_TRIGGER:
        trigger = PLAYBOOK_TRIGGER[read["setup"]]
    elif read["scores"]["deleveraging"] in ("flushing", "post-flush"):
        trigger = "reclaim"
    elif mode == "continuation":
        trigger = "break-and-hold"
    else:
        trigger = "wick-and-close"
    fast = (read["volatility"]["pct_90d"] or 0.0) >= float(cfg["execution"]["fast_vol_pct"])
    timeframe = "1h" if fast else "4h"
    action = {
        "long": "look for longs",
        "short": "look for shorts",
        "none": "stand aside",
    }[side]
    return [
        Finding(
            "bias",
            f"Bias: {action} ({why}).",
            {"side": side, "setup": read["setup"], "tag": read["tag"]},
            {},
            t,
        ),
        Finding(
            "trigger",
            f"Trigger: {trigger} on the {timeframe} chart; {mode}.",
            {"trigger": trigger, "timeframe": timeframe, "mode": mode, "character": character},
            {"fast_vol_pct": cfg["execution"]["fast_vol_pct"], "crowded_abs": CROWDED},
            t,
        ),
    ]


def what_changes(read: dict[str, Any], cfg: SignalConfig, risk_view: list[Finding]) -> Finding:
    """What would change the read: the regime boundaries around the current z-scores, and the invalidation."""
    parts, values = [], {}
    for name, block in (("funding", "funding"), ("OI", "oi")):
        z = read[block]["z"]
        if z is None:
            continue
        bounds = [float(b) for b in cfg.value(block, "boundaries")]
        up = next((b for b in bounds if b > z), None)
        down = next((b for b in reversed(bounds) if b < z), None)
        sides = [
            f"above z {up:+.2f}" if up is not None else "",
            f"below z {down:+.2f}" if down is not None else "",
        ]
        parts.append(f"{name} moving {' or '.join(x for x in sides if x)} (now {z:+.2f})")
        values[f"{block}_z"], values[f"{block}_next_up"], values[f"{block}_next_down"] = z, up, down
    stop = value(risk_view, "invalidation", "invalidation")
    if stop is not None:
        parts.append(f"a close beyond {_price(stop)}")
        values["invalidation"] = stop
    text = ("The read changes with " + "; ".join(parts) + ".") if parts else "No regime boundary is in reach."
    return Finding(
        "what_changes",
        text,
        values,
        {"funding": cfg.value("funding", "boundaries"), "oi": cfg.value("oi", "boundaries")},
        read["data_time"],
    )
