"""Shared fixtures: real data slices in tests/fixtures, fresh stores in temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from levradar.ingest.files import load_file
from levradar.ingest.run import write_batch
from levradar.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def add_long_short_rows(store: Store) -> None:
    """The synthetic long/short-ratio rows (no real history of them is in the shared data; see fixtures/README)."""
    write_batch(
        store, load_file("long_short_ratio", FIXTURES / "long-short" / "long_short_ratio.csv"), "import"
    )


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
