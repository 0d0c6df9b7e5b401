"""``levradar serve``: uvicorn over the app; with ``--record`` the live recorder and an hourly incremental sync run
in background threads, writing through the service's store under its lock and refreshing the radar."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from levradar.api.app import create_app
from levradar.api.service import RadarService
from levradar.ingest.record import Recorder
from levradar.ingest.sync import VenueSummary, sync
from levradar.net.http import RetryPolicy

log = logging.getLogger("levradar.serve")
FIRST_BACKFILL = timedelta(days=30)  # what --record syncs when the store has nothing yet for an asset


class ServeError(ValueError):
    """The server cannot start as asked (e.g. a public interface without a token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def required_token(host: str) -> str | None:
    """The token every request must carry: required off loopback, optional (but honoured) on it."""
    token = os.environ.get("LEVRADAR_TOKEN", "").strip() or None
    if not is_loopback(host) and token is None:
        raise ServeError(
            f"--host {host} is not a loopback address: set LEVRADAR_TOKEN so that every request must carry it"
        )
    return token


@dataclass
class LiveFeed:
    """The recorder and a periodic incremental sync, feeding ``service`` from background threads."""

    service: RadarService
    venues: Sequence[str]
    assets: Sequence[str]
    data_dir: Path
    sync_every_s: float = 900.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    recorder: Recorder | None = None
    loop: asyncio.AbstractEventLoop | None = None
    syncs: int = 0  # sync rounds completed
    last_sync: dict[str, VenueSummary] = field(default_factory=dict)  # each venue's newest sync summary

    def status(self) -> dict[str, Any]:
        """Per venue: the stream (connected, never connected, disconnected with the last error) and the last sync
        (ok or its error); ``failing`` names the venues with a stream down or a failed sync."""
        venues: dict[str, dict[str, Any]] = {}
        for venue in self.venues:
            st = self.recorder.stats.get(venue) if self.recorder is not None else None
            stream = (
                "starting"
                if st is None
                else "connected"
                if st.connected
                else "never connected"
                if st.connections == 0 and st.last_error
                else "disconnected"
                if st.last_error
                else "connecting"
            )
            last = self.last_sync.get(venue)
            venues[venue] = {
                "stream": stream,
                "stream_error": st.last_error if st is not None and not st.connected else None,
                "messages": st.messages if st is not None else 0,
                "stored": st.stored if st is not None else 0,
                "malformed": st.malformed if st is not None else 0,
                "set_aside": st.set_aside if st is not None else 0,
                "reconnects": st.reconnects if st is not None else 0,
                "sync": None if last is None else "ok" if last.ok else "failed",
                "sync_error": last.error if last is not None else None,
            }
        failing = [
            v
            for v, s in venues.items()
            if s["stream"] in ("never connected", "disconnected") or s["sync"] == "failed"
        ]
        return {"venues": venues, "failing": failing, "sync_rounds": self.syncs}

    def start(self) -> None:
        self.threads = [
            threading.Thread(target=self._record, name="levradar-record", daemon=True),
            threading.Thread(target=self._sync_loop, name="levradar-sync", daemon=True),
        ]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.stop.set()
        if self.loop is not None and self.recorder is not None:
            self.loop.call_soon_threadsafe(self.recorder.stop.set)
        for t in self.threads:
            t.join(timeout=15)

    def _record(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.recorder = Recorder(
            self.service.store,
            self.venues,
            self.assets,
            data_dir=self.data_dir,
            lock=self.service.lock,
            on_write=self.service.data_changed,
        )
        self.loop.run_until_complete(self.recorder.run())

    def _sync_loop(self) -> None:
        while not self.stop.is_set():
            store, lock = self.service.store, self.service.lock
            summaries = sync(
                store, self.venues, self.assets, None, data_dir=self.data_dir, lock=lock, policy=self.retry
            )
            first = [s.venue for s in summaries if s.needs_since]
            if first:  # nothing stored yet for these venues: backfill a first window
                since = datetime.now(UTC) - FIRST_BACKFILL
                summaries += sync(
                    store, first, self.assets, since, data_dir=self.data_dir, lock=lock, policy=self.retry
                )
            for s in summaries:
                if not s.needs_since or s.ok:
                    self.last_sync[s.venue] = s
                if not s.ok:
                    log.warning("sync %s: %s", s.venue, s.error)
            self.syncs += 1
            if any(s.ok for s in summaries):
                self.service.data_changed()
            self.stop.wait(self.sync_every_s)


def serve(
    data_dir: Path,
    host: str,
    port: int,
    *,
    record: bool = False,
    venues: Sequence[str] = (),
    assets: Sequence[str] = (),
) -> None:
    token = required_token(host)
    service = RadarService(data_dir, writable=record)
    feed = LiveFeed(service, venues, assets, data_dir) if record else None
    service.feed_status = feed.status if feed is not None else None
    app = create_app(service, token=token)
    where = f"http://{host}:{port}"
    print(f"levradar: serving {data_dir} on {where} (dashboard /, API /api, OpenAPI /docs)", flush=True)
    print(
        "levradar: every request must carry the token (Authorization: Bearer $LEVRADAR_TOKEN or ?token=)"
        if token
        else "levradar: no token required (loopback only)",
        flush=True,
    )
    if feed:
        print(f"levradar: recording {', '.join(venues)} for {', '.join(assets)}", flush=True)
        feed.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if feed:
            feed.close()
        service.close()
