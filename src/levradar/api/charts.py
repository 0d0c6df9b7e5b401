"""Dashboard charts as Plotly figures, built with the plotly Python package and sent as JSON (typed arrays).

The heatmap is the modelled liquidation map over time (price × hour, long + short USD per bucket) with the price
line over it and the real liquidation prints of the store (one marker trace per side, area ∝ USD), as on the big
analytics sites. Large grids are pooled to at most ``MAX_COLUMNS`` × ``MAX_ROWS``
cells (sums over buckets, the maximum over hours) and drawn on evenly spaced price rows (``evenly_spaced``), so a
90-day map draws as one image in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from levradar.analytics.heatmap import grid_buckets
from levradar.analytics.measured import on_rows
from levradar.analytics.prints import SIDE_LABELS, SIDES, Prints, short_usd
from levradar.analytics.series import OI_STALE
from levradar.analytics.signals import NEUTRAL_TAG, SETUP_TAGS
from levradar.api.service import DEFAULT_DAYS, NotFound, RadarService
from levradar.domain.units import apr

HOUR = timedelta(hours=1)
MAX_COLUMNS = 540  # hours shown (pooled beyond this: 90 days draw as 4h columns)
MAX_ROWS = 160  # price buckets shown (pooled beyond this)
MAX_EVEN_ROWS = 480  # the pooled rows drawn on at most this many evenly spaced prices (evenly_spaced)
HEAT_COLOURS = [  # dark → hot, like the liquidation maps traders know
    [0.0, "#0b0221"],
    [0.15, "#2b0b5a"],
    [0.35, "#1f6f8b"],
    [0.6, "#2fbf71"],
    [0.85, "#f2e34c"],
    [1.0, "#fff7a8"],
]
# real prints: colours the heat scale (purple → teal → green → yellow) and the white price line do not use, with a
# white edge so a marker reads on the dark and on the hot cells alike
PRINT_COLOURS = {"long": "#ff2bd1", "short": "#3fa9ff"}
PRINT_MAX_PX = 26  # marker diameter of the largest print (or sum) drawn
# one colour per venue in every chart and table (Okabe-Ito, colour-blind safe, distinct on the dark background);
# a venue not named here gets one of OTHER_VENUE_COLOURS picked by a hash of its name: the same on every page
VENUE_COLOURS = {"binance": "#f0b90b", "bybit": "#d55e00", "okx": "#56b4e9", "hyperliquid": "#009e73"}
OTHER_VENUE_COLOURS = ("#cc79a7", "#0072b2", "#e5e5e5", "#a6761d", "#b39ddb", "#9ccc65", "#ff8a80", "#80deea")
# the regime timeline: one colour per tag, those of the dashboard's tag chips (app.css .tag.A..D)
TAG_COLOURS = {
    NEUTRAL_TAG: "#8a91a6",
    SETUP_TAGS["A"]: "#ff5c6c",
    SETUP_TAGS["B"]: "#ff9f43",
    SETUP_TAGS["C"]: "#4ea1ff",
    SETUP_TAGS["D"]: "#2fbf71",
}
LAYOUT = {
    "template": "plotly_dark",
    # margins that already hold the tick labels (prices, rates, dates): Plotly's auto-margin would otherwise widen
    # them after the first drawing and draw the whole chart again (twice the time: 0.3 s of a cold heatmap)
    "margin": {"l": 72, "r": 60, "t": 40, "b": 48},
    "paper_bgcolor": "#11131a",
    "plot_bgcolor": "#11131a",
    "legend": {"orientation": "h", "y": 1.08},
}
COMPILE_HINT = b"//# allFunctionsCalledOnLoad\n"  # https://v8.dev/blog/explicit-compile-hints
Figure = Callable[[RadarService, str, datetime | None, int], bytes]


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """plotly.js for the dashboard: a build of the very version the plotly Python package ships with only the two
    trace types the charts use, scatter and heatmap (1.2 MB, MIT; built by ``scripts/plotly-bundle``: its README
    says how). A test keeps the two versions equal. Against the cartesian distribution (1.5 MB) it made plotly.js
    ready on a cold asset page in about half the time (docs/heatmap.md §5); the full bundle is 4.7 MB.

    It starts with V8's compile hint ``//# allFunctionsCalledOnLoad``: Chromium then compiles every function on a
    background thread while the file streams in, instead of one by one on the main thread as plotly.js calls them
    (lazy compilation was most of the bundle's ~0.7 s on a cold page here); other browsers ignore the comment."""
    return COMPILE_HINT + (resources.files("levradar.web") / "vendor" / "plotly-levradar.min.js").read_bytes()


@lru_cache(maxsize=1)
def plotly_url() -> str:
    """Where the pages load :func:`plotly_js` from: named by its content, so a browser may keep it for good."""
    return f"/vendor/plotly-{hashlib.sha256(plotly_js()).hexdigest()[:16]}.min.js"


def venue_colour(venue: str) -> str:
    """The venue's colour on every chart and table of the dashboard (deterministic for any venue name)."""
    return (
        VENUE_COLOURS.get(venue) or OTHER_VENUE_COLOURS[zlib.crc32(venue.encode()) % len(OTHER_VENUE_COLOURS)]
    )


def _encode(fig: go.Figure) -> bytes:
    text: str = fig.to_json()
    return text.encode()


def _naive(times: list[datetime]) -> npt.NDArray[np.datetime64]:
    """UTC times as numpy datetimes (numpy has no zones; every time in levradar is UTC)."""
    return np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[us]")


def _pool(grid: npt.NDArray[np.float64], hours: int, rows: int) -> npt.NDArray[np.float64]:
    """Sum ``rows`` adjacent price buckets and take the max over ``hours`` adjacent hours (edges padded)."""
    t, p = grid.shape
    pad_t, pad_p = (-t) % hours, (-p) % rows
    padded = np.pad(grid, ((0, pad_t), (0, pad_p)))
    summed = padded.reshape(padded.shape[0], -1, rows).sum(axis=2)
    pooled: npt.NDArray[np.float64] = summed.reshape(-1, hours, summed.shape[1]).max(axis=1)
    return pooled


def evenly_spaced(
    z: npt.NDArray[np.float64], edges: npt.NDArray[np.float64], max_rows: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``z``'s rows (row i between ``edges[i]`` and ``edges[i + 1]``, any spacing) on evenly spaced prices: each new
    row is the old row its centre falls in (values unchanged; a step is the narrowest row when ``max_rows`` allows,
    so every row keeps at least one and a boundary moves by at most half of it: under a pixel of a 90-day map).
    Plotly draws an evenly spaced heatmap as one image; the model's geometric rows it draws one rectangle per cell
    (0.3 s of a cold asset page for a 90-day map)."""
    span = float(edges[-1] - edges[0])
    n = min(max_rows, math.ceil(span / float(np.diff(edges).min())))
    centres = edges[0] + span / n * (np.arange(n) + 0.5)
    return centres, z[np.searchsorted(edges, centres, side="right") - 1]


def heatmap_figure(service: RadarService, asset: str, as_of: datetime | None, days: int) -> bytes:
    ah, when = service.heatmap(asset, as_of, days)
    m, cfg = ah.map, service.heatmap_config
    closes = m.closes if m.closes is not None else np.array([m.price])
    keep, rows = grid_buckets(m, cfg, MAX_ROWS)
    grid = (m.long_usd + m.short_usd)[:, keep]
    hours = max(1, math.ceil(grid.shape[0] / MAX_COLUMNS))
    pooled = _pool(grid, hours, rows)
    prices = m.centers[keep]
    price_rows = np.array([prices[i : i + rows].mean() for i in range(0, prices.size, rows)])
    row_edges = np.append(m.edges[keep][::rows], m.edges[keep[-1] + 1])
    even_prices, even_z = evenly_spaced(pooled.T, row_edges, MAX_EVEN_ROWS)
    # the book of row t (after the bar that closed at t) holds from t to the next hour: centre each column there,
    # so a print lands in the column of the book it hit (the price line's close at t is the column's left edge)
    times = _naive(m.times)[::hours] + np.timedelta64(hours * 30, "m")
    filled = pooled[pooled > 0]
    zmax = float(np.quantile(filled, 0.99)) if filled.size else 1.0
    measured = service.measured(asset, ah, when)
    # the measured panel (one column per venue) shares the map's price axis and its colour scale
    fig = (
        make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.9, 0.1], horizontal_spacing=0.01)
        if measured
        else go.Figure()
    )
    fig.add_trace(
        go.Heatmap(
            x=times,
            y=even_prices,
            z=even_z.astype(np.float32),
            coloraxis="coloraxis",
            hovertemplate="%{x}<br>price %{y:,.4g}<br>%{z:,.0f} USD<extra>modelled liquidations</extra>",
            name="liquidation map",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=_naive(m.times), y=closes, mode="lines", line={"color": "#ffffff", "width": 1.4}, name="price"
        )
    )
    prints = service.prints(asset, ah, when)
    for trace in print_traces(prints):
        fig.add_trace(trace)
    for entry in measured:
        fig.add_trace(
            measured_trace(entry, m.edges, keep, rows, price_rows, cfg.display_range_pct), row=1, col=2
        )
    pooled_note = f", {hours}h columns" if hours > 1 else ""
    title = f"{asset} modelled liquidation heatmap ({', '.join(ah.venues)}){pooled_note}, to {when:%Y-%m-%d %H:%M} UTC"
    notes = [measured_note(e) for e in measured] or ["no measured positions within 6 h of this hour"]
    if not prints.empty:
        largest = float(prints.points["usd"].max())  # type: ignore[arg-type]
        notes.insert(0, f"{prints.note()}; marker area ∝ USD (largest {short_usd(largest)})")
    title += "".join(f"<br><sup>{n}</sup>" for n in notes)
    layout = {
        **LAYOUT,
        # the notes above, the colour bar on the right
        "margin": {**LAYOUT["margin"], "t": 50 + 20 * len(notes), "r": 120},  # type: ignore[dict-item]
        "legend": {**LAYOUT["legend"], "y": 1.02, "yanchor": "bottom"},  # type: ignore[dict-item]
    }
    fig.update_layout(
        **layout,
        title={"text": title},
        coloraxis={
            "colorscale": HEAT_COLOURS,
            "cmin": 0,
            "cmax": zmax,
            "colorbar": {"title": {"text": "USD"}},
        },
    )
    fig.update_layout(yaxis={"title": {"text": "price"}})
    if measured:
        fig.update_xaxes(showgrid=False, row=1, col=2)
    return _encode(fig)


def measured_note(entry: dict[str, Any]) -> str:
    """The measured panel's title: venue, snapshot (UTC) and coverage of each side's OI."""
    when = datetime.fromisoformat(str(entry["snapshot"]))
    cov = [entry["coverage_long"], entry["coverage_short"]]
    share = (
        f"{round(100 * cov[0])} % of longs' / {round(100 * cov[1])} % of shorts' OI"
        if None not in cov
        else "coverage unknown (no OI at the snapshot)"
    )
    return (
        f"measured on {entry['venue']}, {when:%Y-%m-%d %H:%M} UTC — {share} (right panel, same colour scale)"
    )


def measured_trace(
    entry: dict[str, Any],
    edges: npt.NDArray[np.float64],
    keep: npt.NDArray[np.intp],
    rows: int,
    price_rows: npt.NDArray[np.float64],
    range_pct: float,
) -> go.Heatmap:
    """One venue's measured positions as a one-column heatmap on the map's pooled price rows (long + short USD, as
    the map's cells); blank beyond ``range_pct`` of the venue's mark, where the measured map does not look."""
    long_rows, short_rows, _, _ = on_rows(entry, edges, keep, rows)
    usd = long_rows + short_rows
    usd[np.abs(price_rows / float(entry["price"]) - 1.0) * 100.0 > range_pct] = np.nan
    return go.Heatmap(
        x=[f"measured<br>{entry['venue']}"],
        y=price_rows,
        z=usd[:, None].astype(np.float32),
        customdata=np.stack([long_rows, short_rows], axis=1)[:, None, :],
        coloraxis="coloraxis",
        hovertemplate="price %{y:,.4g}<br>%{z:,.0f} USD<br>longs %{customdata[0]:,.0f} · shorts "
        "%{customdata[1]:,.0f}<extra>measured " + str(entry["venue"]) + "</extra>",
        name="measured " + str(entry["venue"]),
    )


def print_traces(prints: Prints) -> list[go.Scatter]:
    """The real prints as one marker trace per side (none for a side without prints), area ∝ USD on one scale
    for both sides; hover: time, price, side, USD, venue (and how many prints a sum holds)."""
    if prints.empty:
        return []
    largest = float(prints.points["usd"].max())  # type: ignore[arg-type]
    traces = []
    for side in SIDES:
        rows = prints.side(side)
        if rows.is_empty():
            continue
        label = SIDE_LABELS[side]
        what = f"%{{customdata[1]}} prints {prints.bin_text}<br>" if prints.aggregated else ""
        traces.append(
            go.Scatter(
                x=_naive(rows["t"].to_list()),
                y=rows["price"].to_numpy(),
                mode="markers",
                name=label,
                marker={
                    "size": rows["usd"].to_numpy(),
                    "sizemode": "area",
                    "sizeref": 2.0 * largest / PRINT_MAX_PX**2,
                    "sizemin": 3,
                    "color": PRINT_COLOURS[side],
                    "opacity": 0.85,
                    "line": {"color": "#ffffff", "width": 0.7},
                },
                customdata=[
                    [round(usd, 2), count, venues]
                    for usd, count, venues in rows.select("usd", "count", "venues").iter_rows()
                ],
                hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>price %{y:,.6g}<br>"
                + label
                + "<br>%{customdata[0]:$,.0f}<br>"
                + what
                + "%{customdata[2]}<extra>real print</extra>",
            )
        )
    return traces


def funding_figure(service: RadarService, asset: str, as_of: datetime | None, days: int) -> bytes:
    end = service.resolve_as_of(as_of)
    data = service.venue_series(asset, end - timedelta(days=min(days, 90)), end)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    lows, highs = [0.0], [0.0]
    for venue, rows in sorted(data["funding"].items()):
        rate_8h = [r["rate_8h"] * 100 for r in rows]
        lows.append(min(rate_8h, default=0.0))
        highs.append(max(rate_8h, default=0.0))
        fig.add_trace(
            go.Scatter(
                x=[r["ts"] for r in rows],
                y=rate_8h,
                customdata=[[r["apr"] * 100, r["interval_hours"]] for r in rows],
                mode="lines",
                line={"shape": "hv", "color": venue_colour(venue)},
                name=venue,
                hovertemplate="%{y:.4f} % per 8h<br>%{customdata[0]:.1f} % APR<br>settles every "
                "%{customdata[1]}h<extra>" + venue + "</extra>",
            ),
            secondary_y=False,
        )
    lo, hi = min(lows), max(highs)
    pad = (hi - lo) * 0.05 or 0.001
    fig.update_layout(**LAYOUT, title={"text": f"{asset} funding per venue"})
    fig.update_yaxes(title_text="rate per 8h (%)", range=[lo - pad, hi + pad], secondary_y=False)
    apr_per_8h = apr(1.0, 8.0)  # the right axis reads the same line as APR (the units module's annualisation)
    fig.update_yaxes(
        title_text="APR (%)", range=[(lo - pad) * apr_per_8h, (hi + pad) * apr_per_8h], secondary_y=True
    )
    fig.add_trace(go.Scatter(x=[], y=[], showlegend=False), secondary_y=True)  # make the APR axis visible
    return _encode(fig)


def coverage_changes(
    series: dict[str, list[dict[str, Any]]], start: datetime, end: datetime, slack: timedelta
) -> list[tuple[datetime, str]]:
    """Where a venue's series starts after ``start`` or ends before ``end`` (beyond ``slack``): (time, label)."""
    marks = []
    for venue, rows in sorted(series.items()):
        times = [r["ts"] for r in rows]
        if not times:
            continue
        if min(times) > start + slack:
            marks.append((min(times), f"{venue} starts"))
        if max(times) < end - slack:
            marks.append((max(times), f"{venue} ends"))
    return marks


def oi_figure(service: RadarService, asset: str, as_of: datetime | None, days: int) -> bytes:
    end = service.resolve_as_of(as_of)
    start = end - timedelta(days=min(days, 90))
    data = service.venue_series(asset, start, end)
    fig = go.Figure()
    for venue, rows in sorted(data["open_interest"].items()):
        fig.add_trace(
            go.Scatter(
                x=[r["ts"] for r in rows],
                y=[r["oi_usd"] for r in rows],
                mode="lines",
                stackgroup="oi",
                line={"color": venue_colour(venue)},
                name=venue,
                hovertemplate="%{y:$,.3s}<extra>" + venue + "</extra>",
            )
        )
    # a stacked total steps where a venue's data starts or ends: mark it, so it is not read as OI opening/closing
    for when, label in coverage_changes(data["open_interest"], start, end, OI_STALE):
        fig.add_vline(x=when, line={"dash": "dot", "width": 1, "color": "#888"})
        fig.add_annotation(
            x=when,
            y=1.0,
            yref="paper",
            text=label,
            showarrow=False,
            textangle=-90,
            xanchor="right",
            font={"size": 10, "color": "#888"},
            name="coverage",
        )
    fig.update_layout(  # the note on a line of its own: the title fits the half-width panel
        **{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 70}},  # type: ignore[dict-item]
        title={
            "text": f"{asset} open interest per venue (one-sided USD, stacked)"
            "<br><sup>dotted: a venue's data starts/ends</sup>"
        },
    )
    return _encode(fig)


def tag_runs(hours: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per tag: the (first, last) hour of each run of consecutive hours with that tag (hours in time order)."""
    runs: dict[str, list[tuple[datetime, datetime]]] = {}
    for h in hours:
        tag, t = h["tag"], h["t"]
        if tag is None:
            continue
        mine = runs.setdefault(tag, [])
        if mine and t - mine[-1][1] == HOUR:  # the hour before had this tag: the run goes on
            mine[-1] = (mine[-1][0], t)
        else:
            mine.append((t, t))
    return runs


def timeline_figure(service: RadarService, asset: str, as_of: datetime | None, days: int) -> bytes:
    """How the tag changed hour by hour (one colour per tag, named in the legend), with the Leverage Stress Index
    and the nearest liquidation pocket under it (the model's, at each hour: analytics/proximity.py), over the
    window of the other charts."""
    end = service.resolve_as_of(as_of)
    hours = service.history(asset, end - timedelta(days=min(days, 90)), end)["hours"]
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.3, 0.25], vertical_spacing=0.05
    )
    runs = tag_runs(hours)
    for tag, colour in TAG_COLOURS.items():
        # one line per run of hours with this tag, half an hour either side of its hours (a one-hour run shows
        # an hour wide): one SVG path per tag instead of a marker per hour (~0.1 s of a cold asset page)
        x: list[datetime | None] = []
        text: list[str | None] = []
        for first, last in runs.get(tag, []):
            span = f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC, {(last - first) // HOUR + 1} h"
            x += [first - HOUR / 2, last + HOUR / 2, None]
            text += [span, span, None]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if t is None else tag for t in x],
                mode="lines",
                line={"color": colour, "width": 12},
                name=tag,
                showlegend=False,  # the colour key above names every tag, also those absent from the window
                customdata=text,
                hovertemplate="%{y}<br>%{customdata}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    times = [h["t"] for h in hours]
    fig.add_trace(
        go.Scatter(x=times, y=[h["lsi"] for h in hours], mode="lines", name="LSI", line={"color": "#f2e34c"}),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=[h.get("liq_distance_vol") for h in hours],
            mode="lines",
            name="nearest pocket",
            line={"color": "#6fd3ff"},
            hovertemplate="%{x}<br>%{y:.2f} daily vols<extra></extra>",
        ),
        row=3,
        col=1,
    )
    layout = {
        **LAYOUT,
        "legend": {**LAYOUT["legend"], "y": -0.08, "yanchor": "top"},  # type: ignore[dict-item]
        "margin": {**LAYOUT["margin"], "l": 190, "b": 80},  # type: ignore[dict-item]  # the tag names; the legend
    }
    fig.update_layout(
        **layout,
        height=520,  # five tag rows, LSI and the pocket distance each readable
        title={
            "text": f"{asset} regime timeline (colour: the tag of each hour), LSI and nearest liquidation pocket"
        },
    )
    key = " ".join(f"<span style='color:{c}'>■</span> {t}" for t, c in TAG_COLOURS.items())
    fig.add_annotation(
        text="tag colours: " + key,
        x=0,
        y=1.0,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 11},
        name="tag colours",
    )
    # every tag has its row, whether or not the window holds an hour of it
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(TAG_COLOURS),
        range=[-0.5, len(TAG_COLOURS) - 0.5],
        row=1,
        col=1,
    )
    fig.update_yaxes(title_text="LSI", range=[0, 100], row=2, col=1)
    fig.update_yaxes(title_text="pocket, daily vols", rangemode="tozero", row=3, col=1)
    return _encode(fig)


FIGURES: dict[str, Figure] = {
    "heatmap": heatmap_figure,
    "funding": funding_figure,
    "oi": oi_figure,
    "timeline": timeline_figure,
}


def figure(service: RadarService, asset: str, name: str, as_of: datetime | None, days: int) -> bytes:
    """A chart by name, cached per data version (``as_of`` None: the newest hour)."""
    if name not in FIGURES:
        raise NotFound(f"no figure {name!r}; figures: {', '.join(FIGURES)}")
    checked = service.check_asset(asset)
    return service.cached(
        ("figure", name, checked, as_of, days), lambda: FIGURES[name](service, checked, as_of, days)
    )


def warm_dashboard(service: RadarService) -> None:
    """After each radar refresh, compute every asset's default charts in the background."""
    service.warmers += [lambda a, n=n: figure(service, a, n, None, DEFAULT_DAYS) for n in FIGURES]  # type: ignore[misc]
    service.warmers.append(lambda a: service.memo(a, None))
