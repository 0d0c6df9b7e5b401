"""Rich tables for the radar: scan, screen and history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from levradar.cli_support import console
from levradar.fmt import ordinal

if TYPE_CHECKING:
    import polars as pl

TAG_STYLES = {
    "Crowded Longs (Fragile)": "bold red",
    "Crowded Shorts (Squeeze Risk)": "bold magenta",
    "Deleveraging (Post-Flush)": "yellow",
    "Stable Trend (Tradeable)": "green",
    "Neutral": "dim",
}


def pct(v: float | None, digits: int = 1, sign: bool = True) -> str:
    if v is None:
        return "-"
    return f"{v * 100:+.{digits}f}%" if sign else f"{v * 100:.{digits}f}%"


def num(v: float | None, digits: int = 0, sign: bool = False) -> str:
    return "-" if v is None else f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def usd(v: float | None) -> str:
    """$11.42B, $0.49B (from $100M), $53.0M, $950.0k, $120: table cells of like width."""
    if v is None:
        return "-"
    if v >= 1e8:
        return f"${v / 1e9:,.2f}B"
    return f"${v / 1e6:,.1f}M" if v >= 1e6 else f"${v / 1e3:,.1f}k" if v >= 1e3 else f"${v:,.0f}"


def coverage_mark(read: dict[str, Any]) -> str:
    """' (partial)' or ' (stale 38h)' after an asset whose reading misses venues; '' when complete."""
    cov = read.get("coverage") or {}
    status = cov.get("status")
    if status == "stale":
        behind = max([cov.get("behind_h") or 0.0] + [m["behind_h"] or 0.0 for m in cov.get("missing", [])])
        return f" (stale {behind:.0f}h)" if behind else " (stale)"
    return " (partial)" if status == "partial" else ""


WIDE_WIDTH = 1000  # room enough for every --wide column: the table takes only the width it needs
SCAN_NOTE = (
    "LSI 0-100 (LSI* = computed without funding or OI data); funding rate_8h weighted by OI (else 24h volume), with "
    "its 90-day percentile; OI one-sided in USD, its change in coin; pockets: the nearest modelled liquidation "
    "cluster below (longs) and above (shorts) the price, signed % away and the USD there (docs/heatmap.md); cov: "
    "partial/stale = venues missing at this hour; see docs/signals.md"
)
WIDE_NOTE = (
    "; crowding -100..+100 (+ = longs crowded), fragility and squeeze 0-100; proximity: the nearest pocket's "
    "distance in % and in daily σ (the label's unit)"
)


def coverage_cell(read: dict[str, Any]) -> str:
    """The coverage column: '' when every venue reported, else a yellow 'partial' or red 'stale 38h'."""
    mark = coverage_mark(read).strip(" ()")
    if not mark:
        return ""
    return f"[red]{mark}[/]" if mark.startswith("stale") else f"[yellow]{mark}[/]"


def price_text(v: float) -> str:
    """A price with thousands separators and about six significant digits: 71,170.9 / 2,079.2 / 0.09376."""
    return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


def pocket_cell(liq: dict[str, Any], key: str) -> str:
    """'-4.4% $255.2M': a pocket's signed distance from the price and the USD liquidated there."""
    p = liq.get(key)
    return f"{p['distance_pct']:+.1f}% {usd(p['usd'])}" if p else "-"


def short_tag(tag: str) -> str:
    """'Crowded Longs (Fragile)' → 'Crowded Longs': the narrow table's tag (the full one with --wide)."""
    return tag.split(" (")[0]


def _ordinal_pct(share: float | None) -> str:
    """0.98 → '98th pct' (a 90-day percentile); '' when unknown."""
    return "" if share is None else f"{ordinal(round(share * 100))} pct"


def _nearest(liq: dict[str, Any]) -> dict[str, Any] | None:
    pockets = [p for p in (liq.get("nearest_below"), liq.get("nearest_above")) if p]
    return min(pockets, key=lambda p: abs(p["distance_pct"])) if pockets else None


def print_scan(
    reads: list[dict[str, Any]],
    as_of: datetime,
    stale_assets: dict[str, datetime] | None = None,
    *,
    wide: bool = False,
) -> None:
    """The radar table: the columns a trader reads first (fits 120 columns); ``wide`` adds every score and regime."""
    table = Table(
        title=f"levradar — as of {as_of:%Y-%m-%d %H:%M} UTC (sorted by LSI)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    narrow = ("asset", "tag", "LSI", "funding rate_8h", "OI USD", "OI 24h", "price", "24h")
    extra = (
        "APR",
        "crowding",
        "fragility",
        "sq long",
        "sq short",
        "funding regime",
        "OI regime",
        "vol regime",
        "quadrant",
        "deleveraging",
        "liq. proximity",
    )
    left = {"asset", "tag", "funding regime", "OI regime", "vol regime", "quadrant", "deleveraging", "cov"}
    for col in (*narrow, "pocket below", "pocket above", *(extra if wide else ()), "cov"):
        table.add_column(col, justify="left" if col in left or col == "liq. proximity" else "right")
    for r in reads:
        s, f, o, liq = r["scores"], r["funding"], r["oi"], r["liquidation"]
        style = TAG_STYLES.get(r["tag"], "")
        tag = r["tag"] if wide else short_tag(r["tag"])
        cells = [
            r["asset"],
            f"[{style}]{tag}[/]" if style else tag,
            num(s["lsi"]) + ("*" if _partial(s) else ""),
            f"{pct(f['rate_8h'], 4)} {_ordinal_pct(f['pct_90d'])}" if f["rate_8h"] is not None else "-",
            usd(o["usd"]),
            pct(o["roc_24h"]),
            price_text(r["price"]),
            pct(r["returns"]["ret_24h"]),
            pocket_cell(liq, "nearest_below"),
            pocket_cell(liq, "nearest_above"),
        ]
        if wide:
            cells += [
                pct(f["apr"], 1),
                num(s["crowding"], sign=True),
                num(s["fragility"]),
                num(s["squeeze_long"]),
                num(s["squeeze_short"]),
                f["regime"] or "-",
                o["regime"] or "-",
                r["volatility"]["regime"] or "-",
                r["quadrant"] or "-",
                s["deleveraging"] or "-",
                proximity(liq),
            ]
        table.add_row(*cells, coverage_cell(r))
    # --wide into a file or pipe: every column at its natural width (a terminal shrinks the table to fit)
    (Console(width=WIDE_WIDTH) if wide and not console.is_terminal else console).print(table)
    for r in reads:
        cov = r.get("coverage") or {}
        if cov.get("missing"):
            gone = ", ".join(
                f"{m['venue']} (last bar {m['last_bar']:%Y-%m-%d %H:%M})" if m["last_bar"] else m["venue"]
                for m in cov["missing"]
            )
            console.print(
                f"  {r['asset']}: {cov['status']} at {cov['data_time']:%Y-%m-%d %H:%M} UTC — read from "
                f"{', '.join(cov['venues'])} ({cov['weight_present']:.0%} of its weight); missing: {gone}",
                highlight=False,
                style="yellow",
            )
    for asset, ready in (stale_assets or {}).items():
        console.print(
            f"  {asset}: its main venues stop at {ready:%Y-%m-%d %H:%M} UTC; the as-of did not wait for it",
            style="yellow",
        )
    for r in reads:
        for c in r["contradictions"]:
            console.print(f"  {r['asset']}: {c['text']}", highlight=False)
    for r in reads:
        for m in (r.get("liquidation") or {}).get("measured") or []:
            console.print(f"  {r['asset']}: {measured_line(m)}", highlight=False)
    console.print(
        SCAN_NOTE + (WIDE_NOTE if wide else "; --wide: every score and regime"), style="dim", highlight=False
    )


def measured_line(m: dict[str, Any]) -> str:
    """One venue's measured pockets (``liquidation.measured``) in a line: said to be measured, with its coverage."""

    def pocket(p: dict[str, Any] | None, side: str) -> str:
        return f"{side} -" if p is None else f"{side} {p['price']:,.6g} ({p['distance_pct']:+.1f} %, {usd(p['usd'])})"

    cover = [c for c in (m.get("coverage_long"), m.get("coverage_short")) if c is not None]
    share = f", {min(cover):.0%}–{max(cover):.0%} of its OI" if cover else ""
    return (
        f"measured on {m['venue']} ({m['positions']:,} positions at {m['snapshot']:%H:%M} UTC{share}): "
        f"{pocket(m['nearest_below'], 'longs below')}; {pocket(m['nearest_above'], 'shorts above')}"
    )


def _partial(scores: dict[str, Any]) -> bool:
    """The LSI left out funding stress or OI change (missing data): its weights were renormalised."""
    comps = scores.get("lsi_components") or {}
    return any(not comps.get(k, {}).get("used", False) for k in ("funding_stress", "oi_change"))


def proximity(liq: dict[str, Any]) -> str:
    """'Near: -11.4 % (1.2 daily σ)': the label, the nearest pocket's signed distance and the same in daily vols
    (the label's own unit)."""
    if liq.get("proximity") is None:
        return "n/a"
    near, in_vol = _nearest(liq), liq.get("distance_in_daily_vol")
    where = f" {near['distance_pct']:+.1f} %" if near else ""
    vols = f" ({in_vol:.1f} daily σ)" if in_vol is not None else ""
    return f"{liq['proximity']}:{where}{vols}"


def crowded_side(crowding: float | None) -> str:
    """The side a signed crowding score says is crowded (+ = longs, − = shorts)."""
    return "-" if crowding is None or crowding == 0 else "longs" if crowding > 0 else "shorts"


def print_screen(result: dict[str, list[dict[str, Any]]], as_of: datetime) -> None:
    """One table per list; the crowded side and the signed crowding on every row, percentiles as ordinals."""
    for name, rows in result.items():
        table = Table(
            title=f"{name.replace('_', ' ')} — as of {as_of:%Y-%m-%d %H:%M} UTC", title_justify="left"
        )
        for col in ("rank", "asset", "score", "side", "crowding", "vs market", "vs own 30 d", "tag"):
            table.add_column(col, justify="left" if col in ("asset", "side", "tag") else "right")
        for i, r in enumerate(rows, 1):
            side = r["side"] or (crowded_side(r["crowding"]) + " crowded" if name == "most_crowded" else "")
            table.add_row(
                str(i),
                r["asset"],
                num(r["score"], 1),
                side,
                num(r["crowding"], 1, sign=True),
                num(r["vs_market"], 1, sign=True),
                _ordinal_pct(r["vs_own_history_pct"]) or "-",
                r["tag"],
            )
        console.print(table)
    console.print(
        "score 0-100 (most crowded: |crowding|); crowding -100..+100, + = longs crowded, − = shorts crowded; "
        "vs market = score − the median across assets now; vs own 30 d = the score's percentile among the "
        "asset's own hourly scores over 30 days",
        style="dim",
        highlight=False,
    )


def print_history(frame: pl.DataFrame, asset: str) -> None:
    table = Table(title=f"{asset} — hourly radar", title_justify="left")
    for col in (
        "time (UTC)",
        "price",
        "funding rate_8h",
        "funding regime",
        "OI 24h",
        "OI regime",
        "quadrant",
        "deleveraging",
        "crowding",
        "fragility",
        "LSI",
        "tag",
    ):
        table.add_column(col)
    for r in frame.iter_rows(named=True):
        table.add_row(
            f"{r['t']:%Y-%m-%d %H:%M}",
            f"{r['price']:,.6g}",
            pct(r["rate_8h"], 4),
            r["funding_regime"] or "-",
            pct(r["oi_roc_24h"]),
            r["oi_regime"] or "-",
            r["quadrant"] or "-",
            r["deleveraging"] or "-",
            num(r["crowding"], sign=True),
            num(r["fragility"]),
            num(r["lsi"]),
            r["tag"],
        )
    console.print(table)


def print_heatmap(out: dict[str, Any]) -> None:
    price = out["price"]
    console.print(
        f"[bold]{out['asset']}[/] liquidation map as of {out['as_of']:%Y-%m-%d %H:%M} UTC — price {price:,.6g}, "
        f"OI {usd(out['oi_usd'])} ({', '.join(out['venues'])}); modelled from {out['run_from']:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    for venue, why in (out.get("venues_skipped") or {}).items():
        console.print(f"  {venue} not in the current map: {why}", style="yellow", highlight=False)
    table = Table(title="nearest dense pockets", title_justify="left")
    for col in ("side", "price", "distance", "USD", "leverage mix"):
        table.add_column(col)
    for label, key in (("shorts above", "nearest_above"), ("longs below", "nearest_below")):
        p = out[key]
        if p is None:
            table.add_row(label, "-", "-", "-", "-")
            continue
        mix = ", ".join(f"{k} {v * 100:.0f}%" for k, v in p["leverage_mix"].items() if v >= 0.05)
        table.add_row(label, f"{p['price']:,.6g}", f"{p['distance_pct']:+.2f}%", usd(p["usd"]), mix)
    console.print(table)
    cum = Table(title="forced-flow USD outward from price", title_justify="left")
    for col in ("move", "longs liquidated below", "shorts liquidated above"):
        cum.add_column(col, justify="right")
    for pct, v in out["cumulative"].items():
        cum.add_row(f"±{pct}", usd(v["below_long_usd"]), usd(v["above_short_usd"]))
    console.print(cum)
    if "measured" in out:
        print_measured(out["measured"], out["cumulative"])
    prints = out.get("prints")
    if prints is not None:  # the real forced orders of the store over the map's window
        console.print(prints["note"], style="dim" if not prints["count"] else None, highlight=False)
    if "grid" in out:
        console.print(grid_summary(out["grid"]), highlight=False)
    if "png" in out:
        console.print(f"wrote the heatmap picture to {out['png']}", highlight=False)
    console.print(
        "model-derived (docs/heatmap.md): a high-likelihood cascade zone, not a guaranteed magnet",
        style="dim",
    )


def print_measured(measured: list[dict[str, Any]], modelled: dict[str, Any]) -> None:
    """`heatmap --measured`: each venue's measured snapshot beside the model — pockets and forced flow outward."""
    if not measured:
        console.print("measured: no positions snapshot in the 6 h up to the as-of", style="yellow", highlight=False)
        return
    for m in measured:
        console.print(
            f"measured on {m['venue']} (snapshot {m['snapshot'][:16]} UTC, mark {m['price']:,.6g}): "
            f"{m['positions']:,} positions of {m['accounts']:,} accounts, coverage of the venue's OI "
            f"longs {pct(m['coverage_long'], sign=False)} / shorts {pct(m['coverage_short'], sign=False)}",
            highlight=False,
        )
        table = Table(title="nearest dense pockets, measured (model's rule and buckets)", title_justify="left")
        for col in ("side", "price", "distance", "USD"):
            table.add_column(col)
        for label, key in (("shorts above", "nearest_above"), ("longs below", "nearest_below")):
            p = m[key]
            cells = ("-", "-", "-") if p is None else (f"{p['price']:,.6g}", f"{p['distance_pct']:+.2f}%", usd(p["usd"]))
            table.add_row(label, *cells)
        console.print(table)
        cum = Table(title="USD outward from price: measured vs modelled", title_justify="left")
        for col in ("move", "longs below: measured", "modelled", "shorts above: measured", "modelled"):
            cum.add_column(col, justify="right")
        for key, v in m["cumulative"].items():
            model = modelled.get(key, {})
            cum.add_row(
                f"±{key}",
                usd(v["below_long_usd"]),
                usd(model.get("below_long_usd")),
                usd(v["above_short_usd"]),
                usd(model.get("above_short_usd")),
            )
        console.print(cum)


def grid_summary(grid: dict[str, Any]) -> str:
    """--grid in a table: what the grid spans (its cells are in --json, drawn by --png)."""
    times, prices = grid["times"], grid["prices"]
    longs = sum(map(sum, grid["long_usd"][-1:]))
    shorts = sum(map(sum, grid["short_usd"][-1:]))
    return (
        f"grid: {len(times):,} hours × {len(prices):,} price buckets, {times[0]:%Y-%m-%d %H:%M} .. "
        f"{times[-1]:%Y-%m-%d %H:%M} UTC, prices {price_text(prices[0])} .. {price_text(prices[-1])}; last hour "
        f"{usd(longs)} of longs and {usd(shorts)} of shorts in range; every cell with --json, a picture with --png"
    )


def print_scenarios(out: dict[str, Any]) -> None:
    table = Table(
        title=f"{out['asset']} scenarios as of {out['as_of']:%Y-%m-%d %H:%M} UTC — price {out['price']:,.6g}",
        title_justify="left",
    )
    for col in (
        "move",
        "pockets hit",
        "forced USD",
        "after cascade",
        "amplification",
        "in a real-cascade stress",
        "pockets ignited",
    ):
        table.add_column(col, justify="right")
    for s in out["scenarios"]:
        c, st = s["cascade"], s.get("cascade_stress")
        table.add_row(
            f"{s['move_pct']:+.2f}%",
            str(len(s["pockets_hit"])),
            usd(s["forced_usd"]),
            "-" if c is None else f"{c['final_move_pct']:+.2f}%",
            "-" if c is None or c["amplification"] is None else f"{c['amplification']:.2f}x",
            "-" if st is None else f"{st['final_move_pct']:+.2f}% ({st['amplification']:.1f}x)",
            "-" if c is None else str(len(c["pockets_ignited"])),
        )
    console.print(table)
    console.print(
        "impact: median |1h return| per traded USD over 7 days, scaled so a -2 % shock extends like typical real "
        "shocks (amplification) and like the 2024-08-05 unwind (stress); docs/heatmap.md §3",
        style="dim",
    )


def print_checklist(rows: list[dict[str, Any]], as_of: datetime) -> None:
    table = Table(title=f"Daily checklist, as of {as_of:%Y-%m-%d %H:%M} UTC", title_justify="left")
    for col in (
        "asset",
        "tag",
        "pocket below",
        "pocket above",
        "funding rate_8h",
        "90d pct",
        "OI 4h",
        "OI 24h",
        "mode",
        "side",
        "invalidation",
    ):
        table.add_column(col, justify="left" if col in ("asset", "tag", "mode", "side") else "right")

    def pocket(p: dict[str, Any] | None) -> str:
        return "–" if not p else f"{p['distance_pct']:+.1f} % {usd(p['usd'])}"

    for r in rows:
        table.add_row(
            r["asset"],
            r["tag"],
            pocket(r["pocket_below"]),
            pocket(r["pocket_above"]),
            pct(r["funding_rate_8h"], 4),
            _ordinal_pct(r["funding_pct_90d"]) or "–",
            pct(r["oi_roc_4h"]),
            pct(r["oi_roc_24h"]),
            r["mode"] or "–",
            r["side"],
            "–" if r["invalidation"] is None else f"{r['invalidation']:,.6g}",
        )
    console.print(table)


def print_review(out: dict[str, Any]) -> None:
    console.print(f"{out['entries']} journal entries, {out['scored']} with data after them", highlight=False)
    for side, r in out["by_side"].items():
        if not r["entries"]:
            continue
        right, inv = r["right_24h"], r["invalidated_72h"]
        console.print(
            f"  {side} reads: {r['entries']}; right after 24h {_share(right)}; invalidated within 72h {_share(inv)};"
            f" median worst move against within 24h {pct(r['median_adverse_24h'])}",
            highlight=False,
        )
    for name in ("pocket_below_hit_72h", "pocket_above_hit_72h"):
        console.print(f"  {name.replace('_', ' ')}: {_share(out[name])}", highlight=False)
    table = Table(title="Entries", title_justify="left")
    for col in (
        "id",
        "kind",
        "asset",
        "rule",
        "as of",
        "side",
        "4h",
        "24h",
        "worst 24h",
        "pocket hit",
        "liquidated 24h",
    ):
        table.add_column(col)
    for r in out["rows"]:
        hit = [s for s, k in (("below", "pocket_below_hit"), ("above", "pocket_above_hit")) if r.get(k)]
        liq = r.get("liquidations_24h_usd")
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["asset"],
            r["rule"] or "",
            f"{r['as_of']:%Y-%m-%d %H:%M}",
            r["side"] or "–",
            pct(r.get("ret_4h")),
            pct(r.get("ret_24h")),
            pct(r.get("adverse_24h")),
            ", ".join(hit) or "–",
            "unknown" if liq is None else f"L {usd(liq['long'])} / S {usd(liq['short'])}",
        )
    console.print(table)


def _share(r: dict[str, Any]) -> str:
    return "n/a" if not r["n"] else f"{r['share'] * 100:.0f} % of {r['n']}"


def print_validation(out: dict[str, Any]) -> None:
    """`validate liquidations`: per group, the model's tests against its baselines (ρ, difference, 95 % CI)."""
    console.print(
        f"liquidation model vs realised liquidations, {out['period_hours']:g}h periods "
        f"{out['from']:%Y-%m-%d} .. {out['to']:%Y-%m-%d}, assets {', '.join(out['assets'])}; "
        f"{len(out['skipped'])} periods skipped",
        highlight=False,
    )
    for group, st in out["statistics"].items():
        table = Table(title=f"{group} (n = {st['n']})", title_justify="left")
        for col in (
            "measure",
            "target",
            "baseline",
            "ρ model",
            "ρ baseline",
            "difference",
            "95 % CI",
            "partial ρ",
        ):
            table.add_column(col, justify="left" if col in ("measure", "target", "baseline") else "right")
        for t in st["tests"]:
            for i, v in enumerate(t["vs"]):
                lo, hi = v["ci95"]
                beats = v["beats_baseline"]
                table.add_row(
                    t["measure"] if i == 0 else "",
                    t["target"] if i == 0 else "",
                    v["baseline"],
                    num(t["rho_model"], 3) if i == 0 else "",
                    num(v["rho_baseline"], 3),
                    ("[green]" if beats else "") + num(v["difference"], 3) + ("[/]" if beats else ""),
                    "-" if lo is None else f"[{lo:+.3f}, {hi:+.3f}]",
                    num(t["partial_given_baselines"], 3) if i == 0 else "",
                )
        console.print(table)
    console.print(
        "ρ = Spearman against the realised USD; difference = ρ model − ρ baseline with a 7-day block-bootstrap 95 % "
        "interval (green: above 0); partial ρ = the model given all its baselines; docs/heatmap.md",
        style="dim",
    )


def print_measured_comparison(out: dict[str, Any]) -> None:
    """`validate positions`: measured liquidation levels against the model and a naive band, per side."""
    console.print(
        f"{out['asset']} on {out['venue']}: measured positions vs the modelled map, {out['snapshots']} snapshots "
        f"{out['first'][:16]} .. {out['last'][:16]} UTC (liquidation prices within the map's range)",
        highlight=False,
    )
    capture = Table(title="share of measured USD in the model's dense buckets vs the naive band", title_justify="left")
    for col in ("side", "snapshots", "model dense", "naive band", "difference", "95 % CI", "p"):
        capture.add_column(col, justify="left" if col == "side" else "right")
    for side, s in out["zone_capture"].items():
        d = s["difference"]
        capture.add_row(
            f"{side}s",
            str(s["snapshots"]),
            pct(s["in_model_dense_mean"], sign=False),
            pct(s["in_naive_band_mean"], sign=False),
            pct(d["estimate"], sign=True),
            f"{pct(d['low'], sign=True)} .. {pct(d['high'], sign=True)}",
            num(d["p"], 3),
        )
    console.print(capture)
    dist = Table(title="distance from the mark to the liquidation price (% of the mark)", title_justify="left")
    for col in ("side", "leverage", "position·snapshots", "USD / snapshot", "p10", "p50", "p90", "median × leverage"):
        dist.add_column(col, justify="left" if col in ("side", "leverage") else "right")
    for r in out["distances"]:
        dist.add_row(
            f"{r['side']}s",
            str(r["leverage_group"]),
            f"{r['position_snapshots']:,}",
            usd(r["usd_per_snapshot"]),
            *(f"{r[k]:.1f}%" for k in ("p10_pct", "p50_pct", "p90_pct")),
            f"{r['x_leverage_pct']:.0f}%",
        )
    console.print(dist)
    bands = out["band_shares"]
    edges = bands["bands_pct"]
    share = Table(title="measured USD per model distance band vs the model's weights", title_justify="left")
    for col in ("band", "measured", "model weight"):
        share.add_column(col, justify="left" if col == "band" else "right")
    for i, (m, w) in enumerate(zip(bands["measured"], bands["model_weights"], strict=True)):
        share.add_row(f"{edges[i]:g}–{edges[i + 1]:g} %", pct(m, sign=False), pct(w, sign=False))
    console.print(share)
    f = out["fate"]
    console.print(
        "before the next snapshot (accounts seen in both; USD at the earlier mark): "
        f"kept {usd(f['kept_usd'])}, consumed by price {usd(f['consumed_usd'])}, closed {usd(f['closed_usd'])}, "
        f"added {usd(f['added_usd'])}; accounts that left the sample {usd(f['unobserved_usd'])}",
        highlight=False,
    )
