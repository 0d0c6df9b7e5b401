"""Types of the compiled signal-engine loops (_loops.pyx)."""

import numpy as np
import numpy.typing as npt

def label_codes(
    metric: npt.NDArray[np.float64],
    bounds: npt.NDArray[np.float64],
    hysteresis: float,
    dwell: int,
    state: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]: ...
def dwell(
    codes: npt.NDArray[np.int64],
    min_dwell: int,
    immediate: npt.NDArray[np.int64],
    state: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]: ...
def trailing_extreme(values: npt.NDArray[np.float64], window: int, highest: bool) -> npt.NDArray[np.float64]: ...
def group_median(
    group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_groups: int, n_slots: int
) -> npt.NDArray[np.float64]: ...
def funding_weights(
    group: npt.NDArray[np.int64],
    n_groups: int,
    rate: npt.NDArray[np.float64],
    spread: npt.NDArray[np.float64],
    spread_z: npt.NDArray[np.float64],
    band: npt.NDArray[np.float64],
    median: npt.NDArray[np.float64],
    oi_usd: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
    outlier_z: float,
    min_venues: int,
    cap: float,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int8]]: ...
def asset_sums(
    group: npt.NDArray[np.int64],
    n_groups: int,
    rank: npt.NDArray[np.int64],
    oi_usd: npt.NDArray[np.float64],
    oi_base: npt.NDArray[np.float64],
    lag4: npt.NDArray[np.float64],
    lag24: npt.NDArray[np.float64],
    rate: npt.NDArray[np.float64],
    counted: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    outlier: npt.NDArray[np.int8],
    basis: npt.NDArray[np.int8],
) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64] | npt.NDArray[np.int8]]: ...
def price_features(
    starts: npt.NDArray[np.uint8],
    t_us: npt.NDArray[np.int64],
    close: npt.NDArray[np.float64],
    bar_hours: npt.NDArray[np.int64],
    window_24h_us: int,
    window_7d_us: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def sorted_mad(
    ordered: npt.NDArray[np.float64], count: npt.NDArray[np.int64], median: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def sliding_median_mad(
    values: npt.NDArray[np.float64],
    first_sorted: npt.NDArray[np.float64],
    first: npt.NDArray[np.int64],
    stop: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def scatter(
    values: npt.NDArray[np.float64], cell: npt.NDArray[np.int64], n_cells: int
) -> npt.NDArray[np.float64]: ...
def share_below(
    ordered: npt.NDArray[np.float64], count: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def slide_sorted(
    ordered: npt.NDArray[np.float64],
    count: npt.NDArray[np.int64],
    leaving: npt.NDArray[np.float64],
    entering: npt.NDArray[np.float64],
    width: int,
) -> tuple[npt.NDArray[np.float64], bool]: ...
