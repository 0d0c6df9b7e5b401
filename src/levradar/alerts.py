"""Alert rules over the hourly radar read: persistence, cooldown, de-duplication, delivery through apprise.

Every rule becomes a boolean condition per asset and hour (:func:`condition`); :func:`fires` turns it into alerts:
the first hour the condition has held ``persist_hours`` in a row, then nothing for ``cooldown_hours``. The same
rules run over history (``alerts replay``) and on the newest hour (``alerts check``), where a delivered alert is
kept in the journal so it is never sent twice. Rules: config/alerts.toml (docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from levradar.jsonio import dumps

KINDS = ("match", "transition", "cross", "pocket")
JSON_SCHEMES = ("json://", "jsons://")


class AlertConfigError(ValueError):
    """A rule that cannot be evaluated as written."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    title: str
    spec: dict[str, Any]
    persist_hours: int = 1
    cooldown_hours: int = 0


@dataclass(frozen=True)
class AlertConfig:
    rules: list[Rule]
    urls: list[str]
    digest: str
    skipped: list[str] = field(default_factory=list)


def load_alert_config(path: str | Path | None = None) -> AlertConfig:
    where = str(path or "config/alerts.toml")
    try:
        text = (
            Path(path).read_text()
            if path
            else (resources.files("levradar.config") / "alerts.toml").read_text(encoding="utf-8")
        )
    except OSError as exc:
        raise AlertConfigError(f"cannot read the rules file {where}: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AlertConfigError(f"{where}: {exc}") from None
    rules = []
    for i, r in enumerate(raw.get("rule", [])):
        rid = str(r.get("id") or f"rule-{i + 1}")
        kind = r.get("kind")
        if kind not in KINDS:
            raise AlertConfigError(
                f"{where}: rule {rid!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}"
            )
        needs = {
            "match": ("when",),
            "transition": ("family", "to"),
            "cross": ("metric",),
            "pocket": (),
        }
        missing = [k for k in needs[kind] if k not in r]
        if kind == "cross" and not ({"above", "below"} & set(r)):
            missing.append("above or below")
        if kind == "pocket" and len({"within_pct", "within_vol"} & set(r)) != 1:
            missing.append("within_pct or within_vol (one of them)")
        if missing:
            raise AlertConfigError(f"{where}: rule {rid!r} ({kind}) needs {', '.join(missing)}")
        spec = {
            k: v for k, v in r.items() if k not in ("id", "kind", "title", "persist_hours", "cooldown_hours")
        }
        rules.append(
            Rule(
                rid,
                kind,
                str(r.get("title") or rid),
                spec,
                max(1, int(r.get("persist_hours", 1))),
                max(0, int(r.get("cooldown_hours", 0))),
            )
        )
    if len({r.id for r in rules}) != len(rules):
        raise AlertConfigError(f"{where}: rule ids must be unique")
    env_urls = [u.strip() for u in os.environ.get("LEVRADAR_ALERT_URLS", "").split(",") if u.strip()]
    urls = list(raw.get("delivery", {}).get("urls", [])) + env_urls
    return AlertConfig(rules, urls, hashlib.sha256(text.encode()).hexdigest()[:12])


def _test(col: str, want: Any) -> pl.Expr:
    if isinstance(want, dict):
        expr = pl.lit(True)
        if "above" in want:
            expr = expr & (pl.col(col) > float(want["above"]))
        if "below" in want:
            expr = expr & (pl.col(col) < float(want["below"]))
        return expr
    same: pl.Expr = pl.col(col) == want
    return same


def condition(rule: Rule, hours: pl.DataFrame) -> pl.Series:
    """Per row of one asset's hourly frame (sorted by ``t``): does the rule's condition hold?"""
    s = rule.spec
    if rule.kind == "match":
        unknown = [c for c in s["when"] if c not in hours.columns]
        if unknown:
            raise AlertConfigError(f"rule {rule.id!r}: unknown field(s) {', '.join(unknown)}")
        expr = pl.lit(True)
        for col, want in s["when"].items():
            expr = expr & _test(col, want)
    elif rule.kind == "transition":
        family = s["family"]
        if family not in hours.columns:
            raise AlertConfigError(f"rule {rule.id!r}: unknown family {family!r}")
        expr = pl.col(family) == s["to"]
        if "from" in s:  # the run must start right after the `from` label
            run_start = expr & (pl.col(family).shift(1) != s["to"])
            came_from = pl.when(run_start).then(pl.col(family).shift(1) == s["from"])
            expr = expr & came_from.forward_fill().fill_null(False)
    elif rule.kind == "cross":
        metric = s["metric"]
        if metric not in hours.columns:
            raise AlertConfigError(f"rule {rule.id!r}: unknown metric {metric!r}")
        expr = pl.col(metric) >= float(s["above"]) if "above" in s else pl.col(metric) <= float(s["below"])
    else:
        expr = _pocket_near(rule, hours)
    return hours.select(expr.fill_null(False).alias("c"))["c"]


def _pocket_near(rule: Rule, hours: pl.DataFrame) -> pl.Expr:
    """A dense pocket on either side within ``within_pct`` % (or ``within_vol`` daily vols) of the price, holding
    at least ``min_usd`` (or ``min_oi_share`` of the asset's one-sided OI): from the hourly proximity columns."""
    s = rule.spec
    needed = ["liq_below_pct", "liq_above_pct", "liq_below_usd", "liq_above_usd", "rv_24h", "oi_usd"]
    missing = [c for c in needed if c not in hours.columns]
    if missing:
        raise AlertConfigError(f"rule {rule.id!r}: the hourly read lacks {', '.join(missing)}")
    daily_pct = pl.col("rv_24h") / math.sqrt(365.0) * 100.0
    reach = pl.lit(float(s["within_pct"])) if "within_pct" in s else float(s["within_vol"]) * daily_pct
    floor = pl.lit(float(s.get("min_usd", 0.0))) if "min_oi_share" not in s else float(s["min_oi_share"]) * pl.col(
        "oi_usd"
    )
    near = pl.lit(False)
    for side in ("below", "above"):
        pct, usd = pl.col(f"liq_{side}_pct"), pl.col(f"liq_{side}_usd")
        near = near | ((pct.abs() <= reach) & (usd >= floor)).fill_null(False)
    return near


def fires(rule: Rule, hours: pl.DataFrame) -> list[int]:
    """Row indices where the rule fires: held ``persist_hours`` in a row (the condition was not yet held that
    long the hour before), and no earlier fire within ``cooldown_hours``. Hours must be consecutive."""
    held = condition(rule, hours).to_list()
    times = hours["t"].to_list()
    out: list[int] = []
    run = 0
    onset_seen = False  # a run already under way at the first hour (or after a gap) has no known onset
    last: datetime | None = None
    for i, ok in enumerate(held):
        gap = i == 0 or times[i] - times[i - 1] != timedelta(hours=1)
        if not ok:
            run, onset_seen = 0, True
            continue
        if gap:
            run, onset_seen = 1, False
        else:
            run = run + 1 if run else 1
        if (
            onset_seen
            and run == rule.persist_hours
            and (last is None or times[i] - last >= timedelta(hours=rule.cooldown_hours))
        ):
            out.append(i)
            last = times[i]
    return out


def alert_payload(rule: Rule, row: dict[str, Any], config_digest: str) -> dict[str, Any]:
    """The documented JSON of one alert (docs/alerts.md)."""
    values = {
        k: row.get(k)
        for k in (
            "price",
            "tag",
            "funding_regime",
            "rate_8h",
            "oi_regime",
            "oi_roc_4h",
            "oi_roc_24h",
            "deleveraging",
            "crowding",
            "fragility",
            "lsi",
            "oi_usd",
            "rv_24h",
            "liq_proximity",
            "liq_below_pct",
            "liq_below_usd",
            "liq_above_pct",
            "liq_above_usd",
        )
        if k in row
    }
    when: datetime = row["t"]
    return {
        "levradar_alert": 1,
        "id": f"{rule.id}:{row['asset']}:{when:%Y-%m-%dT%H:%MZ}",
        "rule": rule.id,
        "kind": rule.kind,
        "title": f"{row['asset']}: {rule.title}",
        "asset": row["asset"],
        "time": when,
        "persist_hours": rule.persist_hours,
        "values": values,
        "text": _text(rule, row),
        "config": config_digest,
    }


def _text(rule: Rule, row: dict[str, Any]) -> str:
    parts = [f"{row['asset']} at {row['t']:%Y-%m-%d %H:%M} UTC: {rule.title}."]
    if row.get("price") is not None:
        parts.append(f"Price {row['price']:,.6g}.")
    labels = [
        f"{k.replace('_', ' ')} {row[k]}"
        for k in ("funding_regime", "oi_regime", "deleveraging")
        if row.get(k)
    ]
    if labels:
        parts.append("; ".join(labels) + ".")
    if row.get("lsi") is not None:
        parts.append(f"LSI {row['lsi']:.0f}, fragility {row.get('fragility') or 0:.0f}.")
    return " ".join(parts)


def evaluate(config: AlertConfig, frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Every alert the rules give over each asset's hourly frame, in time order."""
    out = []
    for asset, hours in frames.items():
        ordered = hours.sort("t")
        rows = ordered.to_dicts()
        for rule in config.rules:
            for i in fires(rule, ordered):
                out.append(alert_payload(rule, {**rows[i], "asset": asset}, config.digest))
    return sorted(out, key=lambda a: (a["time"], a["asset"], a["rule"]))


def deliver(alert: dict[str, Any], urls: list[str]) -> dict[str, bool]:
    """Send one alert to each URL through apprise; the JSON webhook gets the alert JSON as its message."""
    import apprise  # only when something is sent

    results = {}
    for url in urls:
        notifier = apprise.Apprise()
        if not notifier.add(url):
            results[url] = False
            continue
        body = dumps(alert) if url.startswith(JSON_SCHEMES) else alert["text"]
        results[url] = bool(notifier.notify(title=alert["title"], body=body))
    return results


def parse_delivered(message: str) -> dict[str, Any]:
    """The alert inside a JSON-webhook message (what a receiver does with apprise's payload ``message``)."""
    data = json.loads(message)
    if not isinstance(data, dict) or data.get("levradar_alert") != 1:
        raise ValueError("not a levradar alert")
    return data
