"""Where do real liquidation prices sit? Calibration facts for the heatmap from measured Hyperliquid positions.

Usage: python scripts/positions_stats.py [PATH-TO-shared/data] [--json OUT]

Reads shared/data/hyperliquid-positions/positions.parquet (leaderboard and biggest accounts, read from
Hyperliquid's clearinghouseState; see shared/data/README.md) and prints, for BTC ETH SOL XRP DOGE HYPE and the six
pooled, by side, all USD-weighted by position_value_usd:
  1. distance to liquidation d = liquidation_px / mark - 1: quantiles of |d|, USD share within 0.5 % ... 50 %,
     the share with no liquidation price (cross margin far away), and sign violations;
  2. the leverage-setting mix and, per leverage bucket, the median |d| and |d| / (1/L) (isolated formula = 1);
  3. liquidation_px / entry_px - 1 by side and leverage bucket (where a position opened at EP liquidates);
  4. what happens to a position by the next snapshot: unchanged / increased / reduced / closed (the account still
     holds something) / acct_gone (no position of the account in the next snapshot: closed everything, liquidated,
     or dropped off the leaderboard list), whether the hourly high/low traded through the liquidation price in
     between (an upper bound on liquidation), whether a gone account shows up again later (list churn), and the
     USD of new positions;
  5. coverage: sampled one-sided USD / Hyperliquid one-sided OI; 6. long share and its correlation with funding.
The mark is the position's own mark at read time (position_value_usd / size, exact); a check against the
Hyperliquid hourly close nearest the snapshot (the 5 perp-panel coins) is printed too. Snapshots closer than
1 h to the previous one (three bursts) are dropped so every moment counts once: 75 of 94 snapshots, 1.8-10 h apart.
HYPE has no Hyperliquid hourly candles in the shared data: its high/low path uses Binance HYPE (a proxy); XRP has
no Hyperliquid OI (no coverage row) and takes its funding from the perp-panels file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import polars as pl

COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "HYPE")
POOLED = "ALL6"
COIN_T = pl.Enum([*COINS, POOLED])
QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
BANDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.10, 0.20, 0.50)
LEV_BREAKS = [2.0, 5.0, 10.0, 20.0, 25.0, 50.0]
LEV_LABELS = ["1-2", "3-5", "6-10", "11-20", "21-25", "26-50", ">50"]
MIN_GAP_H = 1.0
W = pl.col("w")
H = pl.Datetime("us", "UTC")


def pct(x: float) -> str:
    return f"{100 * x:g}%"


def share(cond: pl.Expr) -> pl.Expr:
    """Percent of the group's USD where cond holds (nulls count as not holding)."""
    return (100 * W.filter(cond).sum() / W.sum()).round(2)


def wq(col: str, q: float) -> pl.Expr:
    """USD-weighted quantile; the frame must be sorted by col, nulls last (a null result = in the null tail)."""
    return pl.col(col).filter(W.cum_sum() >= q * W.sum()).first()


def pooled(frame: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([frame, frame.with_columns(pl.lit(POOLED).cast(COIN_T).alias("coin"))])


def load_positions(root: Path) -> pl.DataFrame:
    raw = pl.read_parquet(root / "hyperliquid-positions" / "positions.parquet")
    snaps = raw.select(pl.col("snapshot_ts").unique().sort())
    gap = snaps["snapshot_ts"].diff().dt.total_seconds().fill_null(1e12)
    kept = snaps.filter(gap >= MIN_GAP_H * 3600)["snapshot_ts"]
    mark = pl.col("position_value_usd") / pl.col("size")
    lev = pl.col("leverage")
    return raw.filter(pl.col("coin").is_in(COINS), pl.col("snapshot_ts").is_in(kept.to_list())).select(
        pl.col("snapshot_ts").cast(H).alias("ts"),
        "source",
        "address",
        pl.col("coin").cast(COIN_T),
        "side",
        "size",
        "leverage",
        pl.col("position_value_usd").alias("w"),
        "liquidation_px",
        mark.alias("mark"),
        pl.sum_horizontal(*[lev > b for b in LEV_BREAKS])
        .replace_strict(dict(enumerate(LEV_LABELS)), return_dtype=pl.Enum(LEV_LABELS))
        .alias("lev_b"),
        (pl.col("liquidation_px") / mark - 1).alias("d"),
        (pl.col("liquidation_px") / mark - 1).abs().alias("ad"),
        ((pl.col("liquidation_px") / mark - 1).abs() * lev).alias("ratio"),
        (pl.col("liquidation_px") / pl.col("entry_px") - 1).alias("e"),
        ((pl.col("liquidation_px") / pl.col("entry_px") - 1).abs() * lev).alias("e_ratio"),
    )


def load_hourly(root: Path) -> pl.DataFrame:
    """coin, t (bar open), h, l, c, funding (hourly rate), oi_usd: Hyperliquid where the shared data has it."""
    mv = root / "multivenue-2025"
    parts = []
    for coin in COINS[:5]:
        (file,) = (root / "perp-panels" / "hourly_panels").glob(f"hyperliquid_{coin}_*.parquet")
        parts.append(
            pl.read_parquet(file).select(
                pl.lit(coin).alias("coin"),
                pl.col("timestamp").cast(H).alias("t"),
                pl.col("high_perp").alias("h"),
                pl.col("low_perp").alias("l"),
                pl.col("close_perp").alias("c"),
                pl.col("funding_rate_1h_hyperliquid").alias("panel_funding"),
            )
        )
    hype = pl.read_parquet(mv / "candles.parquet").filter(
        pl.col("venue") == "binance", pl.col("coin") == "HYPE"
    )
    parts.append(
        hype.select(
            "coin",
            pl.col("timestamp").cast(H).alias("t"),
            "h",
            "l",
            "c",
            pl.lit(None, pl.Float64).alias("panel_funding"),
        )
    )
    hl = pl.col("venue") == "hyperliquid"
    hour = [pl.col("coin"), pl.col("timestamp").cast(H).dt.truncate("1h").alias("t")]
    fund = (
        pl.read_parquet(mv / "funding_rates.parquet")
        .filter(hl)
        .group_by(hour)
        .agg(pl.col("funding_rate").mean())
    )
    oi = pl.read_parquet(mv / "open_interest.parquet").filter(hl).group_by(hour).agg(pl.col("oi_usd").mean())
    return (
        pl.concat(parts)
        .join(fund, on=["coin", "t"], how="left")
        .join(oi, on=["coin", "t"], how="left")
        .with_columns(
            pl.coalesce("funding_rate", "panel_funding").alias("funding"), pl.col("coin").cast(COIN_T)
        )
        .drop("funding_rate", "panel_funding")
        .sort("coin", "t")
        .with_columns(pl.col("funding").rolling_mean(24, min_samples=12).over("coin").alias("funding_24h"))
    )


def distance(pos: pl.DataFrame, hourly: pl.DataFrame) -> dict[str, pl.DataFrame]:
    g = ["coin", "side"]
    p = pooled(pos)
    n_snap = pos["ts"].n_unique()
    wrong = pl.when(pl.col("side") == "long").then(pl.col("d") >= 0).otherwise(pl.col("d") <= 0)
    head = p.group_by(g).agg(
        (W.sum() / n_snap / 1e6).round(1).alias("usd_m/snap"),
        pl.col("address").n_unique().alias("accounts"),
        share(pl.col("liquidation_px").is_null()).alias("null_liq%"),
        wrong.sum().alias("viol_n"),
        share(wrong).alias("viol%"),
    )
    quant = (
        p.sort("ad", nulls_last=True)
        .group_by(g)
        .agg(*[(100 * wq("ad", q)).round(2).alias(f"q{round(100 * q)}") for q in QUANTILES])
    )
    bands = p.group_by(g).agg(
        *[share(pl.col("ad") <= b).alias(f"<={pct(b)}") for b in BANDS],
        share(pl.col("ad") > BANDS[-1]).alias(f">{pct(BANDS[-1])}"),
    )
    # check: the hourly close whose close time is nearest the snapshot (bar open = round(ts) - 1h).
    bar = (pl.col("ts").dt.round("1h") - pl.duration(hours=1)).alias("t")
    chk = (
        pooled(pos.filter(pl.col("coin") != "HYPE").with_columns(bar).join(hourly, on=["coin", "t"]))
        .with_columns((pl.col("liquidation_px") / pl.col("c") - 1).abs().alias("ad"))
        .group_by(g)
        .agg(
            (100 * (pl.col("c") / pl.col("mark") - 1).abs().median()).round(3).alias("|close/mark-1|%"),
            *[share(pl.col("ad") <= b).alias(f"<={pct(b)}") for b in (0.01, 0.02, 0.05)],
        )
    )
    src = (
        pos.sort("ad", nulls_last=True)
        .group_by("source", "side")
        .agg(
            (100 * W.sum() / pos["w"].sum()).round(1).alias("usd%"),
            share(pl.col("liquidation_px").is_null()).alias("null_liq%"),
            (100 * wq("ad", 0.5)).round(2).alias("med|d|%"),
            *[share(pl.col("ad") <= b).alias(f"<={pct(b)}") for b in (0.02, 0.05, 0.1, 0.2)],
        )
    )
    sort = ["coin", "side"]
    return {
        "1a_overview": head.sort(sort),
        "1b_abs_distance_quantiles_pct": quant.sort(sort),
        "1c_usd_share_within_pct": bands.sort(sort),
        "1d_check_hourly_close_mark": chk.sort(sort),
        "1e_pooled_by_list": src.sort("source", "side"),
    }


def leverage(pos: pl.DataFrame) -> dict[str, pl.DataFrame]:
    p = pooled(pos)
    mix = (
        p.group_by("coin", "side", "lev_b")
        .agg(W.sum())
        .with_columns((100 * W / W.sum().over("coin", "side")).round(1).alias("pct"))
        .sort("lev_b")
        .pivot("lev_b", index=["coin", "side"], values="pct")
        .fill_null(0.0)
        .sort("coin", "side")
    )
    g = ["coin", "side", "lev_b"]
    base = p.group_by(g).agg(share(pl.col("liquidation_px").is_null()).alias("null_liq%"))
    by_d = p.drop_nulls("ad").sort("ad").group_by(g).agg((100 * wq("ad", 0.5)).round(2).alias("med|d|%"))
    by_r = (
        p.drop_nulls("ratio")
        .sort("ratio")
        .group_by(g)
        .agg(*[wq("ratio", q).round(2).alias(f"ratio_q{round(100 * q)}") for q in (0.25, 0.5, 0.75)])
    )
    table = base.join(by_d, on=g, how="left").join(by_r, on=g, how="left").sort(g)
    wide = table.sort("lev_b").pivot("lev_b", index=["coin", "side"], values="ratio_q50").sort("coin", "side")
    return {
        "2a_leverage_mix_pct_usd": mix,
        "2b_by_leverage_pooled": table.filter(pl.col("coin") == POOLED).drop("coin"),
        "2c_median_ratio_by_coin": wide,
        "2_by_leverage_all": table,
    }


def entry(pos: pl.DataFrame) -> dict[str, pl.DataFrame]:
    g = ["coin", "side", "lev_b"]
    p = pooled(pos).drop_nulls("e")
    table = (
        p.sort("e")
        .group_by(g)
        .agg(
            (W.sum() / 1e9).round(2).alias("usd_bn"),
            *[
                (100 * wq("e", q)).round(2).alias(f"e_q{round(100 * q)}%")
                for q in (0.1, 0.25, 0.5, 0.75, 0.9)
            ],
        )
        .join(p.sort("e_ratio").group_by(g).agg(wq("e_ratio", 0.5).round(2).alias("med|e|*L")), on=g)
        .sort(g)
    )
    wide = table.sort("lev_b").pivot("lev_b", index=["coin", "side"], values="med|e|*L").sort("coin", "side")
    return {
        "3a_liq_vs_entry_pooled": table.filter(pl.col("coin") == POOLED).drop("coin"),
        "3b_median_abs_e_times_L_by_coin": wide,
        "3_liq_vs_entry_all": table,
    }


def transitions(pos: pl.DataFrame, hourly: pl.DataFrame) -> dict[str, pl.DataFrame]:
    key = ["address", "coin", "side"]
    snaps = (
        pos.select(pl.col("ts").unique().sort()).with_columns(pl.col("ts").shift(-1).alias("t1")).drop_nulls()
    )
    gap_h = (snaps["t1"] - snaps["ts"]).dt.total_minutes() / 60
    path = (
        snaps.join(hourly.select("coin", "t", "h", "l"), how="cross")
        .filter(pl.col("t") >= pl.col("ts").dt.truncate("1h"), pl.col("t") <= pl.col("t1").dt.truncate("1h"))
        .group_by("ts", "coin")
        .agg(pl.col("h").max().alias("hi"), pl.col("l").min().alias("lo"))
    )
    nxt = pos.select(pl.col("ts").alias("t1"), *key, pl.col("size").alias("size1"), pl.col("w").alias("w1"))
    accounts = (
        pos.select(pl.col("ts").alias("t1"), "address").unique().with_columns(pl.lit(True).alias("seen1"))
    )
    ratio = pl.col("size1") / pl.col("size")
    last_seen = pos.group_by("address").agg(pl.col("ts").max().alias("last_seen"))
    m = (
        pos.join(snaps, on="ts")
        .join(nxt, on=["t1", *key], how="left")
        .join(accounts, on=["t1", "address"], how="left")
        .join(path, on=["ts", "coin"], how="left")
        .join(last_seen, on="address")
        .with_columns(
            pl.when(pl.col("side") == "long")
            .then(pl.col("lo") <= pl.col("liquidation_px"))
            .otherwise(pl.col("hi") >= pl.col("liquidation_px"))
            .fill_null(False)
            .alias("crossed"),
            pl.when(pl.col("size1").is_null() & pl.col("seen1").is_null())
            .then(pl.lit("acct_gone"))
            .when(pl.col("size1").is_null())
            .then(pl.lit("closed"))
            .when((ratio - 1).abs() <= 1e-6)
            .then(pl.lit("unchanged"))
            .when(ratio > 1)
            .then(pl.lit("increased"))
            .otherwise(pl.lit("reduced"))
            .alias("state"),
        )
    )
    st = pl.col("state")
    gone = st.is_in(["closed", "acct_gone"])
    xd = pl.col("crossed")
    fate = (
        pooled(m)
        .group_by("coin", "side")
        .agg(
            *[
                share(st == s).alias(f"{s}%")
                for s in ("unchanged", "increased", "reduced", "closed", "acct_gone")
            ],
            share(gone & xd).alias("gone&crossed%"),
            (100 * W.filter(gone & xd).sum() / W.filter(gone).sum()).round(1).alias("gone:crossed%"),
            (100 * W.filter((st == "closed") & xd).sum() / W.filter(st == "closed").sum())
            .round(1)
            .alias("closed:crossed%"),
            (100 * W.filter((st == "acct_gone") & xd).sum() / W.filter(st == "acct_gone").sum())
            .round(1)
            .alias("acct_gone:crossed%"),
            (
                100
                * W.filter((st == "acct_gone") & (pl.col("last_seen") > pl.col("t1"))).sum()
                / W.filter(st == "acct_gone").sum()
            )
            .round(1)
            .alias("acct_gone:back_later%"),
            (100 * W.filter((st == "reduced") & xd).sum() / W.filter(st == "reduced").sum())
            .round(1)
            .alias("reduced:crossed%"),
            share(xd).alias("crossed%"),
            (100 * W.filter(xd & ~gone).sum() / W.filter(xd).sum()).round(1).alias("crossed:survived%"),
        )
        .sort("coin", "side")
    )
    prev = pos.select(pl.col("ts").alias("t0"), *key).with_columns(pl.lit(True).alias("held0"))
    accounts0 = (
        pos.select(pl.col("ts").alias("t0"), "address").unique().with_columns(pl.lit(True).alias("seen0"))
    )
    new = (
        pos.join(snaps.select(pl.col("ts").alias("t0"), pl.col("t1").alias("ts")), on="ts")
        .join(prev, on=["t0", *key], how="left")
        .join(accounts0, on=["t0", "address"], how="left")
    )
    fresh = pl.col("held0").is_null()
    opened = (
        pooled(new)
        .group_by("coin", "side")
        .agg(
            share(fresh).alias("new%"),
            share(fresh & pl.col("seen0").fill_null(False)).alias("new_by_known_account%"),
            share(fresh & pl.col("seen0").is_null()).alias("new_account%"),
        )
        .sort("coin", "side")
    )
    gaps = pl.DataFrame(
        {
            "pairs": [len(gap_h)],
            "gap_h_median": [gap_h.median()],
            "gap_h_min": [gap_h.min()],
            "gap_h_max": [gap_h.max()],
        }
    )
    return {"4a_fate_by_next_snapshot_pct_usd0": fate, "4b_new_positions_pct_usd1": opened, "4_gaps": gaps}


def coverage_and_sides(pos: pl.DataFrame, hourly: pl.DataFrame) -> dict[str, pl.DataFrame]:
    per = (
        pos.group_by("ts", "coin")
        .agg(
            (W.sum() / 2).alias("one_sided"),
            (W.filter(pl.col("side") == "long").sum() / W.sum()).alias("long"),
        )
        .with_columns(pl.col("ts").dt.truncate("1h").alias("t"))
        .join(hourly.select("coin", "t", "oi_usd", "funding", "funding_24h"), on=["coin", "t"], how="left")
        .with_columns((pl.col("one_sided") / pl.col("oi_usd")).alias("cov"))
    )
    have_oi = per.drop_nulls("cov")
    total = have_oi.group_by("ts").agg(pl.col("one_sided").sum(), pl.col("oi_usd").sum())
    cov = pl.concat(
        [
            have_oi.select("coin", "cov"),
            total.select(
                pl.lit(POOLED).cast(COIN_T).alias("coin"),
                (pl.col("one_sided") / pl.col("oi_usd")).alias("cov"),
            ),
        ]
    )
    cover = (
        cov.group_by("coin")
        .agg(
            pl.len().alias("snaps"),
            *[
                (100 * f(pl.col("cov"))).round(1).alias(n)
                for n, f in (("min%", pl.Expr.min), ("median%", pl.Expr.median), ("max%", pl.Expr.max))
            ],
        )
        .sort("coin")
    )
    pool_long = pos.group_by("ts").agg((W.filter(pl.col("side") == "long").sum() / W.sum()).alias("long"))
    lg = pl.col("long")
    sides = (
        pl.concat(
            [
                per.select("coin", "long", "funding", "funding_24h"),
                pool_long.select(
                    pl.lit(POOLED).cast(COIN_T).alias("coin"),
                    "long",
                    *[pl.lit(None, pl.Float64).alias(c) for c in ("funding", "funding_24h")],
                ),
            ]
        )
        .group_by("coin")
        .agg(
            *[(100 * lg.quantile(q)).round(1).alias(f"long_q{round(100 * q)}%") for q in (0.1, 0.5, 0.9)],
            (1e6 * pl.col("funding").median()).round(2).alias("funding_1h_ppm_med"),
            pl.corr(lg, "funding").round(2).alias("r_pearson_1h"),
            pl.corr(lg, "funding", method="spearman").round(2).alias("r_spearman_1h"),
            pl.corr(lg, "funding_24h", method="spearman").round(2).alias("r_spearman_24h"),
        )
        .sort("coin")
    )
    return {"5_coverage_of_one_sided_oi": cover, "6_long_share_and_funding": sides}


def show(name: str, frame: pl.DataFrame) -> None:
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=250,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
        float_precision=None,
    ):
        print(f"\n## {name}\n{frame}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "root", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--json", type=Path, help="also write every table to this JSON file")
    args = ap.parse_args()
    start = time.perf_counter()
    pos, hourly = load_positions(args.root), load_hourly(args.root)
    tables = {
        **distance(pos, hourly),
        **leverage(pos),
        **entry(pos),
        **transitions(pos, hourly),
        **coverage_and_sides(pos, hourly),
    }
    span = " → ".join(str(v) for v in pos.select(pl.col("ts").min().alias("a"), pl.col("ts").max()).row(0))
    print(
        f"# {pos.height} positions of {', '.join(COINS)} in {pos['ts'].n_unique()} snapshots "
        f"({span}); percentages are of position_value_usd; a null quantile "
        "falls among positions without a liquidation price"
    )
    for name, frame in tables.items():
        if not name.endswith("_all"):
            show(name, frame)
    print(f"\n# runtime {time.perf_counter() - start:.2f} s")
    if args.json:
        out: dict[str, Any] = {name: frame.fill_nan(None).to_dicts() for name, frame in tables.items()}
        args.json.write_text(json.dumps(out, indent=1, default=str))
        print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
