"""Funding-rate and open-interest unit conversions: scalar round trips, the polars twins, the error cases."""

from __future__ import annotations

import math
from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levradar.domain.units import (
    HOURS_PER_YEAR,
    OI_UNITS,
    STANDARD_FUNDING_INTERVALS_H,
    UnitError,
    apr,
    funding_derived_exprs,
    oi_base_from_raw,
    oi_exprs_from_raw,
    oi_usd_from_base,
    rate_1h,
    rate_8h,
    rate_from_1h,
    rate_from_8h,
    rate_from_apr,
)

# Any finite rate a float can carry through ``/ interval * 8760`` without overflowing: funding rates are
# decimals well below 1, so ±1e100 is "any" for every practical purpose; subnormals are included.
RATES = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False, allow_infinity=False)
INTERVALS = st.one_of(
    st.sampled_from(STANDARD_FUNDING_INTERVALS_H).map(float),
    st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False),
)
POSITIVE = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
AMOUNTS = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)

REL = 1e-12
ABS = 1e-300  # only matters for results that underflow to (or near) zero

Conversion = Callable[[float, float], float]
PAIRS: list[tuple[Conversion, Conversion]] = [
    (rate_1h, rate_from_1h),
    (rate_8h, rate_from_8h),
    (apr, rate_from_apr),
]
PAIR_IDS = ["1h", "8h", "apr"]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


# --- funding rates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("forward", "inverse"), PAIRS, ids=PAIR_IDS)
@given(rate=RATES, interval=INTERVALS)
def test_derived_rate_round_trips_through_its_inverse(
    forward: Conversion, inverse: Conversion, rate: float, interval: float
) -> None:
    assert close(inverse(forward(rate, interval), interval), rate)


@pytest.mark.parametrize(("forward", "inverse"), PAIRS, ids=PAIR_IDS)
@given(derived=RATES, interval=INTERVALS)
def test_inverse_round_trips_through_the_derived_rate(
    forward: Conversion, inverse: Conversion, derived: float, interval: float
) -> None:
    assert close(forward(inverse(derived, interval), interval), derived)


@given(rate=RATES, interval=INTERVALS)
def test_derived_rates_are_the_hourly_rate_scaled(rate: float, interval: float) -> None:
    per_hour = rate_1h(rate, interval)
    assert close(per_hour * interval, rate)
    assert close(rate_8h(rate, interval), per_hour * 8)
    assert close(apr(rate, interval), per_hour * HOURS_PER_YEAR)


def test_hourly_baseline_rate_is_one_basis_point_per_8h_and_10_95_percent_apr() -> None:
    assert math.isclose(rate_8h(0.0000125, 1), 0.0001, rel_tol=1e-12)
    assert math.isclose(apr(0.0000125, 1), 0.1095, rel_tol=1e-12)
    # the same payment stream quoted as an 8-hourly venue pays it once per 8 h
    assert math.isclose(rate_1h(0.0001, 8), 0.0000125, rel_tol=1e-12)
    assert math.isclose(apr(0.0001, 8), 0.1095, rel_tol=1e-12)
    assert math.isclose(rate_from_8h(0.0001, 1), 0.0000125, rel_tol=1e-12)
    assert math.isclose(rate_from_apr(0.1095, 4), 0.00005, rel_tol=1e-12)


@pytest.mark.parametrize("conversion", [rate_1h, rate_8h, apr, rate_from_1h, rate_from_8h, rate_from_apr])
@pytest.mark.parametrize("interval", [0.0, -0.0, -1.0, -8.0, float("-inf"), float("nan")])
def test_non_positive_interval_is_a_unit_error(conversion: Conversion, interval: float) -> None:
    with pytest.raises(UnitError, match="interval"):
        conversion(0.0001, interval)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@given(
    rows=st.lists(st.tuples(RATES, INTERVALS), min_size=1, max_size=30),
)
def test_polars_funding_exprs_equal_the_scalar_functions(rows: list[tuple[float, float]]) -> None:
    frame = pl.DataFrame(
        {"rate": [r for r, _ in rows], "interval_hours": [i for _, i in rows]},
        schema={"rate": pl.Float64, "interval_hours": pl.Float64},
    )
    out = frame.with_columns(funding_derived_exprs())
    for row in out.iter_rows(named=True):
        rate, interval = row["rate"], row["interval_hours"]
        assert close(row["rate_1h"], rate_1h(rate, interval))
        assert close(row["rate_8h"], rate_8h(rate, interval))
        assert close(row["apr"], apr(rate, interval))


def test_polars_funding_exprs_use_the_named_columns() -> None:
    frame = pl.DataFrame({"r": [0.0000125, 0.0001, -0.02], "iv": [1.0, 8.0, 2.0]})
    out = frame.with_columns(funding_derived_exprs(rate="r", interval="iv"))
    assert out.columns == ["r", "iv", "rate_1h", "rate_8h", "apr"]
    expected_8h = [0.0001, 0.0001, -0.08]
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(out["rate_8h"], expected_8h, strict=True))
    assert all(
        math.isclose(a, b, rel_tol=1e-12)
        for a, b in zip(out["apr"], [0.1095, 0.1095, -0.01 * HOURS_PER_YEAR], strict=True)
    )


# --- open interest -------------------------------------------------------------------------------------


def test_oi_in_coin_is_taken_as_is() -> None:
    assert oi_base_from_raw(12.5, "coin", price=None, contract_size=None) == 12.5
    assert oi_base_from_raw(12.5, "coin", price=60_000.0, contract_size=0.01) == 12.5


def test_oi_in_usd_is_divided_by_price() -> None:
    assert math.isclose(oi_base_from_raw(600_000.0, "usd", price=60_000.0, contract_size=None), 10.0)


def test_oi_in_contracts_is_multiplied_by_contract_size() -> None:
    assert math.isclose(oi_base_from_raw(1_234.0, "contracts", price=None, contract_size=0.01), 12.34)


@pytest.mark.parametrize("contract_size", [None, 0.0, -0.01])
def test_oi_in_contracts_needs_a_positive_contract_size(contract_size: float | None) -> None:
    with pytest.raises(UnitError, match="contract size"):
        oi_base_from_raw(1_234.0, "contracts", price=60_000.0, contract_size=contract_size)


@pytest.mark.parametrize("price", [None, 0.0, -60_000.0])
def test_oi_in_usd_needs_a_positive_price(price: float | None) -> None:
    with pytest.raises(UnitError, match="price"):
        oi_base_from_raw(600_000.0, "usd", price=price, contract_size=None)


@pytest.mark.parametrize("unit", ["btc", "USD", "Coin", "", "lots"])
def test_unknown_oi_unit_is_a_unit_error_naming_the_known_units(unit: str) -> None:
    with pytest.raises(UnitError, match="unknown open-interest unit") as info:
        oi_base_from_raw(1.0, unit, price=1.0, contract_size=1.0)
    assert all(known in str(info.value) for known in OI_UNITS)


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan")])
def test_oi_usd_needs_a_positive_price(price: float) -> None:
    with pytest.raises(UnitError, match="price"):
        oi_usd_from_base(10.0, price)


@pytest.mark.parametrize(
    ("unit", "price", "contract_size"),
    [("usd", float("nan"), None), ("contracts", 60_000.0, float("nan"))],
    ids=["usd-nan-price", "contracts-nan-size"],
)
def test_oi_base_rejects_a_nan_conversion_factor(
    unit: str, price: float, contract_size: float | None
) -> None:
    # oi_usd_from_base and the funding conversions reject NaN factors (``not x > 0``); oi_base_from_raw
    # checks ``not x or x <= 0``, which NaN passes, so a NaN price / contract size silently yields NaN.
    with pytest.raises(UnitError):
        oi_base_from_raw(1_000.0, unit, price=price, contract_size=contract_size)


@given(base=AMOUNTS, price=POSITIVE)
def test_oi_usd_and_base_round_trip(base: float, price: float) -> None:
    usd = oi_usd_from_base(base, price)
    assert close(usd, base * price)
    assert close(oi_base_from_raw(usd, "usd", price=price, contract_size=None), base)


@given(usd=AMOUNTS, price=POSITIVE)
def test_oi_usd_value_survives_conversion_to_coin_and_back(usd: float, price: float) -> None:
    base = oi_base_from_raw(usd, "usd", price=price, contract_size=None)
    assert close(oi_usd_from_base(base, price), usd)


@given(contracts=AMOUNTS, size=POSITIVE, price=POSITIVE)
def test_oi_contracts_to_usd_is_contracts_times_size_times_price(
    contracts: float, size: float, price: float
) -> None:
    base = oi_base_from_raw(contracts, "contracts", price=None, contract_size=size)
    assert close(oi_usd_from_base(base, price), contracts * size * price)


OI_ROWS = st.lists(st.tuples(AMOUNTS, POSITIVE), min_size=1, max_size=30)


@pytest.mark.parametrize(("unit", "contract_size"), [("coin", None), ("usd", None), ("contracts", 0.01)])
@given(rows=OI_ROWS)
def test_vectorised_oi_equals_scalar(
    unit: str, contract_size: float | None, rows: list[tuple[float, float]]
) -> None:
    frame = pl.DataFrame(
        {"raw": [v for v, _ in rows], "px": [p for _, p in rows]},
        schema={"raw": pl.Float64, "px": pl.Float64},
    )
    out = frame.with_columns(oi_exprs_from_raw(unit, "raw", "px", contract_size))
    for row in out.iter_rows(named=True):
        base = oi_base_from_raw(row["raw"], unit, price=row["px"], contract_size=contract_size)
        assert close(row["oi_base"], base)
        assert close(row["oi_usd"], oi_usd_from_base(base, row["px"]))


def test_vectorised_oi_is_null_where_the_scalar_conversion_refuses_the_price() -> None:
    frame = pl.DataFrame({"raw": [100.0, 100.0, 100.0, 100.0], "px": [50.0, 0.0, -5.0, None]})

    coin = frame.with_columns(oi_exprs_from_raw("coin", "raw", "px"))
    assert coin["oi_base"].to_list() == [100.0, 100.0, 100.0, 100.0]
    assert coin["oi_usd"].to_list() == [5_000.0, None, None, None]

    usd = frame.with_columns(oi_exprs_from_raw("usd", "raw", "px"))
    assert usd["oi_base"].to_list() == [2.0, None, None, None]
    assert usd["oi_usd"].to_list() == [100.0, 100.0, 100.0, 100.0]  # a USD figure needs no price

    contracts = frame.with_columns(oi_exprs_from_raw("contracts", "raw", "px", contract_size=0.1))
    assert contracts["oi_base"].to_list() == pytest.approx([10.0, 10.0, 10.0, 10.0])
    assert contracts["oi_usd"].to_list()[1:] == [None, None, None]
    assert contracts["oi_usd"][0] == pytest.approx(500.0)


@pytest.mark.parametrize("contract_size", [None, 0.0, -1.0])
def test_vectorised_oi_in_contracts_needs_a_positive_contract_size(contract_size: float | None) -> None:
    with pytest.raises(UnitError, match="contract size"):
        oi_exprs_from_raw("contracts", "raw", "px", contract_size)


def test_vectorised_oi_rejects_an_unknown_unit() -> None:
    with pytest.raises(UnitError, match="unknown open-interest unit"):
        oi_exprs_from_raw("btc", "raw", "px")
