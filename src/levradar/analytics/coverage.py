"""Which venues an asset's reading rests on: its main venues, the default as-of, and each row's coverage.

- **Main venues** of an asset: its largest venues that together hold at least ``main_share`` of it, by one-sided
  OI in USD where every venue of the asset has OI in the week before its newest bar, else by traded USD over that
  week (every venue has candles).
- **Default as-of**: the newest hour at which the main venues of every asset have a closed bar. An asset whose main
  venues lag the most recent asset by more than ``stale_hours`` does not hold the radar back: it is reported stale.
- **Row coverage**: at the reading's hour, which venues contributed a bar, funding and OI, which known venues
  (seen in the label window) are missing and since when, and the status: ``complete`` (every known venue has a bar),
  ``partial`` (some are missing but those present hold at least ``main_share`` of the weight) or ``stale`` (the
  main venues are missing, or no venue has a bar at the as-of hour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.series import BAR_INTERVALS
from levradar.domain.datasets import CANDLE_INTERVALS
from levradar.store import Store

WEIGHT_WINDOW = timedelta(days=7)
CLOCK_TOLERANCE = timedelta(
    minutes=15
)  # rows stamped later than now + this are not data (import rejects them)


@dataclass(frozen=True)
class AsOfChoice:
    """The default as-of and why: each asset's main venues and the newest hour they all have a bar."""

    as_of: datetime | None
    ready: dict[str, datetime]
    main: dict[str, list[str]]
    stale: dict[str, datetime]
    latest: datetime | None = None  # the newest bar close of any market: nothing exists after it

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "rule": "newest hour at which the main venues of every asset have a closed bar (docs/signals.md §1)",
            "main_venues": self.main,
            "ready": self.ready,
            "stale_assets": self.stale,
            "latest_bar": self.latest,
        }


def market_weights(
    store: Store, assets: Sequence[str] | None = None, now: datetime | None = None
) -> pl.DataFrame:
    """Per market: its newest bar close (``last_close``), OI in USD and traded USD of the week before it."""
    now = now or datetime.now(UTC)
    seconds = " ".join(f"WHEN '{k}' THEN {int(CANDLE_INTERVALS[k].total_seconds())}" for k in BAR_INTERVALS)
    intervals = ", ".join(f"'{k}'" for k in BAR_INTERVALS)
    params: list[Any] = [(now + CLOCK_TOLERANCE).replace(tzinfo=None)]
    among = ""
    if assets:
        among = f" AND asset IN ({', '.join('?' for _ in assets)})"
        params.extend(assets)
    sql = f"""
        WITH known AS (
            SELECT venue, symbol, asset, ts + to_seconds(CASE "interval" {seconds} END) AS close_t,
                   coalesce(volume_quote, volume_base * "close") AS usd
            FROM candles
            WHERE "interval" IN ({intervals}) AND ts + to_seconds(CASE "interval" {seconds} END) <= ?{among}),
        last AS (SELECT venue, symbol, any_value(asset) AS asset, max(close_t) AS last_close
                 FROM known GROUP BY venue, symbol),
        vol AS (SELECT k.venue, k.symbol, sum(k.usd) AS usd_7d FROM known k JOIN last l USING (venue, symbol)
                WHERE k.close_t > l.last_close - INTERVAL 7 DAY GROUP BY k.venue, k.symbol),
        oi AS (SELECT o.venue, o.symbol, arg_max(o.oi_usd, o.ts) AS oi_usd FROM open_interest o
               JOIN last l USING (venue, symbol)
               WHERE o.ts > l.last_close - INTERVAL 7 DAY AND o.ts <= l.last_close AND o.oi_usd IS NOT NULL
               GROUP BY o.venue, o.symbol)
        SELECT l.venue, l.symbol, l.asset, l.last_close, oi.oi_usd, vol.usd_7d
        FROM last l LEFT JOIN vol USING (venue, symbol) LEFT JOIN oi USING (venue, symbol)
        ORDER BY l.asset, l.venue, l.symbol"""
    return store.query(sql, params)


def with_weight(markets: pl.DataFrame) -> pl.DataFrame:
    """``weight``: OI in USD where every market of the asset has it, else traded USD; ``basis`` says which."""
    all_oi = (pl.col("oi_usd") > 0).fill_null(False).all().over("asset")
    return markets.with_columns(
        basis=pl.when(all_oi).then(pl.lit("oi")).otherwise(pl.lit("volume")),
        weight=pl.when(all_oi).then(pl.col("oi_usd")).otherwise(pl.col("usd_7d").fill_null(0.0)),
    )


def main_venues(weights: pl.DataFrame, share: float) -> dict[str, list[str]]:
    """Per asset: the largest venues that together hold at least ``share`` of its weight."""
    out: dict[str, list[str]] = {}
    for (asset,), part in weights.sort("asset", "weight", descending=[False, True]).group_by(
        ["asset"], maintain_order=True
    ):
        total = float(part["weight"].sum())
        chosen: list[str] = []
        held = 0.0
        for venue, weight in part.select("venue", "weight").iter_rows():
            chosen.append(str(venue))
            held += float(weight or 0.0)
            if total <= 0 or held >= share * total:
                break
        out[str(asset)] = chosen
    return out


def choose_as_of(
    store: Store, cfg: SignalConfig, assets: Sequence[str] | None = None, now: datetime | None = None
) -> AsOfChoice:
    """The default as-of (see the module docstring); ``as_of`` is None when the store has no bars at all."""
    weights = with_weight(market_weights(store, assets, now))
    if weights.is_empty():
        return AsOfChoice(None, {}, {}, {})
    share = float(cfg.value("aggregation", "main_share"))
    stale_after = timedelta(hours=float(cfg.value("aggregation", "stale_hours")))
    main = main_venues(weights, share)
    last = {(str(a), str(v)): t for a, v, t in weights.select("asset", "venue", "last_close").iter_rows()}
    ready = {asset: min(last[(asset, v)] for v in venues) for asset, venues in main.items()}
    newest = max(ready.values())
    current = {a: t for a, t in ready.items() if t >= newest - stale_after}
    stale = {a: t for a, t in ready.items() if a not in current}
    latest = weights["last_close"].max()
    assert isinstance(latest, datetime)
    return AsOfChoice(min(current.values()), ready, main, stale, latest)


def row_coverage(
    markets: pl.DataFrame, asset: str, as_of: datetime, data_time: datetime, share: float
) -> dict[str, Any]:
    """Coverage of one asset's reading at ``as_of`` from its market rows (the label window, before labelling)."""
    mine = markets.filter(pl.col("asset") == asset)
    last = mine.group_by("venue", "symbol").agg(
        pl.col("t").filter(pl.col("close").is_not_null()).max().alias("last_bar"),
        pl.col("oi_usd").drop_nulls().last().alias("oi_usd"),
        pl.col("volume_usd_24h").drop_nulls().last().alias("usd_24h"),
    )
    now = mine.filter(pl.col("t") == data_time)
    present = set(now["venue"].to_list())
    all_oi = bool(last["oi_usd"].is_not_null().all()) and last.height > 0
    weight = {
        str(v): float((oi if all_oi else vol) or 0.0)
        for v, oi, vol in last.select("venue", "oi_usd", "usd_24h").iter_rows()
    }
    total = sum(weight.values())
    held = sum(w for v, w in weight.items() if v in present)
    held_share = held / total if total > 0 else (1.0 if present else 0.0)
    missing = [
        {"venue": v, "symbol": s, "last_bar": t, "behind_h": _hours(data_time, t)}
        for v, s, t in last.filter(~pl.col("venue").is_in(list(present)))
        .select("venue", "symbol", "last_bar")
        .sort("venue")
        .iter_rows()
    ]
    if data_time < as_of or held_share < share:
        status = "stale"
    elif missing:
        status = "partial"
    else:
        status = "complete"
    return {
        "status": status,
        "data_time": data_time,
        "behind_h": _hours(as_of, data_time),
        "venues": sorted(present),
        "funding_venues": sorted(now.filter(pl.col("rate_8h").is_not_null())["venue"].to_list()),
        "oi_venues": sorted(now.filter(pl.col("oi_usd").is_not_null())["venue"].to_list()),
        "missing": missing,
        "weight_present": round(held_share, 4),
        "weight_basis": "oi" if all_oi else "volume",
    }


def _hours(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else round((later - earlier) / timedelta(hours=1), 1)
