"""The Python API for notebooks: ``lr.open(data_dir)`` gives a read-only :class:`Radar` over a store.

Every method reads as of a point in time (default: the store's newest complete hour, the CLI's rule) and returns a
polars DataFrame or a small frozen dataclass whose ``to_json()`` is what ``levradar <command> --json`` prints.
Nothing is written unless asked: ``memo(journal=True)`` keeps the memo in the journal, ``evaluate(save_models=True)``
saves the squeeze models that later scans then use. See docs/python-api.md.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from levradar.analytics.config import SignalConfig, load_config
from levradar.analytics.coverage import choose_as_of
from levradar.analytics.heatmap import AssetHeatmap, HeatmapConfig, load_heatmap_config
from levradar.analytics.prints import Prints
from levradar.cli_support import parse_time
from levradar.jsonio import dumps
from levradar.store import Store, StoreError

TimeLike = datetime | str
NO_BARS = "the store holds no 1h, 4h, 8h or 1d candles: import or sync price data first"


class RadarError(ValueError):
    """A question the store cannot answer: an unknown asset, a time outside the data, a bad argument."""


def to_time(value: TimeLike | None, name: str = "as_of") -> datetime | None:
    """A datetime or an ISO 8601 text as an aware UTC datetime (a naive one is UTC); None stays None."""
    if not isinstance(value, datetime):
        return parse_time(value, name)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def store_assets(store: Store) -> list[str]:
    """Every asset the store has candles of, sorted."""
    return [
        str(a) for a in store.query("SELECT DISTINCT asset FROM candles ORDER BY asset")["asset"].to_list()
    ]


def known_assets(store: Store, names: Sequence[str]) -> list[str]:
    """``names`` as the store spells them (case-insensitive: btc → BTC, kpepe → kPEPE); an unknown one is an
    error listing what the store has."""
    have = store_assets(store)
    spelled = {a.upper(): a for a in have}
    unknown = [n for n in names if n.strip().upper() not in spelled]
    if unknown:
        close = [m for n in unknown for m in difflib.get_close_matches(n.strip().upper(), list(spelled), n=1)]
        hint = f" (did you mean {', '.join(spelled[c] for c in close)}?)" if close else ""
        raise RadarError(
            f"unknown asset {', '.join(unknown)}{hint}; the store has: {', '.join(have) or 'none'}"
        )
    return [spelled[n.strip().upper()] for n in names]


def as_of_rule(
    store: Store, given: datetime | None, cfg: SignalConfig, assets: Sequence[str] | None = None
) -> tuple[datetime, dict[str, Any]]:
    """The as-of to read at and how it was chosen: ``given`` (an error when it is after the newest bar of any
    market: nothing exists there yet), else the newest hour at which the main venues of every asset (of
    ``assets``) have a closed bar."""
    choice = choose_as_of(store, cfg, list(assets) if assets else None)
    if choice.as_of is None or choice.latest is None:
        raise StoreError(NO_BARS)
    if given is None:
        return choice.as_of, choice.to_json()
    if given > choice.latest:
        raise RadarError(
            f"as_of {given:%Y-%m-%d %H:%M} UTC is after the newest data in the store "
            f"({choice.latest:%Y-%m-%d %H:%M} UTC)"
        )
    return given, {"as_of": given, "rule": "given"}


def check_move(move: float) -> float:
    """A scenario move as a signed fraction (-0.02 is −2 %): the one rule of the CLI, the HTTP API and the agents'
    tools (``analytics.scenario.check_move``)."""
    from levradar.analytics.scenario import check_move as rule

    try:
        return float(rule(move))
    except ValueError as exc:
        raise RadarError(str(exc)) from None


def _json(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON values: times as ISO 8601 with Z, NaN as None (the CLI's --json encoding)."""
    out: dict[str, Any] = json.loads(dumps(data))
    return out


@dataclass(frozen=True)
class Scan:
    """The radar as of ``as_of``: ``assets`` one row per asset (sorted by LSI), ``venues`` one row per asset and
    venue with its venue and unified symbols; :meth:`read` is one asset's full read."""

    as_of: datetime
    as_of_rule: Mapping[str, Any]
    assets: pl.DataFrame
    venues: pl.DataFrame
    reads: Mapping[str, Mapping[str, Any]] = field(repr=False)

    def read(self, asset: str) -> dict[str, Any]:
        """One asset's full read, as ``levradar scan --json`` prints it."""
        name = next((a for a in self.reads if a.upper() == asset.strip().upper()), None)
        if name is None:
            raise RadarError(f"no read for {asset!r} in this scan; it has: {', '.join(self.reads) or 'none'}")
        return _json(self.reads[name])

    def to_json(self) -> dict[str, Any]:
        return _json(
            {"as_of": self.as_of, "as_of_rule": self.as_of_rule, "assets": list(self.reads.values())}
        )


def _pocket(read: Mapping[str, Any], side: str) -> dict[str, float | None]:
    pocket = read["liquidation"].get(f"nearest_{side}") or {}
    return {
        f"liq_{side}_price": pocket.get("price"),
        f"liq_{side}_pct": pocket.get("distance_pct"),
        f"liq_{side}_usd": pocket.get("usd"),
    }


def asset_row(read: Mapping[str, Any]) -> dict[str, Any]:
    """One scan read as a flat row; the columns share :func:`levradar.analytics.scan.history`'s names."""
    f, oi, vol, s, liq = read["funding"], read["oi"], read["volatility"], read["scores"], read["liquidation"]
    return {
        "asset": read["asset"],
        "data_time": read["data_time"],
        "coverage": read["coverage"]["status"],
        "price": read["price"],
        "price_venue": read["price_venue"],
        "ret_4h": read["returns"]["ret_4h"],
        "ret_24h": read["returns"]["ret_24h"],
        "rate_8h": f["rate_8h"],
        "apr": f["apr"],
        "funding_pct_90d": f["pct_90d"],
        "funding_z": f["z"],
        "funding_regime": f["regime"],
        "oi_usd": oi["usd"],
        "oi_roc_4h": oi["roc_4h"],
        "oi_roc_24h": oi["roc_24h"],
        "oi_pct_90d": oi["pct_90d"],
        "oi_regime": oi["regime"],
        "rv_24h": vol["rv_24h"],
        "rv_7d": vol["rv_7d"],
        "vol_regime": vol["regime"],
        "quadrant": read["quadrant"],
        "liq_proximity": liq["proximity"],
        "liq_distance_vol": liq.get("distance_in_daily_vol"),
        **_pocket(read, "below"),
        **_pocket(read, "above"),
        "crowding": s["crowding"],
        "fragility": s["fragility"],
        "squeeze_long": s["squeeze_long"],
        "squeeze_short": s["squeeze_short"],
        "deleveraging": s["deleveraging"],
        "tradeability": s["tradeability"],
        "lsi": s["lsi"],
        "setup": read["setup"],
        "tag": read["tag"],
        "contradiction_count": len(read["contradictions"]),
    }


def venue_rows(read: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One scan read's venues as flat rows (funding per 8h and APR, OI in USD)."""
    out = []
    for v in read["venues"]:
        f, predicted = v["funding"], v["funding"].get("predicted") or {}
        out.append(
            {
                "asset": read["asset"],
                "venue": v["venue"],
                "symbol": v["symbol"],
                "symbol_unified": v["symbol_unified"],
                "price": v["price"],
                "rate_8h": f["rate_8h"],
                "apr": f["apr"],
                "funding_weight": f["weight"],
                "funding_outlier": f["outlier"],
                "predicted_rate_8h": predicted.get("rate_8h"),
                "oi_usd": v["oi"]["usd"],
                "oi_share": v["oi"]["share"],
                "oi_roc_4h": v["oi"]["roc_4h"],
                "oi_roc_24h": v["oi"]["roc_24h"],
                "oi_regime": v["oi"]["regime"],
                "basis": v.get("basis"),
                "quadrant": v["quadrant"],
                "tag": v["tag"],
            }
        )
    return out


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


@dataclass(frozen=True)
class HeatmapRead:
    """The modelled liquidation map of one asset as of ``as_of``: ``buckets`` (price, long_usd below the price,
    short_usd above it) near the price, ``cumulative`` USD within each range, the nearest pockets and the outlook;
    ``grid`` (with ``grid=True``) the price × time picture, one row per hour and bucket (USD per bucket)."""

    asset: str
    as_of: datetime
    price: float
    venues: tuple[str, ...]
    buckets: pl.DataFrame
    cumulative: pl.DataFrame
    summary: Mapping[str, Any] = field(repr=False)
    grid: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def nearest_above(self) -> dict[str, Any] | None:
        """The nearest dense pocket of short liquidations above the price (price, distance_pct, usd, ...)."""
        pocket = self.summary["nearest_above"]
        return None if pocket is None else _json(pocket)

    @property
    def nearest_below(self) -> dict[str, Any] | None:
        """The nearest dense pocket of long liquidations below the price."""
        pocket = self.summary["nearest_below"]
        return None if pocket is None else _json(pocket)

    @property
    def measured(self) -> list[dict[str, Any]]:
        """Per venue with a snapshot in the 6 h up to ``as_of`` (asked with ``measured=True``): the measured
        positions on the model's buckets, their pockets, cumulative USD and coverage; empty otherwise."""
        entries: list[dict[str, Any]] = json.loads(dumps(self.summary.get("measured") or []))
        return entries

    def to_json(self) -> dict[str, Any]:
        """``levradar heatmap --json`` (``--measured`` when asked) without the grid."""
        return _json(self.summary)


@dataclass(frozen=True)
class Scenarios:
    """What each move liquidates (``table``: one row per move) and the full results (``to_json``)."""

    asset: str
    as_of: datetime
    price: float
    table: pl.DataFrame
    result: Mapping[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """``levradar scenario --json``."""
        return _json(self.result)


@dataclass(frozen=True)
class Memo:
    """The trade memo: ``text``, the ``side`` it leans to, every finding behind it (``findings``: view, id, text,
    data_time), and ``journal_id`` when it was kept in the journal."""

    asset: str
    as_of: datetime
    side: str
    text: str
    findings: pl.DataFrame
    result: Mapping[str, Any] = field(repr=False)
    journal_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``levradar memo --json``."""
        out = dict(self.result)
        if self.journal_id is not None:
            out["journal_id"] = self.journal_id
        return _json(out)


@dataclass(frozen=True)
class Evaluation:
    """Walk-forward evaluation: ``states`` (one row per state, group and outcome: effect, interval, p, q),
    ``events`` (the stress events' readings before them, flattened) and the full ``result``."""

    period: tuple[datetime, datetime]
    assets: tuple[str, ...]
    states: pl.DataFrame
    events: pl.DataFrame
    result: Mapping[str, Any] = field(repr=False)

    def markdown(self) -> str:
        """The report ``levradar evaluate`` prints without --json."""
        from levradar.evaluation import report

        return report.markdown(dict(self.result))

    def to_json(self) -> dict[str, Any]:
        return _json(self.result)


@dataclass(frozen=True)
class HeatmapRun:
    """One run of the heatmap model, its real liquidation prints and ``body``: what ``levradar heatmap --json``
    prints of it (without the grid)."""

    model: AssetHeatmap
    prints: Prints
    body: dict[str, Any]


def heatmap_report(
    store: Store,
    asset: str,
    as_of: datetime,
    *,
    days: int,
    venue: str | None,
    cfg: HeatmapConfig,
    grid: bool,
    measured: bool = False,
) -> HeatmapRun:
    """The model run over ``days`` before ``as_of`` (every hour's row with ``grid``), its summary and outlook, and
    the real liquidation prints over the map's window as known at ``as_of`` (one venue's with ``venue``); with
    ``measured``, the measured positions of the 6 h up to ``as_of`` on the model's buckets (``body["measured"]``)."""
    from levradar.analytics.heatmap import asset_heatmap, report
    from levradar.analytics.prints import liquidation_prints

    ah = asset_heatmap(store, asset, as_of, days=days, venue=venue, cfg=cfg, grid=grid)
    prints = liquidation_prints(store, asset, ah.map, as_of, venues=[venue] if venue else None)
    body: dict[str, Any] = report(asset, as_of, ah, cfg, days, prints.to_json())
    if measured:
        from levradar.analytics.measured import beside_model

        body["measured"] = beside_model(store, asset, as_of, ah.map, cfg, venue)
    return HeatmapRun(ah, prints, body)


def _grid_frame(grid: Mapping[str, Any]) -> pl.DataFrame:
    """``grid_json``'s matrices as a long frame: t, price (bucket centre, USD), close, long_usd, short_usd."""
    hours = len(grid["times"])
    return pl.DataFrame(
        {
            "t": grid["times"],
            "price": [grid["prices"]] * hours,
            "close": grid["close"],
            "long_usd": grid["long_usd"],
            "short_usd": grid["short_usd"],
        },
        schema_overrides={"close": pl.Float64},
    ).explode("price", "long_usd", "short_usd")


class Radar:
    """A read-only view of one store. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        signal_config: SignalConfig | None = None,
        heatmap_config: HeatmapConfig | None = None,
    ) -> None:
        directory = Path(data_dir).expanduser()
        self.data_dir = directory
        self.store = Store(directory, read_only=True)  # a folder without a store: StoreError, nothing created
        self.signal_config = signal_config or load_config()
        self.heatmap_config = heatmap_config or load_heatmap_config()
        if not store_assets(self.store):
            self.store.close()
            raise StoreError(f"the store at {directory} holds no candles: {NO_BARS}")

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Radar:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _writable(self) -> Iterator[Store]:
        """The store opened for one write. DuckDB keeps one configuration per file in a process, so the read-only
        connection is closed meanwhile and reopened after."""
        self.store.close()
        try:
            with Store(self.data_dir) as writer:
                yield writer
        finally:
            self.store = Store(self.data_dir, read_only=True)

    def __repr__(self) -> str:
        return f"Radar({str(self.data_dir)!r})"

    # -- shared glue --------------------------------------------------------------------------------------

    def assets(self) -> list[str]:
        """Every asset the store holds."""
        return store_assets(self.store)

    def asset_name(self, asset: str) -> str:
        return known_assets(self.store, [asset])[0]

    def as_of_rule(
        self, as_of: TimeLike | None = None, assets: Sequence[str] | None = None
    ) -> tuple[datetime, dict[str, Any]]:
        """The as-of to read at and how it was chosen (:func:`as_of_rule`)."""
        return as_of_rule(self.store, to_time(as_of), self.signal_config, assets)

    def when(self, as_of: TimeLike | None = None) -> datetime:
        return self.as_of_rule(as_of)[0]

    # -- reads --------------------------------------------------------------------------------------------

    def scan(self, as_of: TimeLike | None = None, assets: Sequence[str] | None = None) -> Scan:
        """The radar as of ``as_of`` (default: the newest complete hour) for ``assets`` (default: all)."""
        from levradar.analytics.scan import scan

        names = known_assets(self.store, assets) if assets else None
        when, rule = self.as_of_rule(as_of, names)
        reads = scan(self.store, when, names, self.signal_config)
        if not reads:
            raise RadarError(f"no radar read as of {when:%Y-%m-%d %H:%M} UTC: no price history before it")
        return Scan(
            when,
            rule,
            _frame([asset_row(r) for r in reads]),
            _frame([v for r in reads for v in venue_rows(r)]),
            {r["asset"]: r for r in reads},
        )

    def history(self, asset: str, start: TimeLike, end: TimeLike | None = None) -> pl.DataFrame:
        """Hourly labels and scores of ``asset`` from ``start`` to ``end`` (default: the newest data), each hour
        as it was known then."""
        from levradar.analytics.scan import history

        name = self.asset_name(asset)
        first = to_time(start, "start")
        assert first is not None
        last = self.when(end)
        if first > last:
            raise RadarError(
                f"start {first:%Y-%m-%d %H:%M} UTC is after the end {last:%Y-%m-%d %H:%M} UTC"
                + ("" if end is not None else " (the newest data)")
            )
        frame = history(self.store, name, first, last, self.signal_config)
        if frame.is_empty():
            raise RadarError(
                f"no data for {name} between {first:%Y-%m-%d %H:%M} and {last:%Y-%m-%d %H:%M} UTC"
            )
        return frame

    def heatmap(
        self,
        asset: str,
        as_of: TimeLike | None = None,
        venue: str | None = None,
        days: int = 90,
        *,
        grid: bool = False,
        measured: bool = False,
    ) -> HeatmapRead:
        """The modelled liquidation map of ``asset`` over ``days`` of history before ``as_of`` (every venue with
        OI summed, or one ``venue``); with ``grid``, the price × time picture too; with ``measured``, the measured
        positions of the 6 h up to ``as_of`` on the model's buckets (``.measured``, as ``heatmap --measured``)."""
        from levradar.analytics.heatmap import grid_json

        if not 1 <= days <= 730:
            raise RadarError(f"days must be between 1 and 730, got {days}")
        name, when = self.asset_name(asset), self.when(as_of)
        run = heatmap_report(
            self.store,
            name,
            when,
            days=days,
            venue=venue,
            cfg=self.heatmap_config,
            grid=grid,
            measured=measured,
        )
        ah, out = run.model, run.body
        cumulative = [{"range_pct": float(k.rstrip("%")), **v} for k, v in out["cumulative"].items()]
        return HeatmapRead(
            name,
            when,
            float(out["price"]),
            tuple(ah.venues),
            pl.DataFrame(
                out["buckets"], schema={"price": pl.Float64, "long_usd": pl.Float64, "short_usd": pl.Float64}
            ),
            _frame(cumulative),
            out,
            _grid_frame(grid_json(ah.map, self.heatmap_config)) if grid else None,
        )

    def scenario(
        self,
        asset: str,
        moves: Sequence[float] = (-0.02, 0.01),
        as_of: TimeLike | None = None,
        venue: str | None = None,
        days: int = 90,
    ) -> Scenarios:
        """What each price move (a signed fraction: -0.02 is −2 %) liquidates, and whether the forced flow
        cascades into the next pockets."""
        from levradar.analytics.heatmap import asset_heatmap, book
        from levradar.analytics.scenario import scenario

        changes = [check_move(m) for m in moves]
        if not changes:
            raise RadarError("give at least one move")
        name, when = self.asset_name(asset), self.when(as_of)
        ah = asset_heatmap(
            self.store, name, when, days=days, venue=venue, cfg=self.heatmap_config, grid=False
        )
        current = book(ah.map, self.heatmap_config)
        results = [scenario(current, m, ah.impact_per_usd, ah.stress_impact) for m in changes]
        table = _frame(
            [
                {
                    "move_pct": r["move_pct"],
                    "target_price": r["target_price"],
                    "forced_usd": r["forced_usd"],
                    "pockets_hit": len(r["pockets_hit"]),
                    "cascade_move_pct": (r["cascade"] or {}).get("final_move_pct"),
                    "cascade_forced_usd": (r["cascade"] or {}).get("forced_usd_total"),
                    "stress_move_pct": (r["cascade_stress"] or {}).get("final_move_pct"),
                    "stress_forced_usd": (r["cascade_stress"] or {}).get("forced_usd_total"),
                }
                for r in results
            ]
        )
        result = {
            "asset": name,
            "as_of": when,
            "price": ah.map.price,
            "venues": ah.venues,
            "venues_skipped": ah.skipped,
            "scenarios": results,
        }
        return Scenarios(name, when, float(ah.map.price), table, result)

    def memo(self, asset: str, as_of: TimeLike | None = None, *, journal: bool = False) -> Memo:
        """The plain-language memo from the four views; kept in the decision journal only with ``journal``."""
        from levradar.analytics.memo import memo
        from levradar.journal import record_memo

        out = memo(self.store, self.asset_name(asset), self.when(as_of))
        journal_id = None
        if journal:
            with self._writable() as writer:
                journal_id = record_memo(writer, out)
        findings = _frame(
            [
                {"view": view, "id": f["id"], "text": f["text"], "data_time": f["data_time"]}
                for view, items in out["views"].items()
                for f in items
            ]
        )
        return Memo(out["asset"], out["as_of"], out["side"], out["text"], findings, out, journal_id)

    def evaluate(
        self,
        assets: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        train_share: float = 0.4,
        save_models: bool = False,
    ) -> Evaluation:
        """Walk-forward evaluation of every signal and state over ``start``–``end`` (default: all the store
        holds). ``save_models`` saves the squeeze models that beat the rules, which later scans then use."""
        from levradar.evaluation import report

        if not 0.1 <= train_share <= 0.9:
            raise RadarError(f"train_share must be between 0.1 and 0.9, got {train_share}")
        names = known_assets(self.store, assets) if assets else store_assets(self.store)
        first = to_time(start, "start") or self.store.query("SELECT min(ts) AS t FROM candles")["t"][0]
        last = self.when(end)
        result = report.run(self.data_dir, names, first, last, train_share=train_share, save=save_models)
        return Evaluation(
            (first, last),
            tuple(result["assets"]),
            _frame(result["states"]["rows"]),
            pl.json_normalize(json.loads(dumps(result["events"])), separator="_")
            if result["events"]
            else pl.DataFrame(),
            result,
        )


def open(data_dir: str | os.PathLike[str] | None = None) -> Radar:
    """A read-only :class:`Radar` over the store in ``data_dir`` (default: $LEVRADAR_DATA_DIR, else the user's
    data dir); an error when it holds no store or no candles."""
    from levradar.store import resolve_data_dir

    return Radar(resolve_data_dir(data_dir))


__all__ = [
    "Evaluation",
    "HeatmapRead",
    "HeatmapRun",
    "Memo",
    "Radar",
    "RadarError",
    "Scan",
    "Scenarios",
    "as_of_rule",
    "check_move",
    "heatmap_report",
    "known_assets",
    "open",
    "store_assets",
    "to_time",
]
