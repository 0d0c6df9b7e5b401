"""Alert rules over the hourly radar read: persistence, cooldown, de-duplication, delivery through apprise.

Every rule becomes a boolean condition per asset and hour (:func:`condition`); :func:`fires` turns it into alerts:
the first hour the condition has held ``persist_hours`` in a row, then nothing for ``cooldown_hours``. The same
rules run over history (``alerts replay``) and on the newest hour (``alerts check``), where a delivered alert is
kept in the journal so it is never sent twice. Rules: config/alerts.toml (docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import os
import re
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
MASK = "****"
RULES_FILE = "alerts.toml"  # in the data dir: the rules used when no --rules is given


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


def rules_path(path: str | Path | None, data_dir: Path | None) -> Path | None:
    """The rules file: ``path`` if given, else ``alerts.toml`` in the data dir if there is one, else None (the
    bundled rules)."""
    if path:
        return Path(path)
    local = data_dir / RULES_FILE if data_dir is not None else None
    return local if local is not None and local.is_file() else None


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
    floor = (
        pl.lit(float(s.get("min_usd", 0.0)))
        if "min_oi_share" not in s
        else float(s["min_oi_share"]) * pl.col("oi_usd")
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


@dataclass(frozen=True)
class Retry:
    """Attempts per delivery URL and the exponential backoff between them (with jitter, capped)."""

    attempts: int = 4
    first_wait_s: float = 2.0
    max_wait_s: float = 60.0


def _network_host(netloc: str) -> str | None:
    """``host[:port]`` of a URL's authority when the host is a network name (an IP address, ``localhost`` or a
    dotted name), else None: services such as ``tgram://`` put a token where the host goes."""
    hostport = netloc.rpartition("@")[2]
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?", hostport)
    if m is None:
        return None
    host = m.group(1).strip("[]")
    try:
        ipaddress.ip_address(host)
        return hostport
    except ValueError:
        dotted = re.fullmatch(r"([A-Za-z0-9-]+\.)+[A-Za-z]{2,}", host)
        return hostport if host == "localhost" or dotted else None


def redact(url: str) -> str:
    """A delivery URL without anything that can be a secret: the scheme and the host (when it is a network name)
    stay; user, password, token, path and query become ``****`` (``tgram://****/****``,
    ``json://****@127.0.0.1:8080/****``). apprise's own ``url(privacy=True)`` keeps paths, header values and the
    ends of tokens, so it is not used."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return MASK
    netloc, _, tail = _split(rest)
    host = _network_host(netloc)
    user = f"{MASK}@" if host is not None and "@" in netloc else ""
    return f"{scheme}://{user}{host or MASK}" + (f"/{MASK}" if tail.strip("/?#") else "")


def _split(rest: str) -> tuple[str, str, str]:
    """A URL after ``scheme://`` as (authority, the separator after it, the rest from that separator)."""
    m = re.search(r"[/?#]", rest)
    return (rest, "", "") if m is None else (rest[: m.start()], m.group(), rest[m.start() :])


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a delivery error) with every part of ``url`` that :func:`redact` masks replaced by
    ``****``: each run of 4+ characters between the URL's separators, except the scheme and a network host."""
    scheme, _, rest = url.strip().partition("://")
    netloc = _split(rest)[0]
    keep = {scheme, *(re.split(r"[:\[\]]", _network_host(netloc) or ""))}
    parts = sorted({p for p in re.split(r"[/:@?&=#]+", rest) if len(p) >= 4 and p not in keep}, key=len)
    text = text.replace(url, redact(url))
    for part in reversed(parts):  # the longest first, so a part inside another does not leave a tail
        text = text.replace(part, MASK)
    return text


class _Scrub(logging.Filter):
    """apprise's log lines with the secrets of ``urls`` masked (its DEBUG lines carry whole URLs, tokens and all)."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.urls = urls

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for url in self.urls:
            text = scrub(text, url)
        record.msg, record.args = text, None
        return True


def deliver(alert: dict[str, Any], urls: list[str], retry: Retry = Retry()) -> list[dict[str, Any]]:
    """Send one alert to each URL through apprise (the JSON webhook gets the alert JSON as its message). One
    result per URL, in order: ``target`` (redacted), ``status`` ``sent`` or ``failed``, ``attempts`` and, when
    failed, the last ``error`` (redacted too): never the URL itself, which carries tokens — not in a log either."""
    apprise_log, guard = logging.getLogger("apprise"), _Scrub(urls)
    apprise_log.addFilter(guard)
    try:
        return [_deliver_one(alert, url, retry) for url in urls]
    finally:
        apprise_log.removeFilter(guard)


def _deliver_one(alert: dict[str, Any], url: str, retry: Retry) -> dict[str, Any]:
    import apprise  # only when something is sent

    notifier = apprise.Apprise()
    if not notifier.add(url):
        why = "not a URL apprise can use (check the scheme and its fields)"
        return {"target": redact(url), "status": "failed", "attempts": 0, "error": why}
    body = dumps(alert) if url.startswith(JSON_SCHEMES) else alert["text"]
    attempts, error = _send(notifier, alert["title"], body, retry)
    out: dict[str, Any] = {
        "target": redact(url),
        "status": "failed" if error else "sent",
        "attempts": attempts,
    }
    if error:
        out["error"] = scrub(error, url)
    return out


def _send(notifier: Any, title: str, body: str, retry: Retry) -> tuple[int, str | None]:
    """Notify, retrying a failure with exponential backoff (tenacity) until it goes through or the attempts run
    out: the attempts made and the last failure's reason (None once sent)."""
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

    attempts, errors = 0, []

    def once() -> bool:
        nonlocal attempts
        attempts += 1
        result = notifier.notify(title=title, body=body)
        if not result:
            errors.append("; ".join(e.message for e in result.logs()) or "the service refused it")
        return bool(result)

    sent = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            multiplier=retry.first_wait_s, max=retry.max_wait_s, jitter=retry.first_wait_s
        ),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda state: False,
    )(once)
    return attempts, None if sent else errors[-1]


def delivery_status(results: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The journal's ``delivery`` of one alert — ``sent`` (every target took it), ``failed`` (one did not) or
    ``none`` (no target configured) — and the failures' reasons."""
    if not results:
        return "none", None
    failed = [f"{r['target']}: {r.get('error') or 'failed'}" for r in results if r["status"] != "sent"]
    return ("failed", "; ".join(failed)) if failed else ("sent", None)


def parse_delivered(message: str) -> dict[str, Any]:
    """The alert inside a JSON-webhook message (what a receiver does with apprise's payload ``message``)."""
    data = json.loads(message)
    if not isinstance(data, dict) or data.get("levradar_alert") != 1:
        raise ValueError("not a levradar alert")
    return data
