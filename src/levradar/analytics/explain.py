"""Plain-language explanations with their numbers: why a label changed, setup evidence, contradictions."""

from __future__ import annotations

from typing import Any

from levradar.analytics.config import SignalConfig
from levradar.analytics.signals import PLAYBOOKS


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:+.{digits}f} %"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.4f} %/8h"


def _z(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def why(family: str, r: dict[str, Any]) -> str:
    """Why ``family``'s label is what it is at row ``r`` (the values that put it there)."""
    if family == "funding_regime":
        return f"funding {_rate(r['rate_8h'])} is z {_z(r['funding_metric'])} against its own 90 days"
    if family == "oi_regime":
        return (
            f"OI changed {_pct(r['oi_roc_4h'])} in 4h and {_pct(r['oi_roc_24h'])} in 24h "
            f"(z {_z(r['oi_metric'])})"
        )
    if family == "vol_regime":
        rv, rv7 = r["rv_24h"], r["rv_7d"]
        if rv is None or rv7 is None:
            return "realised volatility unavailable"
        return f"24h realised volatility {rv * 100:.0f} % against {rv7 * 100:.0f} % over 7 days"
    if family == "quadrant":
        return f"price {_pct(r['ret_24h'])} and OI {_pct(r['oi_roc_24h'])} over 24h"
    if family == "deleveraging":
        return f"OI regime {r['oi_regime']} ({_pct(r['oi_roc_24h'])} in 24h)"
    return "; ".join(evidence(r)) or "no setup conditions met"


def _pocket(r: dict[str, Any], side: str) -> str:
    pct, usd = r.get(f"liq_{side}_pct"), r.get(f"liq_{side}_usd")
    if pct is None or usd is None or not r.get("rv_24h"):
        return f"no dense {side} pocket modelled at this hour"
    daily = r["rv_24h"] / 365**0.5
    return f"dense pocket {side} {pct:+.2f} % ({abs(pct) / 100 / daily:.2f} daily vols), ${usd / 1e6:,.0f}M"


def evidence(r: dict[str, Any]) -> list[str]:
    """The facts behind the row's setup, one per condition (analytics/signals.setup_conditions)."""
    setup = r.get("setup")
    funding = (
        f"funding {r['funding_regime']} for {r['funding_regime_h']} h ({_rate(r['rate_8h'])}, "
        f"z {_z(r['funding_metric'])})"
    )
    oi = f"OI {r['oi_regime']} ({_pct(r['oi_roc_24h'])} in 24h, z {_z(r.get('oi_metric'))})"
    if setup == "A":
        return [funding, oi, "long liquidations: " + _pocket(r, "below")]
    if setup == "B":
        return [funding, oi, "short liquidations: " + _pocket(r, "above")]
    if setup == "C":
        drawdown = r.get("long_book_drawdown")
        return [
            f"price {_pct(r['ret_24h'])} in 24h (z {_z(r['ret_24h_z'])}) after a sharp drop",
            f"deleveraging {r['deleveraging']}: {oi}",
            "long clusters consumed: the modelled long book is "
            + ("n/a" if drawdown is None else f"{drawdown * 100:.0f} %")
            + " below its recent high",
        ]
    if setup == "D":
        distance = r.get("liq_distance_vol")
        return [
            f"price {_pct(r['ret_24h'])} in 24h (z {_z(r['ret_24h_z'])})",
            oi,
            funding + ": positive, not extreme",
            "clusters not close: nearest dense pocket "
            + ("n/a" if distance is None else f"{distance:.2f} daily vols away"),
        ]
    return []


def playbook(setup: str | None) -> str | None:
    return PLAYBOOKS.get(setup) if setup else None


def contradictions(r: dict[str, Any]) -> list[dict[str, str]]:
    """One sentence per contradiction flagged on row ``r``, with its numbers."""
    out = []

    def add(key: str, text: str) -> None:
        if r.get(f"x_{key}"):
            out.append({"id": key, "text": text})

    # the OI regime follows the stronger of the 4h and 24h changes: say both
    oi_move = f"{_pct(r['oi_roc_4h'])} in 4h, {_pct(r['oi_roc_24h'])} in 24h"
    add(
        "extreme_funding_oi_falling",
        f"Funding is extreme positive ({_rate(r['rate_8h'])}) but OI is falling ({oi_move}): "
        "the crowd is unwinding and the trend may lose fuel.",
    )
    add(
        "stealth_build",
        f"OI is rising fast ({oi_move}) while funding stays neutral ({_rate(r['rate_8h'])}): "
        "stealth leverage build-up, hidden fragility.",
    )
    add(
        "coiled_spring",
        f"A dense liquidation pocket is {r.get('liq_proximity')} ({r.get('liq_distance_vol') or 0:.2f} daily vols away) "
        f"while volatility contracts ({(r.get('rv_24h') or 0) * 100:.0f} % vs {(r.get('rv_7d') or 0) * 100:.0f} % "
        "over 7 days): a coiled spring.",
    )
    add(
        "spot_led_move",
        f"Price moved {_pct(r['ret_24h'])} in 24h (z {_z(r['ret_24h_z'])}) with OI flat ({_pct(r['oi_roc_24h'])}): "
        "a spot-led move, often more sustainable.",
    )
    add(
        "funding_up_oi_down",
        f"Funding rose from {_rate(r.get('funding_rate_8h_24h_ago'))} to {_rate(r['rate_8h'])} in 24h while OI fell "
        f"({oi_move}): late longs paying up into an unwind.",
    )
    add(
        "venue_divergence",
        f"Funding diverges across venues (spread {_rate(r.get('funding_dispersion_8h'))}, "
        f"z {_z(r.get('funding_dispersion_8h_z'))}): positioning differs by venue.",
    )
    return out


def lsi_components(r: dict[str, Any], config: SignalConfig) -> dict[str, Any]:
    weights = config.value("lsi", "weights")
    comps = {}
    for name, weight in weights.items():
        value = r.get(f"c_{name}")
        used = isinstance(value, float) and value == value
        comps[name] = {
            "value": round(value, 4) if isinstance(value, float) and used else None,
            "weight": weight,
            "used": used,
        }
    return comps
