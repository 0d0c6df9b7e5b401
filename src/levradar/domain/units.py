"""The one place where funding rates and open-interest units are converted.

Funding is stored as the venue paid it: ``rate`` is the decimal rate for *one settlement period* and
``interval_hours`` is the length of that period. Every derived rate says its unit in its name:

- ``rate_1h``  = rate / interval_hours                (decimal per hour)
- ``rate_8h``  = rate_1h * 8                         (decimal per 8 hours, the market's habit)
- ``apr``      = rate_1h * 24 * 365                  (simple annualised rate, not compounded)

Open interest is carried in base coin (``oi_base``) and USD (``oi_usd``), always **one-sided** (the size of all
longs, which equals the size of all shorts); venues report coin, USD or contracts, some count both sides, and the raw
value, unit and side count (``raw_sides``) are kept beside the normalised ones.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

HOURS_PER_YEAR = 24 * 365
STANDARD_FUNDING_INTERVALS_H: tuple[int, ...] = (1, 2, 4, 8)

OIUnit = Literal["coin", "usd", "contracts"]
OI_UNITS: tuple[str, ...] = ("coin", "usd", "contracts")


class UnitError(ValueError):
    """A value cannot be converted because its unit or its conversion factor is missing or invalid."""


def _check_interval(interval_hours: float) -> None:
    if not interval_hours > 0:
        raise UnitError(f"funding interval must be a positive number of hours, got {interval_hours!r}")


def rate_1h(rate: float, interval_hours: float) -> float:
    """Funding rate per hour from a rate paid once per ``interval_hours``."""
    _check_interval(interval_hours)
    return rate / interval_hours


def rate_8h(rate: float, interval_hours: float) -> float:
    """Funding rate per 8 hours from a rate paid once per ``interval_hours``."""
    return rate_1h(rate, interval_hours) * 8.0


def apr(rate: float, interval_hours: float) -> float:
    """Simple annualised funding rate (decimal, 1.0 = 100 %/year)."""
    return rate_1h(rate, interval_hours) * HOURS_PER_YEAR


def rate_from_1h(rate_per_hour: float, interval_hours: float) -> float:
    """Inverse of :func:`rate_1h`: the rate for one period of ``interval_hours``."""
    _check_interval(interval_hours)
    return rate_per_hour * interval_hours


def rate_from_8h(rate_per_8h: float, interval_hours: float) -> float:
    """Inverse of :func:`rate_8h`."""
    return rate_from_1h(rate_per_8h / 8.0, interval_hours)


def rate_from_apr(annual_rate: float, interval_hours: float) -> float:
    """Inverse of :func:`apr`."""
    return rate_from_1h(annual_rate / HOURS_PER_YEAR, interval_hours)


def funding_derived_exprs(rate: str = "rate", interval: str = "interval_hours") -> list[pl.Expr]:
    """Polars expressions adding ``rate_1h``, ``rate_8h`` and ``apr`` to a funding frame."""
    per_hour = pl.col(rate) / pl.col(interval)
    return [
        per_hour.alias("rate_1h"),
        (per_hour * 8.0).alias("rate_8h"),
        (per_hour * HOURS_PER_YEAR).alias("apr"),
    ]


def oi_base_from_raw(value: float, unit: str, *, price: float | None, contract_size: float | None) -> float:
    """Open interest in base coin from a venue's raw value and unit."""
    if unit == "coin":
        return value
    if unit == "contracts":
        if contract_size is None or not contract_size > 0:
            raise UnitError("open interest in contracts needs a positive contract size (coin per contract)")
        return value * contract_size
    if unit == "usd":
        if price is None or not price > 0:
            raise UnitError("open interest in USD needs a positive price to convert to coin")
        return value / price
    raise UnitError(f"unknown open-interest unit {unit!r}; expected one of {', '.join(OI_UNITS)}")


def one_sided_oi(value: float, raw_sides: int) -> float:
    """Open interest of one side from a venue figure counting ``raw_sides`` sides (1 or 2)."""
    if raw_sides not in (1, 2):
        raise UnitError(f"open interest counts one or two sides, got {raw_sides!r}")
    return value / raw_sides


def one_sided_oi_expr(col: str, sides: str = "raw_sides") -> pl.Expr:
    """Vectorised :func:`one_sided_oi`: ``col`` divided by the side count column."""
    return pl.col(col) / pl.col(sides).cast(pl.Float64)


def oi_usd_from_base(oi_base: float, price: float) -> float:
    """Open interest in USD from base coin and a price in USD per coin."""
    if not price > 0:
        raise UnitError(f"price must be positive to value open interest, got {price!r}")
    return oi_base * price


def oi_exprs_from_raw(unit: str, value: str, price: str, contract_size: float | None = None) -> list[pl.Expr]:
    """Vectorised ``oi_base`` / ``oi_usd`` from a raw column in ``unit`` and a price column."""
    raw = pl.col(value)
    px = pl.when(pl.col(price) > 0).then(pl.col(price))
    if unit == "coin":
        base = raw
    elif unit == "usd":
        base = raw / px
    elif unit == "contracts":
        if contract_size is None or not contract_size > 0:
            raise UnitError("open interest in contracts needs a positive contract size (coin per contract)")
        base = raw * contract_size
    else:
        raise UnitError(f"unknown open-interest unit {unit!r}; expected one of {', '.join(OI_UNITS)}")
    usd = raw if unit == "usd" else base * px
    return [base.alias("oi_base"), usd.alias("oi_usd")]
