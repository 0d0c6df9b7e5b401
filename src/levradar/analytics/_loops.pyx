# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The signal engine's per-row loops, compiled to C: regime labels and dwell (regimes.py, with a state carried in
and out), the rules' trailing highs and lows (signals.py), the per (asset, hour) venue statistics (venues.py,
series.asset_frame) and the hourly price features (series.with_price_features).

Each loop visits rows once with its state in registers, where numpy would make one pass over every series per
hour and a group-by one hash pass per aggregation (a 500-market, 90-day scan: docs/signals.md §12). Behaviour is
the rule as written in the Python modules; tests check each loop against a plain transcription (test_regimes.py,
test_venue_kernels.py, test_price_features.py).

Venue statistics: rows arrive in any order with their group id; a group's sums add up in row order, its "first" is
its first row and its median is polars' (the lower middle value plus half the gap to the upper)."""

from libc.math cimport INFINITY, NAN, fabs, isnan, log, sqrt

import numpy as np

DEF MISSING = -1



cdef inline int _sign(double x) noexcept nogil:
    return (x > 0) - (x < 0)


def label_codes(
    const double[:, ::1] metric,
    const double[::1] bounds,
    double hysteresis,
    long dwell,
    long[:, ::1] state,
):
    """Label index per cell of ``metric`` (series × hours); MISSING where the metric is NaN (see regimes.py).
    ``state`` (series × 3: the label held, the one proposed, for how many hours) is where each series starts and,
    on return, where it ends: the hour after can carry on from it."""
    cdef Py_ssize_t n_rows = metric.shape[0], n_hours = metric.shape[1], n_bounds = bounds.shape[0]
    cdef Py_ssize_t i, j, b
    cdef long raw, lower, held, proposed, prev, candidate, streak, cur, last = n_bounds
    cdef double m, d, best, middle = n_bounds / 2.0
    cdef bint in_band, accept, extreme, contradicts
    out = np.empty((n_rows, n_hours), dtype=np.int64)
    cdef long[:, ::1] codes = out
    if dwell < 1:
        dwell = 1
    with nogil:
        for i in range(n_rows):
            prev, candidate, streak = state[i, 0], state[i, 1], state[i, 2]
            for j in range(n_hours):
                m = metric[i, j]
                # the bucket (numpy.searchsorted, side right: NaN sorts after every boundary)
                raw = n_bounds
                if not isnan(m):
                    raw = 0
                    while raw < n_bounds and bounds[raw] <= m:
                        raw += 1
                # inside a band: within the hysteresis of a boundary; the band's lower label (the first nearest)
                in_band, lower, best = False, 0, fabs(m - bounds[0]) if n_bounds else 0.0
                for b in range(n_bounds):
                    d = fabs(m - bounds[b])
                    if d < hysteresis:
                        in_band = True
                    if d < best:
                        best, lower = d, b
                if prev == MISSING:
                    held = raw
                else:
                    held = min(max(prev, lower), lower + 1)
                proposed = held if in_band else raw
                streak = streak + 1 if proposed == candidate else 1
                candidate = proposed
                contradicts = _sign(prev - middle) * _sign(0.0 if isnan(m) else m) < 0
                extreme = (proposed == 0 or proposed == last) and not in_band
                accept = prev == MISSING or proposed == prev or streak >= dwell or contradicts or extreme
                cur = proposed if accept else prev
                if isnan(m):
                    codes[i, j] = MISSING
                    streak = 0
                else:
                    codes[i, j] = cur
                    prev = cur
            state[i, 0], state[i, 1], state[i, 2] = prev, candidate, streak
    return out


def dwell(const long[:, ::1] codes, long min_dwell, const long[::1] immediate, long[:, ::1] state):
    """Categorical codes where a new value must hold ``min_dwell`` hours running (see regimes.dwell); ``state``
    as for label_codes: where each series starts, and on return where it ends."""
    cdef Py_ssize_t n_rows = codes.shape[0], n_hours = codes.shape[1], i, j, k
    cdef long proposed, prev, candidate, streak, cur
    cdef bint accept, now
    out = np.empty((n_rows, n_hours), dtype=np.int64)
    cdef long[:, ::1] steady = out
    if min_dwell < 1:
        min_dwell = 1
    with nogil:
        for i in range(n_rows):
            prev, candidate, streak = state[i, 0], state[i, 1], state[i, 2]
            for j in range(n_hours):
                proposed = codes[i, j]
                streak = streak + 1 if proposed == candidate else 1
                candidate = proposed
                now = False
                for k in range(immediate.shape[0]):
                    if immediate[k] == proposed:
                        now = True
                accept = prev == MISSING or proposed == prev or streak >= min_dwell or now
                cur = proposed if accept else prev
                if proposed == MISSING:
                    steady[i, j] = MISSING
                    streak = 0
                else:
                    steady[i, j] = cur
                    prev = cur
            state[i, 0], state[i, 1], state[i, 2] = prev, candidate, streak
    return out


def trailing_extreme(const double[:, ::1] values, long window, bint highest):
    """Per series (rows), the highest (else lowest) value of each hour and the ``window - 1`` before it within
    the row, NaN skipped; NaN where all are (polars' rolling_max/min with min_samples=1, over a dense series). A
    monotonic queue of the candidates: each value enters and leaves it once."""
    cdef Py_ssize_t n_rows = values.shape[0], n_hours = values.shape[1], i, j, head, tail
    cdef double v
    out = np.empty((n_rows, n_hours))
    queue = np.empty(max(n_hours, 1), dtype=np.int64)
    cdef double[:, ::1] res = out
    cdef long long[::1] q = queue
    with nogil:
        for i in range(n_rows):
            head, tail = 0, 0
            for j in range(n_hours):
                v = values[i, j]
                if not isnan(v):
                    while tail > head and (values[i, q[tail - 1]] <= v if highest else values[i, q[tail - 1]] >= v):
                        tail -= 1
                    q[tail] = j
                    tail += 1
                while tail > head and q[head] <= j - window:
                    head += 1
                res[i, j] = values[i, q[head]] if tail > head else NAN
    return out


# ---------------------------------------------------------------- venue statistics per (asset, hour)


cdef double _median(double* v, Py_ssize_t n) noexcept nogil:
    """The median of ``v[:n]`` (sorted in place), polars' interpolation; NaN when n == 0."""
    cdef Py_ssize_t i, j
    cdef double x
    if n == 0:
        return NAN
    for i in range(1, n):  # insertion sort: a group holds a few venues
        x = v[i]
        j = i - 1
        while j >= 0 and v[j] > x:
            v[j + 1] = v[j]
            j -= 1
        v[j + 1] = x
    if n % 2:
        return v[n // 2]
    return v[n // 2 - 1] + (v[n // 2] - v[n // 2 - 1]) * 0.5


def group_median(const long[::1] group, const double[::1] values, Py_ssize_t n_groups, Py_ssize_t n_slots):
    """Per group, the median of its rows' non-NaN ``values`` (NaN for a group without any)."""
    cdef Py_ssize_t n = group.shape[0], i, g
    fill = np.zeros(n_groups, dtype=np.int64)
    held = np.empty((n_groups, n_slots), dtype=np.float64)
    out = np.empty(n_groups, dtype=np.float64)
    cdef long[::1] count = fill
    cdef double[:, ::1] buf = held
    cdef double[::1] med = out
    with nogil:
        for i in range(n):
            if not isnan(values[i]):
                g = group[i]
                buf[g, count[g]] = values[i]
                count[g] += 1
        for g in range(n_groups):
            med[g] = _median(&buf[g, 0], count[g])
    return out


def funding_weights(
    const long[::1] group,
    Py_ssize_t n_groups,
    const double[::1] rate,
    const double[::1] spread,
    const double[::1] spread_z,
    const double[::1] band,
    const double[::1] median,
    const double[::1] oi_usd,
    const double[::1] volume,
    double outlier_z,
    long min_venues,
    double cap,
):
    """The venue-weighting rule per row: (outlier 0/1/-1 without a rate, weight or NaN, counted rate or NaN,
    basis code 0 oi / 1 volume / 2 equal / -1 without a rate). ``median`` and ``band`` are per group."""
    cdef Py_ssize_t n = group.shape[0], i, g
    n_rate_a, lacks_oi_a = np.zeros(n_groups, dtype=np.int64), np.zeros(n_groups, dtype=np.int64)
    lacks_volume_a = np.zeros(n_groups, dtype=np.int64)
    kept_a, total_a = np.zeros(n_groups), np.zeros(n_groups)
    outlier_a, basis_a = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    weight_a, counted_a, raw_a = np.empty(n), np.empty(n), np.empty(n)
    cdef long[::1] n_rate = n_rate_a, lacks_oi = lacks_oi_a, lacks_volume = lacks_volume_a
    cdef double[::1] kept = kept_a, total = total_a, weight = weight_a, counted = counted_a, w = raw_a
    cdef signed char[::1] outlier = outlier_a, basis = basis_a
    cdef double b, s
    cdef bint has
    with nogil:
        for i in range(n):
            if not isnan(rate[i]):
                g = group[i]
                n_rate[g] += 1
                if not (oi_usd[i] > 0):
                    lacks_oi[g] += 1
                if not (volume[i] > 0):
                    lacks_volume[g] += 1
        for i in range(n):
            g = group[i]
            has = not isnan(rate[i])
            outlier[i] = (
                has and n_rate[g] >= min_venues and fabs(spread_z[i]) >= outlier_z and fabs(spread[i]) >= band[g]
            )
            if lacks_oi[g] == 0:
                w[i], basis[i] = oi_usd[i], 0
            elif lacks_volume[g] == 0:
                w[i], basis[i] = volume[i], 1
            else:
                w[i], basis[i] = 1.0, 2
            if not has:
                w[i], basis[i], outlier[i] = 0.0, -1, -1
            if outlier[i] != 1:
                kept[g] += w[i]
        for i in range(n):
            g = group[i]
            if outlier[i] == 1 and kept[g] > 0:
                w[i] = min(w[i], kept[g] * cap / (1.0 - cap))
            total[g] += w[i]
        for i in range(n):
            g = group[i]
            weight[i] = w[i] / total[g] if outlier[i] >= 0 and total[g] > 0 else NAN
            if outlier[i] == 1:
                b, s = band[g], spread[i]
                counted[i] = median[g] + min(max(s, -b), b)
            else:
                counted[i] = rate[i]
    return outlier_a, weight_a, counted_a, basis_a


def asset_sums(
    const long[::1] group,
    Py_ssize_t n_groups,
    const long[::1] rank,
    const double[::1] oi_usd,
    const double[::1] oi_base,
    const double[::1] lag4,
    const double[::1] lag24,
    const double[::1] rate,
    const double[::1] counted,
    const double[::1] weight,
    const signed char[::1] outlier,
    const signed char[::1] basis,
):
    """Per group: the best row (lowest ``rank``, first on ties; -1 for an empty group), the row count and the sums
    and counts ``series.asset_frame`` reports, as a dict of arrays."""
    cdef Py_ssize_t n = group.shape[0], i, g
    out = {
        "best": np.full(n_groups, -1, dtype=np.int64),
        "rows": np.zeros(n_groups, dtype=np.int64),
        "oi_venues": np.zeros(n_groups, dtype=np.int64),
        "funding_venues": np.zeros(n_groups, dtype=np.int64),
        "funding_outliers": np.zeros(n_groups, dtype=np.int64),
        "basis": np.full(n_groups, -1, dtype=np.int8),
        "oi_usd": np.zeros(n_groups),
        "oi_base": np.zeros(n_groups),
        "now4": np.zeros(n_groups),
        "then4": np.zeros(n_groups),
        "now24": np.zeros(n_groups),
        "then24": np.zeros(n_groups),
        "rate_w": np.zeros(n_groups),
        "rate_max": np.full(n_groups, NAN),
        "rate_min": np.full(n_groups, NAN),
    }
    cdef long[::1] best = out["best"], rows = out["rows"], oi_venues = out["oi_venues"]
    cdef long[::1] funding_venues = out["funding_venues"], outliers = out["funding_outliers"]
    cdef signed char[::1] first_basis = out["basis"]
    cdef double[::1] usd = out["oi_usd"], coin = out["oi_base"], now4 = out["now4"], then4 = out["then4"]
    cdef double[::1] now24 = out["now24"], then24 = out["then24"], rate_w = out["rate_w"]
    cdef double[::1] hi = out["rate_max"], lo = out["rate_min"]
    cdef double product
    with nogil:
        for i in range(n):
            g = group[i]
            if best[g] < 0 or rank[i] < rank[best[g]]:
                best[g] = i
            rows[g] += 1
            if not isnan(oi_usd[i]):
                usd[g] += oi_usd[i]
                oi_venues[g] += 1
            if not isnan(oi_base[i]):
                coin[g] += oi_base[i]
                if not isnan(lag4[i]):
                    now4[g] += oi_base[i]
                    then4[g] += lag4[i]
                if not isnan(lag24[i]):
                    now24[g] += oi_base[i]
                    then24[g] += lag24[i]
            product = counted[i] * weight[i]
            if not isnan(product):
                rate_w[g] += product
            if not isnan(rate[i]):
                funding_venues[g] += 1
                if isnan(hi[g]) or rate[i] > hi[g]:
                    hi[g] = rate[i]
                if isnan(lo[g]) or rate[i] < lo[g]:
                    lo[g] = rate[i]
            if outlier[i] == 1:
                outliers[g] += 1
            if first_basis[g] < 0 and basis[i] >= 0:
                first_basis[g] = basis[i]
    return out


# ---------------------------------------------------------------- hourly price features per series
def price_features(
    const unsigned char[::1] starts,
    const long[::1] t_us,
    const double[::1] close,
    const long[::1] bar_hours,
    long window_24h_us,
    long window_7d_us,
):
    """Rows sorted by series then strictly increasing ``t_us`` (``starts`` marks each series' first row): the
    log return of each bar over the series' previous bar, per hour (÷ √bar_hours; NaN unless that bar closed exactly
    ``bar_hours`` before), and the sample standard deviation (ddof 1) of the returns in the trailing windows
    ``(t - window, t]`` (NaN with fewer than two) — polars' rolling_std_by over each series."""
    cdef Py_ssize_t n = t_us.shape[0], i
    logret_a, rv24_a, rv7d_a = np.empty(n), np.empty(n), np.empty(n)
    cdef double[::1] logret = logret_a, rv24 = rv24_a, rv7d = rv7d_a
    cdef Py_ssize_t start = 0
    cdef long hour_us = 3600000000
    with nogil:
        for i in range(n):
            if starts[i]:
                start = i
            if i > start and t_us[i] - t_us[i - 1] == bar_hours[i] * hour_us:
                logret[i] = log(close[i] / close[i - 1]) / sqrt(<double>bar_hours[i])
            else:
                logret[i] = NAN
        _rolling_std(starts, t_us, logret, window_24h_us, rv24)
        _rolling_std(starts, t_us, logret, window_7d_us, rv7d)
    return logret_a, rv24_a, rv7d_a


cdef void _rolling_std(
    const unsigned char[::1] starts, const long[::1] t_us, const double[::1] x, long window, double[::1] out
) noexcept nogil:
    """Running sums of the window's values, shifted by the series' first value (no cancellation between large
    sums); reset whenever the window empties, so rounding never carries across a gap."""
    cdef Py_ssize_t n = t_us.shape[0], i, lo = 0
    cdef long count = 0
    cdef double s1 = 0.0, s2 = 0.0, shift = 0.0, d, var
    for i in range(n):
        if starts[i]:
            lo, count, s1, s2, shift = i, 0, 0.0, 0.0, NAN
        if not isnan(x[i]):
            if isnan(shift):
                shift = x[i]
            d = x[i] - shift
            s1 += d
            s2 += d * d
            count += 1
        while t_us[lo] <= t_us[i] - window:
            if not isnan(x[lo]):
                d = x[lo] - shift
                s1 -= d
                s2 -= d * d
                count -= 1
            lo += 1
        if count == 0:
            s1, s2 = 0.0, 0.0
        if count >= 2:
            var = (s2 - s1 * s1 / count) / (count - 1)
            out[i] = sqrt(var) if var > 0.0 else 0.0
        else:
            out[i] = NAN


# ---------------------------------------------------------------- robust baselines
cdef double _walk_mad(const double[::1] ordered, Py_ssize_t c, double med) noexcept nogil:
    """The median absolute deviation from ``med`` of ``ordered[:c]`` (ascending; ``med`` its median): the middle
    of the distances, found by walking outward from the median (the distances below it grow to the left, those
    above it to the right) instead of sorting them."""
    cdef Py_ssize_t left = (c - 1) // 2, right = (c - 1) // 2 + 1, taken, lo = (c - 1) // 2, hi = c // 2
    cdef double d = NAN, d_lo = NAN, d_left, d_right
    for taken in range(hi + 1):
        d_left = med - ordered[left] if left >= 0 else INFINITY
        d_right = ordered[right] - med if right < c else INFINITY
        if d_left <= d_right:
            d = d_left
            left -= 1
        else:
            d = d_right
            right += 1
        if taken == lo:
            d_lo = d
    return (d_lo + d) / 2.0


def sorted_mad(const double[:, ::1] ordered, const long[::1] count, const double[::1] median):
    """Per row of ``ordered`` (ascending, its ``count`` values first, NaN after): the median absolute deviation
    from ``median`` (the row's median) by ``_walk_mad`` — numpy's nanmedian(|x - median|) exactly (NaN for an
    empty row)."""
    cdef Py_ssize_t n_rows = ordered.shape[0], r
    out = np.empty(n_rows)
    cdef double[::1] mad = out
    with nogil:
        for r in range(n_rows):
            mad[r] = _walk_mad(ordered[r], count[r], median[r]) if count[r] > 0 else NAN
    return out


cdef Py_ssize_t _lower(const double[::1] buf, Py_ssize_t c, double v) noexcept nogil:
    """The first place in ``buf[:c]`` (ascending) whose value is not below ``v``."""
    cdef Py_ssize_t lo = 0, hi = c, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def share_below(const double[:, ::1] ordered, const long[::1] count, const double[::1] values):
    """Per row, the share of its first ``count`` values (ascending) below ``values[row]``, ties counted half —
    (below + 0.5 · equal) / max(count, 1) — by two binary searches (NaN values: below and equal are 0)."""
    cdef Py_ssize_t i, n = ordered.shape[0], c, lt, le
    if count.shape[0] != n or values.shape[0] != n:
        raise ValueError("share_below: one count and one value per row")
    out_a = np.empty(n)
    cdef double[::1] out = out_a
    with nogil:
        for i in range(n):
            c = min(count[i], ordered.shape[1])
            lt = _lower(ordered[i], c, values[i])
            le = _upper(ordered[i], c, values[i])
            out[i] = (lt + 0.5 * (le - lt)) / (c if c > 1 else 1)
    return out_a


cdef Py_ssize_t _upper(const double[::1] buf, Py_ssize_t c, double v) noexcept nogil:
    """How many of ``buf[:c]`` (ascending) are at most ``v`` (NaN: none)."""
    cdef Py_ssize_t lo = 0, hi = c, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef Py_ssize_t _take_out(double[::1] buf, Py_ssize_t c, double v) noexcept nogil:
    """``v`` taken out of ``buf[:c]`` (ascending; a binary search and a shift): the count left, -1 if ``v`` is not
    there (``buf`` unchanged)."""
    cdef Py_ssize_t j = _lower(buf, c, v)
    if j == c or buf[j] != v:
        return -1
    c -= 1
    while j < c:
        buf[j] = buf[j + 1]
        j += 1
    return c


cdef Py_ssize_t _put_in(double[::1] buf, Py_ssize_t c, double v) noexcept nogil:
    """``v`` put into ``buf[:c]`` (ascending; room for one more): the count after."""
    cdef Py_ssize_t j = c
    while j > 0 and buf[j - 1] > v:
        buf[j] = buf[j - 1]
        j -= 1
    buf[j] = v
    return c + 1


def sliding_median_mad(
    const double[:, ::1] values, const double[:, ::1] first_sorted, const long[::1] first, const long[::1] stop
):
    """Median, MAD and count of windows ``[first[w], stop[w])`` of each row's columns (both bounds ascending),
    NaN left out. ``first_sorted``: each row's first window sorted ascending, NaN last (numpy's sort). Each later
    window keeps the row's values sorted by taking out the columns that left and putting in those that came (a
    binary search and a shift each): the same sorted values as sorting each window alone, so the same medians and
    ``_walk_mad`` MADs. Returns three (rows × windows) arrays; median and MAD are NaN where a window is empty."""
    cdef Py_ssize_t n_rows = values.shape[0], n_win = first.shape[0], width = first_sorted.shape[1]
    cdef Py_ssize_t r, w, i, c, left, lo, hi
    cdef double v
    med_out = np.full((n_rows, n_win), NAN)
    mad_out = np.full((n_rows, n_win), NAN)
    count_out = np.zeros((n_rows, n_win), dtype=np.int64)
    buf_arr = np.empty(max(values.shape[1], 1))
    cdef double[:, ::1] med = med_out, mad = mad_out
    cdef long[:, ::1] count = count_out
    cdef double[::1] buf = buf_arr
    if n_win == 0:
        return med_out, mad_out, count_out
    with nogil:
        for r in range(n_rows):
            c = 0
            for i in range(width):
                if isnan(first_sorted[r, i]):
                    break
                buf[c] = first_sorted[r, i]
                c += 1
            lo, hi = first[0], stop[0]
            for w in range(n_win):
                if w > 0:
                    for i in range(lo, min(first[w], hi)):  # the columns that left the window
                        v = values[r, i]
                        left = -1 if isnan(v) else _take_out(buf, c, v)
                        if left >= 0:  # always, for a value: it came in before
                            c = left
                    lo = first[w]
                    if hi < lo:
                        hi = lo
                    for i in range(hi, stop[w]):  # the columns that came
                        v = values[r, i]
                        if not isnan(v):
                            c = _put_in(buf, c, v)
                    hi = stop[w]
                count[r, w] = c
                if c > 0:
                    med[r, w] = (buf[(c - 1) // 2] + buf[c // 2]) / 2.0
                    mad[r, w] = _walk_mad(buf, c, med[r, w])
    return med_out, mad_out, count_out


def slide_sorted(
    const double[:, ::1] ordered,
    const long[::1] count,
    const double[:, ::1] leaving,
    const double[:, ::1] entering,
    Py_ssize_t width,
):
    """Each row's sorted sample (ascending, its ``count`` values first) with its ``leaving`` values taken out and
    the ``entering`` ones put in (NaN: none) — the sorted sample of the next window, as sorting it would give — in a
    (rows × ``width``) array, NaN after each row's values; and whether every leaving value was found (if not, the
    sample was not the one the values say: the caller sorts afresh)."""
    cdef Py_ssize_t n_rows = ordered.shape[0], r, i, c, left
    cdef double v
    cdef bint found = True
    if count.shape[0] != n_rows or leaving.shape[0] != n_rows or entering.shape[0] != n_rows:
        raise ValueError("slide_sorted: one count, leaving row and entering row per sample row")
    out_a = np.empty((n_rows, width))
    buf_a = np.empty(ordered.shape[1] + entering.shape[1])
    cdef double[:, ::1] out = out_a
    cdef double[::1] buf = buf_a
    with nogil:
        for r in range(n_rows):
            c = min(count[r], ordered.shape[1])
            for i in range(c):
                buf[i] = ordered[r, i]
            for i in range(leaving.shape[1]):
                v = leaving[r, i]
                if isnan(v):
                    continue
                left = _take_out(buf, c, v)
                if left < 0:
                    found = False
                else:
                    c = left
            for i in range(entering.shape[1]):
                v = entering[r, i]
                if not isnan(v):
                    c = _put_in(buf, c, v)
            if c > width:
                found = False
                c = width
            for i in range(c):
                out[r, i] = buf[i]
            for i in range(c, width):
                out[r, i] = NAN
    return out_a, bool(found)


# ---------------------------------------------------------------- grids
def scatter(const double[::1] values, const long[::1] cell, Py_ssize_t n_cells):
    """A flat array of ``n_cells`` NaN with ``values[i]`` written at ``cell[i]`` (rows with ``cell`` -1 skipped):
    rows laid out on a (keys × hours) grid in one pass."""
    out = np.full(n_cells, NAN)
    cdef double[::1] o = out
    cdef Py_ssize_t i, c
    with nogil:
        for i in range(values.shape[0]):
            c = cell[i]
            if c >= 0:
                o[c] = values[i]
    return out
