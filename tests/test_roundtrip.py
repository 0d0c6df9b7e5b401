"""Export → import round trips through the command line, export filters, and malformed input."""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from levradar.cli import app
from levradar.domain.datasets import DATASETS
from levradar.domain.symbols import canonical_market
from levradar.ingest.files import FORMATS
from levradar.ingest.run import import_source
from levradar.ingest.sources import Filters
from levradar.store import Store
from tests.conftest import add_long_short_rows, add_position_rows, add_predicted_funding_rows

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES = ("perp-panels", "multivenue-2025")
ENV = {"COLUMNS": "10000", "LEVRADAR_DATA_DIR": None}  # no wrapped error lines; only --data-dir counts


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def stored(data_dir: Path, name: str) -> pl.DataFrame:
    """A dataset as stored, without ``ts_ingest``, in full key order.

    ``Store.read`` sorts by market and time only, so same-millisecond liquidation fills come back in no
    particular order; sorting by the whole key makes two stores with the same rows compare equal.
    """
    with Store(data_dir, read_only=True) as store:
        frame = store.read(name, derived=False).drop("ts_ingest")
    return frame.sort(list(DATASETS[name].key))


def all_stored(data_dir: Path) -> dict[str, pl.DataFrame]:
    with Store(data_dir, read_only=True) as store:
        return {name: store.read(name, derived=False).sort(list(DATASETS[name].key)) for name in DATASETS}


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store holding both real fixture sets: every dataset has rows."""
    data_dir = tmp_path_factory.mktemp("source")
    with Store(data_dir) as store:
        for name in SOURCES:
            import_source(store, name, FIXTURES / name, Filters())
        add_long_short_rows(store)
        add_predicted_funding_rows(store)
        add_position_rows(store)
        assert all(store.counts().values())
    yield data_dir


# -- round trips -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(DATASETS))
def test_export_then_import_gives_identical_data(
    source_dir: Path, tmp_path: Path, name: str, fmt: str
) -> None:
    out = tmp_path / f"{name}.{fmt}"
    code, _, err = cli("export", name, "--format", fmt, "--out", out, "--data-dir", source_dir)
    assert code == 0, err
    target = tmp_path / "empty"
    code, _, err = cli("import", name, out, "--data-dir", target)
    assert code == 0, err
    original = stored(source_dir, name)
    assert original.height > 0
    # identical data; the quality rank is the importer's (a canonical file is a venue record unless it says its
    # funding was recovered), never the file's: tests/test_clean_inputs.py checks that rule
    assert_frame_equal(stored(target, name).drop("quality"), original.drop("quality"), check_exact=True)
    for other in DATASETS:
        if other != name:
            assert stored(target, other).is_empty()


def test_reimporting_an_export_into_its_own_store_changes_nothing(source_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    for name in DATASETS:
        out = tmp_path / f"{name}.csv"
        assert cli("export", name, "--out", out, "--data-dir", source_dir)[0] == 0
        assert cli("import", name, out, "--data-dir", copy)[0] == 0
    before = all_stored(copy)
    for name in DATASETS:
        code, out_text, err = cli("import", name, tmp_path / f"{name}.csv", "--data-dir", copy, "--json")
        assert code == 0, err
        assert '"inserted": 0' in out_text and '"updated": 0' in out_text
    after = all_stored(copy)
    for name in DATASETS:
        assert_frame_equal(after[name], before[name], check_exact=True)


def test_csv_export_to_standard_output(source_dir: Path) -> None:
    code, out, err = cli("export", "funding", "--data-dir", source_dir)
    assert code == 0, err
    with Store(source_dir, read_only=True) as store:
        expected = store.read("funding").drop("ts_ingest")
    lines = out.splitlines()
    assert lines[0].split(",") == expected.columns
    assert len(lines) == expected.height + 1
    parsed = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert parsed["symbol"].to_list() == expected["symbol"].to_list()
    assert [float(r) for r in parsed["rate"]] == expected["rate"].to_list()


# -- export filters --------------------------------------------------------------------------------------


def export_csv(source_dir: Path, *args: str) -> pl.DataFrame:
    code, out, err = cli("export", *args, "--data-dir", source_dir)
    assert code == 0, err
    return pl.read_csv(io.StringIO(out), infer_schema=False)


def test_time_filters_are_inclusive_and_restrict_rows(source_dir: Path) -> None:
    everything = stored(source_dir, "candles")
    start, end = datetime(2025, 10, 9, tzinfo=UTC), datetime(2025, 10, 10, 12, tzinfo=UTC)
    got = export_csv(source_dir, "candles", "--from", "2025-10-09", "--to", "2025-10-10T12:00Z")
    expected = everything.filter(pl.col("ts").is_between(start, end))
    assert 0 < got.height == expected.height < everything.height
    ts = got["ts"].str.to_datetime(time_zone="UTC")
    assert ts.min() == start and ts.max() == end  # both bounds are bars that exist: kept


@pytest.mark.parametrize("name", ["funding", "candles"])
@pytest.mark.parametrize(
    ("venue", "spelling", "symbol"),
    [
        ("okx", "BTC/USDT:USDT", "BTC-USDT-SWAP"),
        ("binance", "btc-usdt", "BTCUSDT"),
        ("hyperliquid", "BTC/USDC:USDC", "BTC"),
    ],
)
def test_venue_and_symbol_filters_accept_any_spelling(
    source_dir: Path, name: str, venue: str, spelling: str, symbol: str
) -> None:
    everything = stored(source_dir, name)
    on_venue = everything.filter(pl.col("venue") == venue)
    expected = on_venue.filter(pl.col("symbol") == symbol)
    got = export_csv(source_dir, name, "--venue", venue, "--symbol", spelling)
    assert got.height == expected.height > 0
    assert set(got["venue"]) == {venue} and set(got["symbol"]) == {symbol}
    if venue == "binance":  # several binance markets in the fixtures: the symbol filter has work to do
        assert expected.height < on_venue.height


def test_venue_filter_alone(source_dir: Path) -> None:
    got = export_csv(source_dir, "funding", "--venue", "hyperliquid,kraken")
    everything = stored(source_dir, "funding")
    assert got.height == everything.filter(pl.col("venue").is_in(["hyperliquid", "kraken"])).height > 0
    assert set(got["venue"]) == {"hyperliquid", "kraken"}


# -- liquidation fills through csv (property) ------------------------------------------------------------

LIQ_MARKETS = [
    ("binance", "BTCUSDT"),
    ("bybit", "ETHUSDT"),
    ("okx", "BTC/USDT:USDT"),
    ("okx", "ETH-USDT-SWAP"),
    ("hyperliquid", "BTC"),
]
START_2025 = datetime(2025, 1, 1, tzinfo=UTC)
US_2025 = 365 * 24 * 3600 * 1_000_000


class Fill(NamedTuple):
    venue: str
    raw_symbol: str  # as the user's file spells it
    us: int  # microseconds since START_2025
    liquidated_side: str
    price: float
    qty_base: float

    def key(self) -> tuple[object, ...]:
        """The fill as the store should hold it (canonical symbol, UTC time), without ``seq``."""
        ts = START_2025 + timedelta(microseconds=self.us)
        symbol = canonical_market(self.venue, self.raw_symbol).symbol
        return (self.venue, symbol, ts, self.liquidated_side, self.price, self.qty_base)


@st.composite
def liquidation_fills(draw: st.DrawFn) -> list[Fill]:
    fill = st.builds(
        lambda market, us, side, price, qty: Fill(market[0], market[1], us, side, price, qty),
        st.sampled_from(LIQ_MARKETS),
        # venue fills are stamped in ms; user files may carry microseconds
        st.one_of(st.integers(0, US_2025 // 1000 - 1).map(lambda ms: ms * 1000), st.integers(0, US_2025 - 1)),
        st.sampled_from(["long", "short"]),
        st.floats(1e-4, 1e6, allow_nan=False, allow_infinity=False),
        st.floats(1e-6, 1e4, allow_nan=False, allow_infinity=False),
    )
    fills = draw(st.lists(fill, min_size=1, max_size=20))
    # identical fills (same instant, side, price and size): repeat some of them verbatim
    repeats = draw(st.lists(st.integers(0, len(fills) - 1), max_size=8))
    return draw(st.permutations(fills + [fills[i] for i in repeats]))


def fills_csv(fills: Sequence[Fill], path: Path) -> None:
    pl.DataFrame(
        [
            {
                "venue": f.venue,
                "symbol": f.raw_symbol,
                "ts": (START_2025 + timedelta(microseconds=f.us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "liquidated_side": f.liquidated_side,
                "price": f.price,
                "qty_base": f.qty_base,
                "notional_usd": f.price * f.qty_base,
            }
            for f in fills
        ]
    ).write_csv(path)


# no shrinking: every example runs the CLI four times, and shrinking a failure would take minutes
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(fills=liquidation_fills())
def test_liquidation_fills_round_trip_through_csv(fills: list[Fill]) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        fills_csv(fills, tmp / "fills.csv")
        assert cli("import", "liquidations", tmp / "fills.csv", "--data-dir", tmp / "a")[0] == 0
        first = stored(tmp / "a", "liquidations")
        code, _, err = cli("export", "liquidations", "--out", tmp / "out.csv", "--data-dir", tmp / "a")
        assert code == 0, err
        assert cli("import", "liquidations", tmp / "out.csv", "--data-dir", tmp / "b")[0] == 0
        second = stored(tmp / "b", "liquidations")
        # the same file again: the same fills, not new ones
        assert cli("import", "liquidations", tmp / "fills.csv", "--data-dir", tmp / "a")[0] == 0
        again = stored(tmp / "a", "liquidations")

    assert first.height == len(fills)  # identical fills stay separate rows
    expected = Counter(f.key() for f in fills)
    got = first.group_by("venue", "symbol", "ts", "liquidated_side", "price", "qty_base").agg(
        pl.len().alias("n"), pl.col("seq").sort().alias("seqs")
    )
    assert {r[:6]: r[6] for r in got.iter_rows()} == expected
    assert all(seqs == list(range(len(seqs))) for seqs in got["seqs"].to_list())
    assert_frame_equal(second, first, check_exact=True)
    assert_frame_equal(again, first, check_exact=True)


# -- malformed input -------------------------------------------------------------------------------------

CANDLES_HEAD = "venue,symbol,interval,ts,open,high,low,close"


def candle_lines(closes: Sequence[str]) -> list[str]:
    return [
        f"binance,BTCUSDT,1h,2025-10-10T{h:02d}:00:00Z,100,110,90,{close}" for h, close in enumerate(closes)
    ]


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    """A store that already holds a few candles."""
    good = tmp_path / "good.csv"
    good.write_text("\n".join([CANDLES_HEAD, *candle_lines(["101", "102"])]) + "\n")
    assert cli("import", "candles", good, "--data-dir", tmp_path / "store")[0] == 0
    return tmp_path / "store"


def test_non_numeric_value_names_file_row_and_column(tmp_path: Path, small_store: Path) -> None:
    before = all_stored(small_store)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([CANDLES_HEAD, *candle_lines(["103", "104", "n/a", "106"])]) + "\n")
    code, _, err = cli("import", "candles", bad, "--data-dir", small_store)
    assert code == 2
    assert str(bad) in err
    assert "row 3" in err
    assert "column 'close'" in err
    assert "'n/a'" in err
    after = all_stored(small_store)
    for name in DATASETS:
        assert_frame_equal(after[name], before[name], check_exact=True)
    assert before["candles"].height == 2


def test_malformed_file_into_a_new_store_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([CANDLES_HEAD, *candle_lines(["103", "104", "abc"])]) + "\n")
    code, _, err = cli("import", "candles", bad, "--data-dir", tmp_path / "store")
    assert code == 2 and "row 3" in err and "column 'close'" in err
    if (tmp_path / "store").exists():
        with Store(tmp_path / "store", read_only=True) as store:
            assert store.counts() == dict.fromkeys(DATASETS, 0)


def test_liquidation_side_must_be_long_or_short(tmp_path: Path, small_store: Path) -> None:
    before = all_stored(small_store)
    bad = tmp_path / "liqs.csv"
    bad.write_text(
        "venue,symbol,ts,liquidated_side,price,qty_base,notional_usd\n"
        "okx,BTC-USDT-SWAP,2025-10-10T21:15:00.123Z,long,110000,0.5,55000\n"
        "okx,BTC-USDT-SWAP,2025-10-10T21:15:00.456Z,buy,110000,0.5,55000\n"
    )
    code, _, err = cli("import", "liquidations", bad, "--data-dir", small_store)
    assert code == 2
    assert str(bad) in err and "row 2" in err and "column 'liquidated_side'" in err and "'buy'" in err
    assert all_stored(small_store)["liquidations"].is_empty()
    assert_frame_equal(all_stored(small_store)["candles"], before["candles"])


def test_map_renames_columns_and_venue_symbol_fill_the_market(tmp_path: Path) -> None:
    export = tmp_path / "my_export.csv"
    export.write_text(
        "time,tf,o,h,l,px,vol\n"
        "1760054400000,1h,121000.5,121500,120900.25,121234.75,12.5\n"
        "1760058000000,1h,121234.75,121800,121100,121700.1,8.25\n"
    )
    code, _, err = cli(
        "import",
        "candles",
        export,
        "--map",
        "time=ts,tf=interval",
        "--map",
        "o=open",
        "--map",
        "h=high",
        "--map",
        "l=low",
        "--map",
        "px=close",
        "--map",
        "vol=volume_base",
        "--venue",
        "okx",
        "--symbol",
        "BTC/USDT:USDT",
        "--data-dir",
        tmp_path / "store",
    )
    assert code == 0, err
    got = stored(tmp_path / "store", "candles")
    assert got.select("venue", "symbol", "asset", "interval").unique().rows() == [
        ("okx", "BTC-USDT-SWAP", "BTC", "1h")
    ]
    assert got["ts"].to_list() == [
        datetime(2025, 10, 10, 0, tzinfo=UTC),
        datetime(2025, 10, 10, 1, tzinfo=UTC),
    ]
    assert got["close"].to_list() == [121234.75, 121700.1]
    assert got["open"].to_list() == [121000.5, 121234.75]
    assert got["volume_base"].to_list() == [12.5, 8.25]
    assert got["source"].to_list() == ["import:my_export.csv"] * 2


def test_map_naming_a_missing_column_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "my_export.csv"
    export.write_text("time,px\n1760054400000,1.5\n")
    code, _, err = cli(
        "import", "candles", export, "--map", "stamp=ts", "--venue", "okx", "--data-dir", tmp_path / "s"
    )
    assert code == 2
    assert "stamp" in err and str(export) in err


def test_missing_venue_column_asks_for_venue(tmp_path: Path) -> None:
    export = tmp_path / "funding.csv"
    export.write_text("symbol,ts,rate\nBTCUSDT,2025-10-10T08:00:00Z,0.0001\n")
    code, _, err = cli("import", "funding", export, "--data-dir", tmp_path / "s")
    assert code == 2
    assert "column 'venue'" in err and "--venue" in err


@pytest.mark.parametrize("command", ["import", "export"])
def test_unknown_dataset_is_a_clear_error(source_dir: Path, tmp_path: Path, command: str) -> None:
    some_file = tmp_path / "x.csv"
    some_file.write_text(CANDLES_HEAD + "\n" + candle_lines(["101"])[0] + "\n")
    if command == "import":
        code, out, err = cli("import", "fundings", some_file, "--data-dir", tmp_path / "s")
    else:
        code, out, err = cli("export", "fundings", "--data-dir", source_dir)
    assert code == 2
    assert "unknown dataset 'fundings'" in err
    assert "funding" in err.split("expected one of", 1)[1]
    assert out == ""
