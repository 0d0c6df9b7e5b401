"""Types of the compiled kernel (_kernel.pyx)."""

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.float64]

def simulate(
    low: _F,
    high: _F,
    close: _F,
    oi_usd: _F,
    oi_before: float,
    new_usd: _F,
    lev_long: _F,
    edges: _F,
    near: _F,
    far: _F,
    weights: _F,
    lev_share: float,
    decay: _F,
    record: npt.NDArray[np.uint8],
    longs: _F,
    shorts: _F,
    s_long: _F,
    s_short: _F,
    t_long: _F,
    t_short: _F,
    top: npt.NDArray[np.int64],
    bottom: npt.NDArray[np.int64],
) -> tuple[_F, _F, _F]: ...
def erfc(x: _F) -> _F: ...
def deposit(book: _F, edges: _F, lo: float, hi: float, mass: float) -> None: ...
def pockets(
    usd: _F, centers: _F, prices: _F, above: bool, quantile: float
) -> tuple[npt.NDArray[np.bool_], _F, _F, _F, _F, npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def find(edges: _F, v: float, right: bool) -> int: ...
def forced_flow(
    centers: _F, long_usd: _F, short_usd: _F, price: _F, hourly_vol: _F, hours: float
) -> tuple[_F, _F]: ...
def hourly_vol(
    end_s: npt.NDArray[np.int64],
    r: _F,
    hour: npt.NDArray[np.int64],
    when_s: int,
    season_s: int,
    blend_hours: npt.NDArray[np.int64],
    blend_weight: _F,
    ahead: npt.NDArray[np.int64],
) -> float: ...
