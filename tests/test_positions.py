"""Measured positions: the hyperliquid-positions importer on a real slice (every snapshot's BTC and kPEPE
positions), account hashing, idempotent upserts, point-in-time reads and clear errors on bad rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levradar.domain.accounts import HASH_PREFIX, account_id, is_address
from levradar.ingest.normalize import InputError
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store

SLICE = Path(__file__).parent / "fixtures" / "hyperliquid-positions"
SOURCE = pl.read_parquet(SLICE / "positions.parquet")


def test_import_keeps_every_position_with_its_venue_figures(store: Store) -> None:
    report = import_source(store, "hyperliquid-positions", SLICE, Filters())
    rows = store.read("positions")
    assert report.dataset("positions").inserted == SOURCE.height == rows.height
    assert set(rows["venue"]) == {"hyperliquid"}
    assert set(rows["asset"]) == {"BTC", "kPEPE"}  # the venue's multiplier prefix kept in the asset
    assert set(rows["selection"]) == set(SOURCE["source"])
    # the venue's own numbers, unchanged: liquidation prices (nulls where collateral covers any move), leverage
    joined = rows.join(
        SOURCE.with_columns(ts=pl.col("snapshot_ts").cast(pl.Datetime("us", "UTC"))).rename(
            {"coin": "symbol"}
        ),
        left_on=["symbol", "ts", "qty_base", "entry_price"],
        right_on=["symbol", "ts", "size", "entry_px"],
    )
    assert joined.height == SOURCE.height
    assert joined.filter(
        pl.col("liquidation_price").ne_missing(pl.col("liquidation_px"))
        | (pl.col("leverage") != pl.col("leverage_right"))
        | (pl.col("side") != pl.col("side_right"))
    ).is_empty()
    assert rows["liquidation_price"].null_count() == SOURCE["liquidation_px"].null_count() > 0
    assert rows["liquidation_price"].max() == SOURCE["liquidation_px"].max() > 1e9  # a short no price reaches


def test_accounts_are_hashed_by_default_and_kept_when_asked(tmp_path: Path) -> None:
    with Store(tmp_path / "hashed") as hashed:
        import_source(hashed, "hyperliquid-positions", SLICE, Filters())
        accounts = hashed.read("positions")["account"]
    assert accounts.str.starts_with(HASH_PREFIX).all()
    assert (
        accounts.n_unique() == SOURCE["address"].n_unique()
    )  # one id per address, the same in every snapshot
    stored = duckdb_text(tmp_path / "hashed")
    assert not any(a.lower() in stored for a in SOURCE["address"].unique().to_list()[:50])
    with Store(tmp_path / "kept") as kept:
        import_source(kept, "hyperliquid-positions", SLICE, Filters(keep_addresses=True))
        assert set(kept.read("positions")["account"]) == set(SOURCE["address"].str.to_lowercase())


def duckdb_text(folder: Path) -> str:
    """Every string the store holds in its positions table."""
    with Store(folder) as store:
        frame = store.query("SELECT * FROM positions")
    return " ".join(str(v) for col in frame.select(pl.col(pl.String)).iter_columns() for v in col.to_list())


def test_reimport_changes_nothing(store: Store) -> None:
    import_source(store, "hyperliquid-positions", SLICE, Filters())
    again = import_source(store, "hyperliquid-positions", SLICE, Filters()).dataset("positions")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, SOURCE.height)
    assert store.read("positions").height == SOURCE.height


def test_as_of_read_equals_a_store_that_only_holds_snapshots_up_to_then(tmp_path: Path) -> None:
    snapshots = SOURCE["snapshot_ts"].unique().sort()
    t = snapshots[len(snapshots) // 2]
    with Store(tmp_path / "all") as full:
        import_source(full, "hyperliquid-positions", SLICE, Filters())
        seen = full.read("positions", as_of=t).drop("ts_ingest")
    with Store(tmp_path / "then") as then:
        import_source(then, "hyperliquid-positions", SLICE, Filters(end=t))
        known = then.read("positions").drop("ts_ingest")
    assert seen.height == SOURCE.filter(pl.col("snapshot_ts") <= t).height
    assert seen.equals(known)


def test_filters_by_asset_and_venue(store: Store) -> None:
    import_source(store, "hyperliquid-positions", SLICE, Filters(assets=frozenset({"KPEPE"})))
    assert set(store.read("positions")["asset"]) == {"kPEPE"}
    batch_other_venue = import_source(
        store, "hyperliquid-positions", SLICE, Filters(venues=frozenset({"okx"}))
    )
    assert batch_other_venue.dataset("positions").rows == 0


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("leverage", -3.0, "leverage"),
        ("side", "flat", "side"),
        ("address", "0x12", "address"),
        ("size", float("nan"), "qty_base"),
    ],
)
def test_bad_row_is_a_clear_error_naming_row_and_column(
    tmp_path: Path, column: str, value: object, says: str
) -> None:
    bad = SOURCE.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    bad.write_parquet(tmp_path / "positions.parquet")
    with Store(tmp_path / "store") as store, pytest.raises(InputError) as err:
        import_source(store, "hyperliquid-positions", tmp_path, Filters())
    assert "row 8" in str(err.value) and says in str(err.value)
    with Store(tmp_path / "store") as store:
        assert store.read("positions").is_empty()  # nothing half-written


def test_missing_file_and_column_are_clear_errors(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        with pytest.raises(InputError, match="no measured positions file"):
            import_source(store, "hyperliquid-positions", tmp_path, Filters())
        SOURCE.drop("liquidation_px").write_parquet(tmp_path / "positions.parquet")
        with pytest.raises(InputError, match="liquidation_px"):
            import_source(store, "hyperliquid-positions", tmp_path, Filters())


ADDRESSES = st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40).map(lambda h: "0x" + h)


@given(ADDRESSES)
def test_account_ids_are_stable_case_blind_and_hide_the_address(address: str) -> None:
    hashed = account_id(address, keep=False)
    assert hashed == account_id(address.upper().replace("0X", "0x"), keep=False)
    assert hashed.startswith(HASH_PREFIX) and len(hashed) == len(HASH_PREFIX) + 16
    assert address.lower()[2:] not in hashed
    assert account_id(address, keep=True) == address.lower()


@given(st.text(max_size=60).filter(lambda s: not is_address(s)))
def test_anything_but_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an account address"):
        account_id(text, keep=False)


def test_cli_imports_and_status_lists_the_dataset(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "levradar.cli"]
    run = subprocess.run(
        [*cli, "import-source", "hyperliquid-positions", str(SLICE), "--data-dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"positions"' in run.stdout
    status = subprocess.run(
        [*cli, "status", "--data-dir", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    assert "positions" in status and "kPEPE" in status
