"""Shared fixtures: real data slices in tests/fixtures, fresh stores in temporary folders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from levradar.domain.records import PredictedFunding, records_frame
from levradar.ingest.files import load_file
from levradar.ingest.normalize import Batch
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.store import Store
from levradar.venues import ParseError, parse

FIXTURES = Path(__file__).parent / "fixtures"


def add_predicted_funding_rows(store: Store) -> None:
    """Predicted funding parsed from the real recorded stream frames of tests/fixtures/ws-samples (Binance markPrice
    ``r``, Bybit tickers, OKX funding-rate, Hyperliquid ``funding``), written as the recorder writes them."""
    received = datetime(2025, 3, 1, tzinfo=UTC)
    records: list[PredictedFunding] = []
    for name, venue in (
        ("binance-futures.json", "binance"),
        ("bybit-v5.json", "bybit"),
        ("okex-swap-v5.json", "okx"),
        ("hyperliquid.json", "hyperliquid"),
    ):
        for frame in json.loads((FIXTURES / "ws-samples" / name).read_text()):
            try:
                out = parse(venue, frame, received) if isinstance(frame, dict) else []
            except ParseError as exc:  # a frame of another product: its readable items still count
                out = exc.records
            records += [r for r in out if isinstance(r, PredictedFunding)]
    batch = Batch(ImportReport("record", "websocket"))
    batch.add("predicted_funding", records_frame(records, source="record"))
    write_batch(store, batch, "record", live=True)


def add_long_short_rows(store: Store) -> None:
    """The synthetic long/short-ratio rows (no real history of them is in the shared data; see fixtures/README)."""
    write_batch(
        store, load_file("long_short_ratio", FIXTURES / "long-short" / "long_short_ratio.csv"), "import"
    )


def add_position_rows(store: Store) -> None:
    """The measured Hyperliquid positions slice (tests/fixtures/hyperliquid-positions) up to 2026-02-05 12:00."""
    from levradar.ingest.run import import_source
    from levradar.ingest.sources import Filters

    end = datetime(2026, 2, 5, 12, tzinfo=UTC)  # 1,721 positions: enough for every round trip, quick
    import_source(store, "hyperliquid-positions", FIXTURES / "hyperliquid-positions", Filters(end=end))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store") as s:
        yield s


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every venue endpoint points at a closed local port unless a test starts its own server: no test can
    ever reach a real exchange."""
    for venue in ("BINANCE", "BYBIT", "OKX", "HYPERLIQUID"):
        monkeypatch.setenv(f"LEVRADAR_{venue}_REST_URL", "http://127.0.0.1:9")
        monkeypatch.setenv(f"LEVRADAR_{venue}_WS_URL", "ws://127.0.0.1:9")
