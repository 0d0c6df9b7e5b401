"""Static facts about each venue: how it spells symbols and what its default quote currency is.

Capability flags live here instead of ``if venue == ...`` scattered around the code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VenueInfo:
    name: str
    default_quote: str
    symbol_style: str  # "concat" BTCUSDT | "okx" BTC-USDT-SWAP | "base" BTC | "dash" BTC-USD | "underscore"
    nominal_funding_interval_h: int
    liquidation_feed_sampled: bool  # venue streams at most one liquidation per symbol per second
    oi_sides: int = 1  # 2 where the venue's open-interest figure counts longs and shorts (docs/data.md)


VENUES: dict[str, VenueInfo] = {
    v.name: v
    for v in (
        VenueInfo("binance", "USDT", "concat", 8, liquidation_feed_sampled=True),
        VenueInfo("bybit", "USDT", "concat", 8, liquidation_feed_sampled=False, oi_sides=2),
        VenueInfo("okx", "USDT", "okx", 8, liquidation_feed_sampled=True),
        VenueInfo("hyperliquid", "USDC", "base", 1, liquidation_feed_sampled=False),
        VenueInfo("lighter", "USDC", "base", 1, liquidation_feed_sampled=False),
        VenueInfo("kraken", "USD", "base", 1, liquidation_feed_sampled=False),
        VenueInfo("dydx", "USD", "dash", 1, liquidation_feed_sampled=False),
        VenueInfo("gate", "USDT", "underscore", 8, liquidation_feed_sampled=False),
        VenueInfo("htx", "USDT", "dash", 8, liquidation_feed_sampled=False),
        VenueInfo("kucoin", "USDT", "concat", 8, liquidation_feed_sampled=False),
        VenueInfo("mexc", "USDT", "underscore", 8, liquidation_feed_sampled=False),
    )
}


class UnknownVenueError(ValueError):
    """The venue name is not one levradar knows."""


def venue_info(name: str) -> VenueInfo:
    key = name.strip().lower()
    try:
        return VENUES[key]
    except KeyError:
        raise UnknownVenueError(
            f"unknown venue {name!r}; known venues: {', '.join(sorted(VENUES))}"
        ) from None


# Coin per contract where a venue trades in contracts (OKX USDT-margined swaps, from OKX's instrument list).
CONTRACT_SIZES: dict[tuple[str, str], float] = {
    ("okx", "BTC"): 0.01,
    ("okx", "ETH"): 0.1,
    ("okx", "SOL"): 1.0,
    ("okx", "XRP"): 100.0,
    ("okx", "DOGE"): 1000.0,
}
