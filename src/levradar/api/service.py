"""What the HTTP API and the dashboard serve: radar reads computed from the store, cached until the data changes.

One :class:`RadarService` per process owns the store connection (DuckDB allows one writer; a connection is not
shared between threads without a lock), so every store access goes through ``self.lock``. The radar (a scan of
every asset at the newest hour) is computed once per data version and served as ready-made JSON bytes; heatmaps
are cached per (asset, as of, days).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from levradar.analytics.config import SignalConfig, load_config
from levradar.analytics.coverage import CLOCK_TOLERANCE, AsOfChoice, choose_as_of
from levradar.analytics.heatmap import (
    AssetHeatmap,
    HeatmapConfig,
    asset_heatmap,
    book,
    grid_buckets,
    grid_json,
    load_heatmap_config,
    report,
)
from levradar.analytics.measured import beside_model, on_rows
from levradar.analytics.memo import memo
from levradar.analytics.prints import Prints, liquidation_prints
from levradar.analytics.proximity import BookCache
from levradar.analytics.scan import history, scan, screen
from levradar.analytics.scenario import scenario
from levradar.jsonio import to_json_bytes
from levradar.store import Store

log = logging.getLogger("levradar.api")
MAX_HISTORY_DAYS = 366
SCENARIO_MOVES = (-0.02, -0.01, 0.01, 0.02)
DEFAULT_DAYS = 90  # the heatmap history of the dashboard and of the API's default
HEATMAP_CACHE = 32
RESULT_CACHE = 256
# an API grid is at most this many hours × prices (a year at full resolution is 60 MB of JSON): every k-th hour's
# book, adjacent buckets summed (heatmap.grid_json says which k and how many buckets per row)
GRID_MAX_HOURS = 1000
GRID_MAX_PRICES = 300


class NotFound(LookupError):
    """An asset, or data as of a time, that the store does not have (HTTP 404)."""


class BadRequest(ValueError):
    """A parameter that is well-formed but not acceptable, e.g. a range backwards in time (HTTP 400)."""


def not_future(when: datetime, name: str) -> datetime:
    """``when`` unless it lies in the future (past the server's clock by more than the tolerance the importer allows
    a row's stamp), which no store can answer: BadRequest."""
    now = datetime.now(UTC)
    if when > now + CLOCK_TOLERANCE:
        raise BadRequest(
            f"{name}: {when:%Y-%m-%dT%H:%MZ} is in the future (the server's clock reads {now:%Y-%m-%dT%H:%MZ})"
        )
    return when


@dataclass(frozen=True)
class RadarSnapshot:
    version: int
    as_of: datetime
    reads: list[dict[str, Any]]
    body: bytes  # the JSON of /api/radar, encoded once


class RadarService:
    def __init__(
        self,
        data_dir: Path,
        *,
        writable: bool = False,
        signal_config: SignalConfig | None = None,
        heatmap_config: HeatmapConfig | None = None,
        warm_heatmaps: bool = True,
    ) -> None:
        self.store = Store(data_dir, read_only=not writable)
        self.lock = threading.RLock()
        self.signal_config = signal_config or load_config()
        self.books = BookCache()  # the radar's liquidation books, advanced hour by hour as data arrives
        self.heatmap_config = heatmap_config or load_heatmap_config()
        self.version = 0  # bumped whenever new data is written (recorder, sync)
        self.feed_status: Callable[[], dict[str, Any]] | None = None  # serve --record: the venues' live state
        self._radar: RadarSnapshot | None = None
        self._jobs: set[str] = set()
        self._jobs_lock = threading.Lock()
        self.warm_heatmaps = warm_heatmaps
        # what to compute per asset after each radar refresh (the dashboard adds its charts)
        self.warmers: list[Callable[[str], object]] = [lambda a: self.heatmap(a, None, DEFAULT_DAYS)]
        self._heatmaps: OrderedDict[tuple[str, datetime, int], AssetHeatmap] = OrderedDict()
        self._results: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        # per data version: the default as-of (a query over every market's bars) and the store's asset names
        self._choice: tuple[int, AsOfChoice] | None = None
        self._names: tuple[int, dict[str, str]] | None = None
        self._span: tuple[int, datetime | None, list[str]] | None = None

    def close(self) -> None:
        with self.lock:
            self.store.close()

    # -- data versions ---------------------------------------------------------------------------------

    def data_changed(self) -> None:
        """New rows were written: the next read recomputes (heatmaps as of a past hour stay valid)."""
        with self.lock:
            self.version += 1
            self._heatmaps.clear()
            self._results.clear()

    # -- reads -----------------------------------------------------------------------------------------

    def as_of_choice(self) -> AsOfChoice:
        """The default as-of and how it was chosen, computed once per data version (every request asks for it)."""
        with self.lock:
            if self._choice is None or self._choice[0] != self.version:
                self._choice = (self.version, choose_as_of(self.store, self.signal_config))
            choice = self._choice[1]
        if choice.as_of is None:
            raise NotFound("the store holds no candles yet: import data (levradar demo, import-source, sync)")
        return choice

    def newest(self) -> datetime:
        """The default as-of: the newest hour at which every asset's main venues have a closed bar."""
        when = self.as_of_choice().as_of
        assert when is not None
        return when

    def _catalogue(self) -> tuple[int, datetime | None, list[str]]:
        """The store's oldest bar time and its venues, once per data version."""
        with self.lock:
            if self._span is None or self._span[0] != self.version:
                ((first, venues),) = self.store.con.execute(
                    "SELECT min(ts), coalesce(list(DISTINCT venue ORDER BY venue), []) FROM candles"
                ).fetchall()
                self._span = (
                    self.version,
                    None if first is None else first.replace(tzinfo=UTC),
                    list(venues),
                )
            return self._span

    def first(self) -> datetime | None:
        """The store's oldest bar (None for an empty store)."""
        return self._catalogue()[1]

    def venues(self) -> list[str]:
        """Every venue with candles in the store, sorted."""
        return self._catalogue()[2]

    def data_range(self) -> dict[str, datetime | None]:
        """What an as-of can replay: from the oldest bar to the newest (``latest``); ``newest`` is the default."""
        choice = self.as_of_choice()
        return {"first": self.first(), "newest": choice.as_of, "latest": choice.latest}

    def radar(self, *, fresh: bool = False) -> RadarSnapshot:
        """Every asset as of the newest hour. Computed once per data version; while new data is being read in,
        the previous snapshot is served and a background thread computes the next one (``fresh`` waits)."""
        snap = self._radar
        if snap is not None and (snap.version == self.version or not fresh):
            if snap.version != self.version:
                self._refresh_in_background()
            return snap  # the hot path: no lock, no store access
        return self._compute_radar()

    def _compute_radar(self) -> RadarSnapshot:
        with self.lock:
            if self._radar is not None and self._radar.version == self.version:
                return self._radar
            version, choice = self.version, self.as_of_choice()
            as_of = choice.as_of
            assert as_of is not None
            reads = scan(self.store, as_of, config=self.signal_config, books=self.books)
            body = to_json_bytes(
                {"as_of": as_of, "as_of_rule": choice.to_json(), "range": self.data_range(), "assets": reads}
            )
            self._radar = RadarSnapshot(version, as_of, reads, body)
        if self.warm_heatmaps:
            self._in_background("levradar-heatmap-warm", lambda: self._warm([r["asset"] for r in reads]))
        return self._radar

    @property
    def busy(self) -> list[str]:
        """Background jobs running now (radar refresh, warm-up of heatmaps, charts and memos)."""
        with self._jobs_lock:
            return sorted(self._jobs)

    def _warm(self, assets: list[str]) -> None:
        """Compute the default heatmaps and dashboard figures ahead of the first asset page."""
        for asset in assets:
            for job in self.warmers:
                try:
                    job(asset)
                except NotFound:
                    continue

    def cached(self, key: tuple[object, ...], compute: Callable[[], bytes]) -> bytes:
        """A finished response (e.g. a chart) for ``key`` at the current data version, computed once."""
        full = (self.version, *key)
        with self.lock:
            hit = self._results.get(full)
        if hit is None:
            hit = compute()
            with self.lock:
                self._results[full] = hit
                while len(self._results) > RESULT_CACHE:
                    self._results.popitem(last=False)
        return hit

    def _refresh_in_background(self) -> None:
        self._in_background("levradar-radar-refresh", self._compute_radar)

    def _in_background(self, name: str, job: Callable[[], object]) -> None:
        """Run ``job`` in a daemon thread unless one of that name is still running."""
        with self._jobs_lock:  # not the store lock: the radar's hot path must never wait for the store
            if name in self._jobs:
                return
            self._jobs.add(name)

        def work() -> None:
            try:
                job()
            except Exception:  # the next request tries again; what was computed before keeps being served
                log.exception("%s failed", name)
            finally:
                with self._jobs_lock:
                    self._jobs.discard(name)

        threading.Thread(target=work, name=name, daemon=True).start()

    def radar_json(self, as_of: datetime | None) -> bytes:
        """``/api/radar``: the cached snapshot of the newest hour, or every asset's read as of ``as_of``."""
        if as_of is None:
            return self.radar().body
        when = self.resolve_as_of(as_of)

        def compute() -> bytes:
            with self.lock:
                reads = scan(self.store, when, config=self.signal_config)
            if not reads:
                first = self.first()
                since = f"; the store starts at {first:%Y-%m-%d %H:%M} UTC" if first else ""
                raise NotFound(
                    f"no radar read as of {when:%Y-%m-%d %H:%M} UTC: not enough history before it{since}"
                )
            return to_json_bytes({"as_of": when, "range": self.data_range(), "assets": reads})

        return self.cached(("radar", when), compute)

    def assets(self) -> list[str]:
        return sorted(r["asset"] for r in self.radar().reads)

    def check_asset(self, asset: str) -> str:
        """The asset as the store spells it (case-insensitive: btc → BTC, kpepe → kPEPE), or NotFound."""
        with self.lock:
            if self._names is None or self._names[0] != self.version:
                found = self.store.con.execute("SELECT DISTINCT asset FROM candles").fetchall()
                self._names = (self.version, {str(a).upper(): str(a) for (a,) in found})
            name = self._names[1].get(asset.strip().upper())
        if name is None:
            listed = ", ".join(self.assets()) or "none"
            raise NotFound(f"unknown asset {asset!r}; the store has: {listed}")
        return name

    def resolve_as_of(self, as_of: datetime | None, name: str = "as_of") -> datetime:
        """``as_of``, or the default; a time past the newest bar of any venue is read at that bar, a time in the
        future (past the server's clock) is a BadRequest."""
        if as_of is not None:
            not_future(as_of, name)
        choice = self.as_of_choice()
        assert choice.as_of is not None and choice.latest is not None
        return choice.as_of if as_of is None else min(as_of, choice.latest)

    def asset(self, asset: str, as_of: datetime | None = None) -> dict[str, Any]:
        name = self.check_asset(asset)
        if as_of is None:
            read = next((r for r in self.radar(fresh=True).reads if r["asset"] == name), None)
        else:
            with self.lock:
                reads = scan(self.store, self.resolve_as_of(as_of), [name], config=self.signal_config)
            read = reads[0] if reads else None
        if read is None:
            raise NotFound(f"no radar read for {name} as of {as_of or 'now'}: not enough history")
        return read

    def _range(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        if start is not None:
            not_future(start, "from")
        end_t = self.resolve_as_of(end, "to")
        start_t = start or end_t - timedelta(days=30)
        if start_t > end_t and end is None:
            raise BadRequest(
                f"from: {start_t:%Y-%m-%dT%H:%MZ} is after the store's newest hour {end_t:%Y-%m-%dT%H:%MZ}"
            )
        if start_t > end_t:
            raise BadRequest("'from' must not be after 'to'")
        if end_t - start_t > timedelta(days=MAX_HISTORY_DAYS):
            raise BadRequest(f"a history spans at most {MAX_HISTORY_DAYS} days")
        return start_t, end_t

    def venue_series(self, asset: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """Funding per settlement (rate, interval, 8h rate, APR) and OI (USD, coin) per venue."""
        name = self.check_asset(asset)
        start_t, end_t = self._range(start, end)
        with self.lock:
            funding = self.store.read("funding", assets=[name], start=start_t, as_of=end_t)
            oi = self.store.read("open_interest", assets=[name], start=start_t, as_of=end_t)
        return {
            "asset": name,
            "from": start_t,
            "to": end_t,
            "funding": {
                str(v): f.select("ts", "rate", "interval_hours", "rate_8h", "apr").to_dicts()
                for (v,), f in funding.partition_by("venue", as_dict=True).items()
            },
            "open_interest": {
                str(v): f.select("ts", "oi_usd", "oi_base").to_dicts()
                for (v,), f in oi.partition_by("venue", as_dict=True).items()
            },
        }

    def history(self, asset: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """Hourly tags and scores (each hour as known then), plus :meth:`venue_series` over the same range."""
        series = self.venue_series(asset, start, end)
        with self.lock:
            rows = history(self.store, series["asset"], series["from"], series["to"], self.signal_config)
        return {**series, "hours": rows.to_dicts() if not rows.is_empty() else []}

    def heatmap(self, asset: str, as_of: datetime | None, days: int) -> tuple[AssetHeatmap, datetime]:
        name = self.check_asset(asset)
        when = self.resolve_as_of(as_of)
        key = (name, when, days)
        with self.lock:
            cached = self._heatmaps.get(key)
            if cached is None:
                try:
                    cached = asset_heatmap(
                        self.store, name, when, days=days, venue=None, cfg=self.heatmap_config
                    )
                except ValueError as exc:
                    raise NotFound(str(exc)) from None
                self._heatmaps[key] = cached
                while len(self._heatmaps) > HEATMAP_CACHE:
                    self._heatmaps.popitem(last=False)
            self._heatmaps.move_to_end(key)
        return cached, when

    def prints(self, asset: str, ah: AssetHeatmap, when: datetime) -> Prints:
        """The real liquidation prints (every venue) over the window of a map from :meth:`heatmap`, as known at
        its as-of ``when``."""
        name = self.check_asset(asset)
        with self.lock:
            return liquidation_prints(self.store, name, ah.map, when)

    def measured(self, asset: str, ah: AssetHeatmap, when: datetime) -> list[dict[str, Any]]:
        """Per venue with a snapshot of measured positions in the 6 h up to ``when``: the measured map on the
        buckets of a map from :meth:`heatmap` (``analytics.measured.beside_model``; empty without a snapshot)."""
        name = self.check_asset(asset)
        with self.lock:
            return beside_model(self.store, name, when, ah.map, self.heatmap_config)

    def heatmap_json(self, asset: str, as_of: datetime | None, days: int, grid: bool) -> bytes:
        """The map's summary, outlook, prints and measured positions (and the grid, bounded to ``GRID_MAX_HOURS`` ×
        ``GRID_MAX_PRICES``, the measured buckets then summed onto its rows) as JSON, once per data version."""
        ah, when = self.heatmap(asset, as_of, days)

        def compute() -> bytes:
            prints = self.prints(asset, ah, when).to_json()
            out: dict[str, Any] = {
                **report(asset.upper(), when, ah, self.heatmap_config, days, prints),
                "measured": self.measured(asset, ah, when),
            }
            if grid:
                out["grid"] = grid_json(
                    ah.map, self.heatmap_config, max_hours=GRID_MAX_HOURS, max_prices=GRID_MAX_PRICES
                )
                out["measured"] = [
                    self._on_grid(entry, ah, out["grid"]["prices"]) for entry in out["measured"]
                ]
            return to_json_bytes(out)

        return self.cached(("heatmap", asset.upper(), when, days, grid), compute)

    def _on_grid(self, entry: dict[str, Any], ah: AssetHeatmap, prices: list[float]) -> dict[str, Any]:
        """A measured entry with its buckets on the served grid's rows (merged as its ``bucket_merge`` says)."""
        keep, merge = grid_buckets(ah.map, self.heatmap_config, GRID_MAX_PRICES)
        long_rows, short_rows, long_out, short_out = on_rows(entry, ah.map.edges, keep, merge)
        filled = np.flatnonzero((long_rows > 0) | (short_rows > 0))
        return {
            **entry,
            "buckets": [
                {"price": prices[i], "long_usd": float(long_rows[i]), "short_usd": float(short_rows[i])}
                for i in filled
            ],
            "beyond_grid_long_usd": long_out,
            "beyond_grid_short_usd": short_out,
        }

    def scenarios(
        self,
        asset: str,
        as_of: datetime | None,
        moves: tuple[float, ...] = SCENARIO_MOVES,
        days: int = DEFAULT_DAYS,
    ) -> bytes:
        """What each move liquidates and whether it cascades, as JSON, computed once per data version."""
        ah, when = self.heatmap(asset, as_of, days)

        def compute() -> bytes:
            current = book(ah.map, self.heatmap_config)
            return to_json_bytes(
                {
                    "asset": asset.upper(),
                    "as_of": when,
                    "price": ah.map.price,
                    "venues": ah.venues,
                    "venues_skipped": ah.skipped,
                    "scenarios": [scenario(current, m, ah.impact_per_usd, ah.stress_impact) for m in moves],
                }
            )

        return self.cached(("scenarios", asset.upper(), when, days, moves), compute)

    def memo(self, asset: str, as_of: datetime | None) -> bytes:
        """The trade memo (views, text) as JSON, cached per data version (not journaled: reads only)."""
        name = self.check_asset(asset)
        when = self.resolve_as_of(as_of)

        def compute() -> bytes:
            with self.lock:
                try:
                    return to_json_bytes(memo(self.store, name, when))
                except ValueError as exc:
                    raise NotFound(str(exc)) from None

        return self.cached(("memo", name, when), compute)

    def screener(self, as_of: datetime | None) -> dict[str, Any]:
        when = self.resolve_as_of(as_of)
        with self.lock:
            result = screen(self.store, when, config=self.signal_config)
        return {"as_of": when, **result}
