# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The liquidation model's hourly loop (levradar.analytics.liqmodel), the pocket search of every hour of a map
(heatmap.pockets_by_row), and the 24 h forecast's erfc, forced-flow sums and expected volatility
(analytics/forecast.py), compiled to C.

Cython, built when the package is installed: a command that draws a map then loads a small shared library
(~1 ms) instead of numba's compiler and cache (~0.8 s per process, measured; docs/heatmap.md §5). Behaviour is the
former numba kernel's, operation for operation (IEEE doubles, no fast-math)."""

from libc.math cimport INFINITY, NAN, erfc as c_erfc, isnan, log, sqrt

import numpy as np


cdef Py_ssize_t _search(const double[::1] edges, double v, bint right) noexcept nogil:
    """numpy.searchsorted(edges, v, side): NaN sorts after every edge."""
    cdef Py_ssize_t lo = 0, hi = edges.shape[0], mid
    if isnan(v):
        return hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if (edges[mid] <= v) if right else (edges[mid] < v):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline bint _counts(double edge, double v, bint right) noexcept nogil:
    return edge <= v if right else edge < v


cdef Py_ssize_t _find(
    const double[::1] edges, double v, bint right, double log0, double per_log
) noexcept nogil:
    """``_search`` from a first guess: the model's edges are log-spaced (liqmodel.price_edges), so
    ``(log v - log edges[0]) * per_log`` lands on the answer or next to it; a step or two fixes the rounding, and
    edges that are not log-spaced (``per_log`` 0) or a guess further off fall back to the binary search — the same
    index either way."""
    cdef Py_ssize_t n = edges.shape[0], g, step
    cdef double x
    if per_log <= 0.0 or not (v > 0.0):
        return _search(edges, v, right)
    x = (log(v) - log0) * per_log + 1.0
    g = 0 if x < 0.0 else (n if x > n else <Py_ssize_t>x)
    for step in range(3):
        if g < n and _counts(edges[g], v, right):
            g += 1
        elif g > 0 and not _counts(edges[g - 1], v, right):
            g -= 1
        else:
            return g
    return _search(edges, v, right)


cdef double _per_log(const double[::1] edges) noexcept nogil:
    """Edges per unit of log price when the edges are positive (0: use the binary search)."""
    cdef Py_ssize_t n = edges.shape[0]
    if n < 2 or not (edges[0] > 0.0) or not (edges[n - 1] > edges[0]):
        return 0.0
    return (n - 1) / (log(edges[n - 1]) - log(edges[0]))


cdef void _deposit(
    double[::1] book, const double[::1] edges, double lo, double hi, double mass, double log0, double per_log
) noexcept nogil:
    """Spread ``mass`` uniformly over prices [lo, hi] into the buckets of ``book`` (1-D)."""
    cdef Py_ssize_t n = book.shape[0], point, j, first, last
    cdef double density, overlap
    if mass <= 0.0:
        return
    if hi <= lo:
        point = _find(edges, lo, True, log0, per_log) - 1
        if point == n and lo == edges[n]:
            point = n - 1
        if 0 <= point < n:
            book[point] += mass
        return
    density = mass / (hi - lo)
    first = max(_find(edges, lo, True, log0, per_log) - 1, 0)
    last = min(_find(edges, hi, False, log0, per_log) - 1, n - 1)  # the last bucket starting below hi
    if last < first:
        return
    # the end buckets overlap [lo, hi] in part; every bucket between lies inside it, so its overlap is its own
    # width (the same number the general formula gives) and the loop runs without a branch
    overlap = min(edges[first + 1], hi) - max(edges[first], lo)
    if overlap > 0.0:
        book[first] += density * overlap
    for j in range(first + 1, last):
        book[j] += density * (edges[j + 1] - edges[j])
    if last > first:
        overlap = min(edges[last + 1], hi) - max(edges[last], lo)
        if overlap > 0.0:
            book[last] += density * overlap


cdef double _clear(double[::1] book, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Zero buckets ``[lo, hi)`` of one band's book and return what they held."""
    cdef double held = 0.0
    cdef Py_ssize_t j
    for j in range(max(lo, 0), min(hi, book.shape[0])):
        held += book[j]
        book[j] = 0.0
    return held


cdef void _close(
    double[:, ::1] book, double[::1] scale, double[::1] totals, double now, double before, double crossed
) noexcept nogil:
    """An OI fall beyond what the crossed levels explain closes the rest of the side's book proportionally; a
    fall of all of it empties the side (scale factors stay positive, so later cohorts are never divided by 0)."""
    cdef double uncrossed, keep
    cdef Py_ssize_t k, j
    if isnan(now) or isnan(before):
        return
    uncrossed = before - crossed  # what was left of last hour's OI once the crossed levels were liquidated
    if now >= uncrossed or uncrossed <= 0.0:
        return
    keep = now / uncrossed  # the rest of the fall closes that share of every remaining position (ageing aside)
    for k in range(totals.shape[0]):
        if keep > 1e-12:
            scale[k] *= keep
        else:
            if k < book.shape[0]:
                for j in range(book.shape[1]):
                    book[k, j] = 0.0
            totals[k] = 0.0
            scale[k] = 1.0


cdef void _rescale(double[::1] scale, double[::1] totals, double[:, ::1] book, double target) noexcept nogil:
    """Scale one side (its bands and its reserve) to the OI in USD; fold factors in before they under/overflow —
    every hour, also one without OI (the factors still decay then: a long stretch without OI would otherwise let
    a deposit's mass, divided by the factor, overflow the book)."""
    cdef double held = 0.0, f
    cdef Py_ssize_t k, j
    for k in range(totals.shape[0]):
        held += totals[k] * scale[k]
    if not (isnan(target) or held <= 0.0):
        f = target / held
        for k in range(totals.shape[0]):
            scale[k] *= f
    for k in range(totals.shape[0]):
        if scale[k] < 1e-150 or scale[k] > 1e150:
            if k < book.shape[0]:
                for j in range(book.shape[1]):
                    book[k, j] *= scale[k]
            totals[k] *= scale[k]
            scale[k] = 1.0


def simulate(
    const double[::1] low,
    const double[::1] high,
    const double[::1] close,
    const double[::1] oi_usd,
    double oi_before,
    const double[::1] new_usd,
    const double[::1] lev_long,
    const double[::1] edges,
    const double[::1] near,
    const double[::1] far,
    const double[::1] weights,
    double lev_share,
    const double[::1] decay,
    const unsigned char[::1] record,
    double[:, ::1] longs,
    double[:, ::1] shorts,
    double[::1] s_long,
    double[::1] s_short,
    double[::1] t_long,
    double[::1] t_short,
    long long[::1] top,
    long long[::1] bottom,
):
    """The hourly loop (liqmodel's module docstring), advancing the state it is given (``longs``/``shorts``: bands ×
    buckets before scaling; ``s_*``: lazy per-band scale factors, the hedged reserve last; ``t_*``: per-band totals
    before scaling, the reserve's being its whole book; ``top``/``bottom``: the occupied extent per band;
    ``oi_before``: the OI in USD of the hour before the first; ``record``: 1 for the hours to keep). Returns the long
    and short USD per bucket and the reserve of each side (rows × 2) at the recorded hours, in order."""
    cdef Py_ssize_t n_hours = low.shape[0], n_buckets = edges.shape[0] - 1, n_bands = weights.shape[0]
    cdef Py_ssize_t rows = 0, h, k, j, r = 0, jl, jh, jc
    cdef double crossed_long, crossed_short, before, lev_l, lev_s, lo_l, hi_l, lo_s, hi_s, m_l, m_s, got
    for h in range(n_hours):
        rows += record[h] != 0
    long_out = np.zeros((rows, n_buckets))
    short_out = np.zeros((rows, n_buckets))
    reserve_out = np.zeros((rows, 2))
    cdef double[:, ::1] long_grid = long_out, short_grid = short_out, reserve = reserve_out
    cdef double per_log = _per_log(edges), log0 = log(edges[0]) if per_log > 0.0 else 0.0
    with nogil:
        for h in range(n_hours):
            if not (isnan(low[h]) or isnan(high[h])):
                jl = max(_find(edges, low[h], True, log0, per_log) - 1, 0)
                jh = min(_find(edges, high[h], False, log0, per_log), n_buckets)
                crossed_long = 0.0
                crossed_short = 0.0
                for k in range(n_bands + 1):
                    s_long[k] *= decay[k]
                    s_short[k] *= decay[k]
                for k in range(n_bands):
                    if top[k] >= jl:
                        got = _clear(longs[k], jl, top[k] + 1)
                        t_long[k] -= got
                        crossed_long += got * s_long[k]
                        top[k] = jl - 1
                    if bottom[k] < jh:
                        got = _clear(shorts[k], bottom[k], jh)
                        t_short[k] -= got
                        crossed_short += got * s_short[k]
                        bottom[k] = jh
                before = oi_before if h == 0 else oi_usd[h - 1]
                _close(longs, s_long, t_long, oi_usd[h], before, crossed_long)
                _close(shorts, s_short, t_short, oi_usd[h], before, crossed_short)
                if new_usd[h] > 0.0:
                    jc = max(_find(edges, close[h], True, log0, per_log) - 1, 0)
                    lev_l = lev_long[h]
                    lev_s = 2.0 * lev_share - lev_l
                    for k in range(n_bands):
                        lo_l = low[h] * (1.0 - far[k])
                        hi_l = high[h] * (1.0 - near[k])
                        lo_s = low[h] * (1.0 + near[k])
                        hi_s = high[h] * (1.0 + far[k])
                        m_l = new_usd[h] * lev_l * weights[k] / s_long[k]
                        m_s = new_usd[h] * lev_s * weights[k] / s_short[k]
                        _deposit(longs[k], edges, lo_l, hi_l, m_l, log0, per_log)
                        _deposit(shorts[k], edges, lo_s, hi_s, m_s, log0, per_log)
                        t_long[k] += m_l
                        t_short[k] += m_s
                        top[k] = max(top[k], min(_find(edges, hi_l, True, log0, per_log) - 1, n_buckets - 1))
                        bottom[k] = min(bottom[k], max(_find(edges, lo_s, True, log0, per_log) - 1, 0))
                        # levels of the new cohort that the close is already beyond were liquidated within the bar
                        if top[k] >= jc:
                            t_long[k] -= _clear(longs[k], jc, top[k] + 1)
                            top[k] = jc - 1
                        if bottom[k] <= jc:
                            t_short[k] -= _clear(shorts[k], bottom[k], jc + 1)
                            bottom[k] = jc + 1
                    t_long[n_bands] += new_usd[h] * (1.0 - lev_l) / s_long[n_bands]
                    t_short[n_bands] += new_usd[h] * (1.0 - lev_s) / s_short[n_bands]
            # every hour, with or without a bar: each side is the OI of that hour
            _rescale(s_long, t_long, longs, oi_usd[h])
            _rescale(s_short, t_short, shorts, oi_usd[h])
            if record[h]:
                # a band's longs lie at or below top[k], its shorts at or above bottom[k]: the rest is zero
                for k in range(n_bands):
                    for j in range(min(top[k] + 1, n_buckets)):
                        long_grid[r, j] += longs[k, j] * s_long[k]
                    for j in range(max(bottom[k], 0), n_buckets):
                        short_grid[r, j] += shorts[k, j] * s_short[k]
                reserve[r, 0] = t_long[n_bands] * s_long[n_bands]
                reserve[r, 1] = t_short[n_bands] * s_short[n_bands]
                r += 1
    return long_out, short_out, reserve_out


def erfc(const double[::1] x):
    """The complementary error function element-wise (C's ``erfc``, as ``math.erfc``)."""
    out = np.empty(x.shape[0])
    cdef double[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            o[i] = c_erfc(x[i])
    return out


def find(const double[::1] edges, double v, bint right):
    """``_find`` for Python callers (the tests): ``numpy.searchsorted(edges, v, "right" if right else "left")``."""
    cdef double per_log = _per_log(edges)
    return _find(edges, v, right, log(edges[0]) if per_log > 0.0 else 0.0, per_log)


def deposit(double[::1] book, const double[::1] edges, double lo, double hi, double mass):
    """``_deposit`` for Python callers (the tests): spread ``mass`` uniformly over prices [lo, hi] into ``book``."""
    cdef double per_log = _per_log(edges)
    _deposit(book, edges, lo, hi, mass, log(edges[0]) if per_log > 0.0 else 0.0, per_log)


cdef double _select(double* v, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """The k-th smallest of ``v[:n]`` (0-based), partitioning ``v`` in place: everything after index k is >= it."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j
    cdef double pivot, tmp
    while lo < hi:
        pivot = v[(lo + hi) >> 1]
        i, j = lo, hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                tmp = v[i]
                v[i] = v[j]
                v[j] = tmp
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return v[k]


def pockets(
    const double[:, ::1] usd, const double[:, ::1] centers, const double[::1] prices, bint above, double quantile
):
    """The nearest dense pocket on one side of each row (an hour of a map, or an asset's book) with its buckets'
    centres (a row each: several assets' books at once; a map's rows share theirs, a broadcast view): (found,
    USD-weighted price, distance in % of the row's price, USD, density threshold, its first and last bucket;
    ``centers`` one row shared by every row of ``usd``, or a row each) —
    heatmap.pockets_by_row's rule; a row without a level on that side has found 0, price 0, distance -100 %, USD 0,
    an infinite threshold and buckets -1."""
    cdef Py_ssize_t n_rows = usd.shape[0], n = usd.shape[1], r, k, m, lo, hi, first, last
    if centers.shape[1] != n or centers.shape[0] not in (1, n_rows):
        raise ValueError("centers: one row of the buckets' prices, or one per row of usd")
    found_a = np.zeros(n_rows, dtype=np.uint8)
    price_a, pct_a, total_a, threshold_a = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows), np.empty(n_rows)
    first_a, last_a = np.full(n_rows, -1, dtype=np.int64), np.full(n_rows, -1, dtype=np.int64)
    buffer = np.empty(max(n, 1))
    cdef long long[::1] run_first = first_a, run_last = last_a
    cdef unsigned char[::1] found = found_a
    cdef double[::1] price = price_a, pct = pct_a, total = total_a, threshold = threshold_a, buf = buffer
    cdef double p, v, pos, at_lo, at_hi, thr, usd_sum, weighted
    cdef bint side, shared = centers.shape[0] == 1
    cdef const double* c
    with nogil:
        for r in range(n_rows):
            p = prices[r]
            c = &centers[0 if shared else r, 0]
            m = 0
            for k in range(n):
                side = c[k] > p if above else c[k] < p
                if side and usd[r, k] > 0:
                    buf[m] = usd[r, k]
                    m += 1
            if m == 0:
                found[r], price[r], pct[r], total[r], threshold[r] = 0, 0.0, -100.0, 0.0, INFINITY
                continue
            pos = quantile * (m - 1)
            lo = <Py_ssize_t>pos
            hi = min(lo + 1, m - 1)
            at_lo = _select(&buf[0], m, lo)
            at_hi = at_lo
            for k in range(lo + 1, m):  # the next order statistic: the least of what lies above index lo
                if k == lo + 1 or buf[k] < at_hi:
                    at_hi = buf[k]
            if hi == lo:
                at_hi = at_lo
            thr = at_lo + (pos - lo) * (at_hi - at_lo)
            # the run of dense buckets nearest the price: above, the first dense one upwards; below, the last
            first, last = -1, -1
            if above:
                for k in range(n):
                    if c[k] > p and usd[r, k] > 0 and usd[r, k] >= thr:
                        first = k
                        break
                last = first
                while last + 1 < n and c[last + 1] > p and usd[r, last + 1] > 0 and usd[r, last + 1] >= thr:
                    last += 1
            else:
                for k in range(n - 1, -1, -1):
                    if c[k] < p and usd[r, k] > 0 and usd[r, k] >= thr:
                        last = k
                        break
                first = last
                while first > 0 and c[first - 1] < p and usd[r, first - 1] > 0 and usd[r, first - 1] >= thr:
                    first -= 1
            usd_sum, weighted = 0.0, 0.0
            for k in range(first, last + 1):
                usd_sum += usd[r, k]
                weighted += c[k] * usd[r, k]
            found[r], total[r], threshold[r] = 1, usd_sum, thr
            run_first[r], run_last[r] = first, last
            price[r] = weighted / usd_sum
            pct[r] = (price[r] / p - 1.0) * 100.0
    return found_a.view(np.bool_), price_a, pct_a, total_a, threshold_a, first_a, last_a


# ---------------------------------------------------------------- the forced-flow forecast (analytics/forecast.py)
def forced_flow(
    const double[:, ::1] centers,
    const double[:, ::1] long_usd,
    const double[:, ::1] short_usd,
    const double[::1] price,
    const double[::1] hourly_vol,
    double hours,
):
    """The expected forced flow of each side within ``hours`` for each row (a book: its buckets' ``centers``, long
    and short USD, its ``price`` and ``hourly_vol``; forecast.forced_flow_forecasts' sums): each bucket's USD times
    2·Φ(−|d|/σ√h) = erfc(|d| / (σ√(2h))), d the log distance of its centre from the price; longs below the price,
    shorts above. One pass per row, no temporary arrays."""
    cdef Py_ssize_t i, j, rows = centers.shape[0], n = centers.shape[1]
    if long_usd.shape[0] != rows or short_usd.shape[0] != rows or price.shape[0] != rows:
        raise ValueError("forced_flow: one price and one book row per row of centres")
    if hourly_vol.shape[0] != rows or long_usd.shape[1] != n or short_usd.shape[1] != n:
        raise ValueError("forced_flow: one volatility per row, books as wide as the centres")
    longs_out = np.zeros(rows)
    shorts_out = np.zeros(rows)
    cdef double[::1] longs = longs_out, shorts = shorts_out
    cdef double scale, d
    with nogil:
        for i in range(rows):
            scale = hourly_vol[i] * sqrt(2.0 * hours)
            for j in range(n):
                d = log(centers[i, j] / price[i])
                if d < 0.0:
                    longs[i] += long_usd[i, j] * c_erfc(-d / scale)
                elif d > 0.0:
                    shorts[i] += short_usd[i, j] * c_erfc(d / scale)
    return longs_out, shorts_out


cdef Py_ssize_t _count_at_most(const long long[::1] values, long long v) noexcept nogil:
    """numpy.searchsorted(values, v, "right") on ascending integers."""
    cdef Py_ssize_t lo = 0, hi = values.shape[0], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def hourly_vol(
    const long long[::1] end_s,
    const double[::1] r,
    const long long[::1] hour,
    long long when_s,
    long long season_s,
    const long long[::1] blend_hours,
    const double[::1] blend_weight,
    const long long[::1] ahead,
):
    """forecast.HourlyVol.at in one pass: the returns known at ``when_s`` over the season before it (``end_s``: each
    return's time, ascending; NaN returns left out), the variance blend of the last ``blend_hours`` of them, times
    the hour-of-day profile of the ``ahead`` hours over the season's mean; NaN with fewer than 48 returns or a
    volatility of 0."""
    cdef Py_ssize_t n = end_s.shape[0], lo = 0, hi = 0, i, b, taken
    cdef long count = 0
    cdef double total = 0.0, sq, var = 0.0, part, season, profile = 0.0, mean, vol
    cdef double per_sum[24]
    cdef long per_count[24]
    for i in range(24):
        per_sum[i] = 0.0
        per_count[i] = 0
    hi = _count_at_most(end_s, when_s)
    lo = _count_at_most(end_s, when_s - season_s)
    for i in range(lo, hi):
        if not isnan(r[i]):
            sq = r[i] * r[i]
            count += 1
            total += sq
            per_sum[hour[i]] += sq
            per_count[hour[i]] += 1
    if count < 48:
        return NAN
    for b in range(blend_hours.shape[0]):
        part, taken, i = 0.0, 0, hi - 1
        while i >= lo and taken < blend_hours[b]:
            if not isnan(r[i]):
                part += r[i] * r[i]
                taken += 1
            i -= 1
        var += blend_weight[b] * (part / taken)
    mean = total / count
    for i in range(ahead.shape[0]):
        profile += per_sum[ahead[i]] / (per_count[ahead[i]] if per_count[ahead[i]] > 0 else 1)
    season = (profile / ahead.shape[0]) / mean if mean > 0.0 else 1.0
    vol = sqrt(var * (season if season > 0.0 else 1.0))
    return vol if vol > 0.0 else NAN
