"""Prometheus metrics of ``levradar serve`` at ``/metrics`` (text exposition, prometheus_client).

- ``levradar_data_age_seconds{venue,dataset}``: now − the newest stored row's ``ts`` (a candle's ``ts`` is its
  open), and ``levradar_data_newest_timestamp_seconds`` the same time as a Unix timestamp; read from the store
  once per data version.
- with ``serve --record``, per venue: ``levradar_recorder_messages_total`` (received),
  ``levradar_recorder_records_stored_total`` (records the store took, new or already there),
  ``levradar_recorder_rejected_total`` (unreadable messages and refused records: one line each in
  ``rejected/<venue>.jsonl``), ``levradar_recorder_reconnects_total``, ``levradar_recorder_connected``; and
  ``levradar_sync_rounds_total``.
- ``levradar_http_requests_total{route,method,status}`` and ``levradar_http_request_duration_seconds{route,method}``
  (histogram) by route template (``/api/assets/{asset}``, never the raw path); ``(none)`` when no route answered
  (an unknown path, a request without the token).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from levradar.api.service import RadarService
from levradar.domain.datasets import DATASETS
from levradar.store.schema import q

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
NO_ROUTE = "(none)"


def newest_rows(service: RadarService) -> dict[tuple[str, str], datetime]:
    """Per (dataset, venue): the newest stored row's ``ts``."""
    sql = " UNION ALL ".join(
        f"SELECT '{name}' AS dataset, venue, max(ts) AS newest FROM {q(name)} GROUP BY venue"
        for name in DATASETS
    )
    with service.lock:
        frame = service.store.query(sql)
    return {(r["dataset"], r["venue"]): r["newest"] for r in frame.iter_rows(named=True)}


class Freshness(Collector):
    """The age of each venue's newest row per dataset, at scrape time (the store is read once per data version)."""

    def __init__(self, service: RadarService) -> None:
        self.service = service
        self._newest: tuple[int, dict[tuple[str, str], datetime]] | None = None

    def collect(self) -> Iterator[Metric]:
        version = self.service.version
        if self._newest is None or self._newest[0] != version:
            self._newest = (version, newest_rows(self.service))
        now = time.time()
        age = GaugeMetricFamily(
            "levradar_data_age_seconds",
            "Seconds since the newest stored row (its ts), per venue and dataset.",
            labels=["venue", "dataset"],
        )
        newest = GaugeMetricFamily(
            "levradar_data_newest_timestamp_seconds",
            "The newest stored row's ts (Unix seconds), per venue and dataset.",
            labels=["venue", "dataset"],
        )
        for (dataset, venue), ts in sorted(self._newest[1].items()):
            age.add_metric([venue, dataset], now - ts.timestamp())
            newest.add_metric([venue, dataset], ts.timestamp())
        yield age
        yield newest


class Feed(Collector):
    """The live recorder's counters and the sync rounds of ``serve --record`` (nothing without it)."""

    def __init__(self, service: RadarService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        if self.service.feed_status is None:
            return
        status = self.service.feed_status()
        counters = {
            "messages": ("levradar_recorder_messages", "WebSocket messages received."),
            "stored": ("levradar_recorder_records_stored", "Records the store took (new or already there)."),
            "rejected": (
                "levradar_recorder_rejected",
                "Messages that could not be read and records refused, each kept in rejected/<venue>.jsonl.",
            ),
            "reconnects": ("levradar_recorder_reconnects", "Reconnections after a dropped stream."),
        }
        families = {
            key: CounterMetricFamily(name, doc, labels=["venue"]) for key, (name, doc) in counters.items()
        }
        connected = GaugeMetricFamily(
            "levradar_recorder_connected", "1 while the stream is up.", labels=["venue"]
        )
        for venue, s in status["venues"].items():
            values = {**s, "rejected": s["malformed"] + s["set_aside"]}
            for key, family in families.items():
                family.add_metric([venue], values[key])
            connected.add_metric([venue], 1.0 if s["stream"] == "connected" else 0.0)
        yield from families.values()
        yield connected
        yield CounterMetricFamily(
            "levradar_sync_rounds", "Incremental sync rounds completed.", status["sync_rounds"]
        )


def install(app: FastAPI, service: RadarService) -> None:
    """Measure every request of ``app`` and serve the metrics at ``/metrics`` (one registry per app)."""
    registry = CollectorRegistry()
    registry.register(Freshness(service))
    registry.register(Feed(service))
    requests = Counter(
        "levradar_http_requests",
        "HTTP requests answered, by route template, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "levradar_http_request_duration_seconds",
        "Time to answer, by route template and method.",
        ["route", "method"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start, status = time.perf_counter(), 500  # an exception below is answered 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", None) or NO_ROUTE
            latency.labels(route, request.method).observe(time.perf_counter() - start)
            requests.labels(route, request.method, str(status)).inc()

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """The Prometheus text exposition."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
