"""The decision journal: every memo and alert kept with its input times, config hash and findings, and later
scored against what happened next (``levradar journal review``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from levradar.jsonio import dumps
from levradar.store import Store

KINDS = ("memo", "alert")
HORIZONS_H = (4, 24)
POCKET_HORIZON_H = 72


def _naive(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.astimezone(UTC).replace(tzinfo=None)


def record(store: Store, entry: dict[str, Any]) -> int:
    """Insert one entry and return its id (or the id of the same entry already kept: same kind, asset, rule,
    time and config — so a re-run never duplicates, and :func:`exists` tells whether an alert went out). An
    alert kept before takes the new delivery outcome (a retried delivery)."""
    key = [entry["kind"], entry["asset"], entry.get("rule", ""), _naive(entry["as_of"]), entry["config"]]
    found = store.con.execute(
        "SELECT id FROM journal WHERE kind = ? AND asset = ? AND rule = ? AND as_of = ? AND config = ?", key
    ).fetchall()
    if found:
        if entry.get("delivery") is not None:
            store.con.execute(
                "UPDATE journal SET delivery = ?, delivery_error = ?, findings_json = ? WHERE id = ?",
                [entry["delivery"], entry.get("delivery_error"), dumps(entry["findings"]), found[0][0]],
            )
        return int(found[0][0])
    next_id = int(store.con.execute("SELECT coalesce(max(id), 0) + 1 FROM journal").fetchall()[0][0])
    store.con.execute(
        "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            next_id,
            *key[:4],
            _naive(entry.get("data_time")),
            entry["config"],
            entry.get("side"),
            entry.get("price"),
            entry.get("tag"),
            entry.get("pocket_below"),
            entry.get("pocket_above"),
            entry.get("invalidation"),
            entry["text"],
            dumps(entry.get("findings", {})),
            entry.get("delivery"),
            entry.get("delivery_error"),
        ],
    )
    return next_id


def exists(store: Store, kind: str, asset: str, rule: str, as_of: datetime) -> bool:
    """Whether the entry is kept — for an alert, kept and not ``failed`` (a failed delivery is tried again)."""
    found = store.con.execute(
        "SELECT count(*) FROM journal WHERE kind = ? AND asset = ? AND rule = ? AND as_of = ?"
        " AND delivery IS DISTINCT FROM 'failed'",
        [kind, asset, rule, _naive(as_of)],
    ).fetchall()
    return bool(found[0][0])


def delivered_before(store: Store, asset: str, rule: str, as_of: datetime) -> list[dict[str, Any]]:
    """The per-target delivery results of an alert already journaled (empty when it is not)."""
    found = store.con.execute(
        "SELECT findings_json FROM journal WHERE kind = 'alert' AND asset = ? AND rule = ? AND as_of = ?",
        [asset, rule, _naive(as_of)],
    ).fetchall()
    return [r for row in found for r in json.loads(row[0]).get("delivered") or []]


def record_alert(store: Store, alert: dict[str, Any]) -> int:
    """Journal an alert with its delivery outcome (``alert["delivered"]``: :func:`levradar.alerts.deliver`)."""
    from levradar.alerts import delivery_status

    v = alert["values"]
    delivery, error = delivery_status(alert.get("delivered") or [])
    return record(
        store,
        {
            "kind": "alert",
            "asset": alert["asset"],
            "rule": alert["rule"],
            "as_of": alert["time"],
            "data_time": alert["time"],
            "config": alert["config"],
            "side": None,
            "price": v.get("price"),
            "tag": v.get("tag"),
            "text": alert["text"],
            "findings": alert,
            "delivery": delivery,
            "delivery_error": error,
        },
    )


def record_memo(store: Store, memo: dict[str, Any]) -> int:
    views = memo["views"]

    def val(view: str, fid: str, key: str) -> Any:
        return next((f["values"].get(key) for f in views[view] if f["id"] == fid), None)

    liq = (
        val("derivatives", "liquidations", "nearest_below"),
        val("derivatives", "liquidations", "nearest_above"),
    )
    return record(
        store,
        {
            "kind": "memo",
            "asset": memo["asset"],
            "as_of": memo["as_of"],
            "data_time": memo["inputs"]["radar_data_time"],
            "config": memo["inputs"]["config"],
            "side": memo["side"],
            "price": val("structure", "trend", "price"),
            "tag": val("execution", "bias", "tag"),
            "pocket_below": liq[0]["price"] if liq[0] else None,
            "pocket_above": liq[1]["price"] if liq[1] else None,
            "invalidation": val("risk", "invalidation", "invalidation"),
            "text": memo["text"],
            "findings": views,
        },
    )


def entries(store: Store, kind: str | None = None) -> pl.DataFrame:
    sql = "SELECT * FROM journal" + (" WHERE kind = ?" if kind else "") + " ORDER BY as_of, id"
    return store.query(sql, [kind] if kind else [])


def _outcome(store: Store, e: dict[str, Any]) -> dict[str, Any]:
    """What happened after one entry: forward returns, max adverse move, pockets hit, realised liquidations."""
    start: datetime = e["as_of"]
    price = e["price"]
    bars = store.read(
        "candles",
        assets=[e["asset"]],
        interval="1h",
        start=start,
        end=start + timedelta(hours=POCKET_HORIZON_H - 1),
    )
    if bars.is_empty() or not price:
        return {"id": e["id"], "scored": False}
    bars = bars.sort("ts").unique("ts", keep="first", maintain_order=True)  # one venue per hour is enough
    hours = (bars["ts"] - start).dt.total_hours() + 1  # hours after as_of at each bar's close
    seen = int(hours.max() or 0)  # type: ignore[arg-type]
    out: dict[str, Any] = {"id": e["id"], "scored": True, "hours_seen": seen}
    sign = {"long": 1.0, "short": -1.0}.get(e["side"] or "", 0.0)
    for h in HORIZONS_H:
        window = bars.filter(hours <= h)
        if seen < h:
            out[f"ret_{h}h"] = None
            continue
        ret = float(window["close"][-1]) / price - 1.0
        out[f"ret_{h}h"] = ret
        if sign:
            worst = float(window["low"].min()) if sign > 0 else float(window["high"].max())  # type: ignore[arg-type]
            out[f"adverse_{h}h"] = min(0.0, sign * (worst / price - 1.0))
            out[f"right_{h}h"] = sign * ret > 0
    lo, hi = float(bars["low"].min()), float(bars["high"].max())  # type: ignore[arg-type]
    out["pocket_below_hit"] = None if e["pocket_below"] is None else lo <= e["pocket_below"]
    out["pocket_above_hit"] = None if e["pocket_above"] is None else hi >= e["pocket_above"]
    if e["invalidation"] is not None and sign:
        out["invalidated"] = lo <= e["invalidation"] if sign > 0 else hi >= e["invalidation"]
    liq = store.read("liquidations", assets=[e["asset"]], start=start, end=start + timedelta(hours=24))
    out["liquidations_24h_usd"] = (
        {
            side: float(liq.filter(pl.col("liquidated_side") == side)["notional_usd"].sum())
            for side in ("long", "short")
        }
        if not liq.is_empty()
        else None  # none recorded for that window (unknown, not zero)
    )
    return out


def review(store: Store, kind: str | None = None) -> dict[str, Any]:
    """Score every journal entry against the data after it, and summarise what worked and what did not."""
    rows = entries(store, kind)
    scored = [{**e, **_outcome(store, e)} for e in rows.iter_rows(named=True)]
    done = [s for s in scored if s.get("scored")]

    def rate(flag: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        vals = [bool(s[flag]) for s in items if s.get(flag) is not None]
        return {"n": len(vals), "share": (sum(vals) / len(vals)) if vals else None}

    by_side: dict[str, Any] = {}
    for side in ("long", "short"):
        items = [s for s in done if s["side"] == side]
        adverse = [s["adverse_24h"] for s in items if s.get("adverse_24h") is not None]
        by_side[side] = {
            "entries": len(items),
            "right_24h": rate("right_24h", items),
            "invalidated_72h": rate("invalidated", items),
            "median_adverse_24h": float(sorted(adverse)[len(adverse) // 2]) if adverse else None,
        }
    return {
        "entries": len(scored),
        "scored": len(done),
        "by_side": by_side,
        "pocket_below_hit_72h": rate("pocket_below_hit", done),
        "pocket_above_hit_72h": rate("pocket_above_hit", done),
        "rows": [
            {k: s.get(k) for k in ("id", "kind", "asset", "rule", "as_of", "side", "tag", "price")}
            | {
                k: v
                for k, v in s.items()
                if k.startswith(("ret_", "adverse_", "right_", "pocket_", "invalid", "liquid"))
            }
            for s in scored
        ],
    }
