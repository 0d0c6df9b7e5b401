"""Symbol canonicalisation: every venue's spelling of a perpetual resolves to one Market."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levradar.domain.symbols import (
    KNOWN_QUOTES,
    Market,
    SymbolError,
    canonical_market,
    split_symbol,
    unified_symbol,
    venue_symbol,
)
from levradar.domain.venues import VENUES, UnknownVenueError, venue_info

SPELLINGS = ["BTCUSDT", "BTC-USDT-SWAP", "BTC", "BTC/USDT:USDT", "BTC-USDT"]


@pytest.mark.parametrize(
    ("venue", "raw", "expected"),
    [
        ("binance", "BTCUSDT", Market("binance", "BTC", "USDT", "BTCUSDT")),
        ("bybit", "BTCUSDT", Market("bybit", "BTC", "USDT", "BTCUSDT")),
        ("okx", "BTC-USDT-SWAP", Market("okx", "BTC", "USDT", "BTC-USDT-SWAP")),
        ("hyperliquid", "BTC", Market("hyperliquid", "BTC", "USDC", "BTC")),
        ("binance", "BTC/USDT:USDT", Market("binance", "BTC", "USDT", "BTCUSDT")),
        ("okx", "BTC/USDT:USDT", Market("okx", "BTC", "USDT", "BTC-USDT-SWAP")),
        ("binance", "BTC-USDT", Market("binance", "BTC", "USDT", "BTCUSDT")),
        ("okx", "BTC-USDT", Market("okx", "BTC", "USDT", "BTC-USDT-SWAP")),
        ("hyperliquid", "BTC/USDC:USDC", Market("hyperliquid", "BTC", "USDC", "BTC")),
    ],
)
def test_venue_spellings_resolve_to_the_asset_and_the_venue_symbol(
    venue: str, raw: str, expected: Market
) -> None:
    assert canonical_market(venue, raw) == expected


# Venues whose default quote is USDT take all five spellings (each says USDT or nothing) to one market;
# single-collateral ("base") venues ignore the quote altogether. A USD-quoted venue such as dYdX keeps the
# explicit USDT of "BTCUSDT" apart from its own BTC-USD, so it is not expected to merge them.
MERGING_VENUES = sorted(
    name for name, info in VENUES.items() if info.default_quote == "USDT" or info.symbol_style == "base"
)


@pytest.mark.parametrize("venue", MERGING_VENUES)
def test_every_spelling_given_to_a_venue_yields_the_same_market(venue: str) -> None:
    markets = {canonical_market(venue, raw) for raw in SPELLINGS}
    assert len(markets) == 1
    (market,) = markets
    assert market.venue == venue
    assert market.asset == "BTC"
    assert market.quote == VENUES[venue].default_quote


def test_cross_spelling_on_the_big_four_gives_their_own_symbols() -> None:
    symbols = {venue: {canonical_market(venue, raw).symbol for raw in SPELLINGS} for venue in VENUES}
    assert symbols["binance"] == {"BTCUSDT"}
    assert symbols["bybit"] == {"BTCUSDT"}
    assert symbols["okx"] == {"BTC-USDT-SWAP"}
    assert symbols["hyperliquid"] == {"BTC"}


def test_a_usd_venue_keeps_an_explicit_usdt_quote_apart() -> None:
    assert canonical_market("dydx", "BTC") == Market("dydx", "BTC", "USD", "BTC-USD")
    assert canonical_market("dydx", "BTC-USD") == Market("dydx", "BTC", "USD", "BTC-USD")
    assert canonical_market("dydx", "BTCUSDT").quote == "USDT"


@pytest.mark.parametrize("raw", ["kPEPE", "kPEPE/USDC:USDC", "kPEPE-USDC", " kPEPE "])
def test_hyperliquid_k_prefix_keeps_its_case(raw: str) -> None:
    assert canonical_market("hyperliquid", raw) == Market("hyperliquid", "kPEPE", "USDC", "kPEPE")


def test_a_lower_case_k_prefix_is_not_a_multiplier_elsewhere_in_the_name() -> None:
    # only a leading "k" before an all-upper-case rest is the multiplier prefix
    assert split_symbol("kpepe", "USDC") == ("KPEPE", "USDC")
    assert split_symbol("KAVA", "USDC") == ("KAVA", "USDC")


@pytest.mark.parametrize(
    ("venue", "raw", "symbol"),
    [
        ("binance", "btcusdt", "BTCUSDT"),
        ("bybit", "btcusdt", "BTCUSDT"),
        ("okx", "btcusdt", "BTC-USDT-SWAP"),
        ("okx", "btc-usdt-swap", "BTC-USDT-SWAP"),
        ("hyperliquid", "btc", "BTC"),
        ("binance", "btc/usdt:usdt", "BTCUSDT"),
    ],
)
def test_lower_case_input_works(venue: str, raw: str, symbol: str) -> None:
    market = canonical_market(venue, raw)
    assert market.asset == "BTC"
    assert market.symbol == symbol


def test_venue_names_are_case_and_space_insensitive() -> None:
    assert canonical_market(" Binance ", "BTCUSDT") == Market("binance", "BTC", "USDT", "BTCUSDT")
    assert venue_info("OKX").name == "okx"


@pytest.mark.parametrize("venue", ["ftx", "", "binance-us"])
def test_unknown_venue_raises_naming_the_known_venues(venue: str) -> None:
    with pytest.raises(UnknownVenueError, match="unknown venue") as info:
        canonical_market(venue, "BTCUSDT")
    message = str(info.value)
    assert all(name in message for name in VENUES)
    with pytest.raises(UnknownVenueError):
        venue_symbol(venue, "BTC", "USDT")


def test_unknown_venue_error_is_a_value_error() -> None:
    assert issubclass(UnknownVenueError, ValueError)


@pytest.mark.parametrize("raw", ["BTC USDT!", "BTC USDT", "BTC!", "BTC--USDT", "BTC/", "/USDT", "€BTC"])
def test_garbage_is_a_symbol_error(raw: str) -> None:
    with pytest.raises(SymbolError, match="cannot parse symbol"):
        canonical_market("binance", raw)


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_symbol_is_a_symbol_error(raw: str) -> None:
    with pytest.raises(SymbolError, match="empty"):
        canonical_market("binance", raw)


def test_a_bare_quote_code_is_an_asset_not_an_empty_base() -> None:
    # "USDT" alone must not be read as asset "" + quote USDT
    assert split_symbol("USDT", "USDC") == ("USDT", "USDC")


def test_plain_usd_spelling_on_a_usd_venue_keeps_the_whole_asset() -> None:
    # split_symbol tries BUSD and FDUSD before USD whatever the venue's quote, so on a USD-quoted venue an
    # asset ending in B or FD loses its last letters: on Kraken "ARBUSD" resolves to AR (Arweave), not ARB.
    assert canonical_market("kraken", "ARBUSD") == Market("kraken", "ARB", "USD", "ARB")
    assert canonical_market("kraken", "BNBUSD") == Market("kraken", "BNB", "USD", "BNB")
    assert canonical_market("dydx", "BNBUSD") == Market("dydx", "BNB", "USD", "BNB-USD")


# --- round-trip property -------------------------------------------------------------------------------

_ALNUM_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ASSETS = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    st.text(alphabet=_ALNUM_UPPER, min_size=1, max_size=7),
).filter(lambda asset: not asset.endswith(KNOWN_QUOTES))


@pytest.mark.parametrize("venue", sorted(VENUES))
@given(asset=ASSETS)
def test_venue_symbol_round_trips_through_canonical_market(venue: str, asset: str) -> None:
    quote = VENUES[venue].default_quote
    symbol = venue_symbol(venue, asset, quote)
    assert canonical_market(venue, symbol) == Market(venue, asset, quote, symbol)


SEPARATED_VENUES = sorted(
    name for name, info in VENUES.items() if info.symbol_style in ("okx", "dash", "underscore")
)


@pytest.mark.parametrize("venue", SEPARATED_VENUES)
@given(asset=ASSETS, quote=st.sampled_from(KNOWN_QUOTES))
def test_separated_venue_symbols_round_trip_with_any_known_quote(venue: str, asset: str, quote: str) -> None:
    symbol = venue_symbol(venue, asset, quote)
    assert canonical_market(venue, symbol) == Market(venue, asset, quote, symbol)


@pytest.mark.parametrize("venue", sorted(VENUES))
@given(asset=ASSETS)
def test_ccxt_unified_spelling_resolves_like_the_venue_symbol(venue: str, asset: str) -> None:
    quote = VENUES[venue].default_quote
    assert canonical_market(venue, f"{asset}/{quote}:{quote}") == canonical_market(
        venue, venue_symbol(venue, asset, quote)
    )


@pytest.mark.parametrize("venue", sorted(VENUES))
@given(asset=ASSETS | st.sampled_from(["kPEPE", "1000PEPE", "BTC"]), spelling=st.sampled_from(SPELLINGS))
def test_unified_symbol_round_trips_with_every_venue_spelling(venue: str, asset: str, spelling: str) -> None:
    """The unified symbol is BASE/QUOTE:QUOTE (linear perpetuals settle in their quote) and reads back as the
    same market as the venue's own spelling it was made from, whichever spelling that was."""
    quote = VENUES[venue].default_quote
    raw = spelling.replace("BTC", asset, 1).replace("USDT", quote)  # e.g. ETH-USDC-SWAP, ETH/USDC:USDC
    market = canonical_market(venue, raw)
    unified = unified_symbol(venue, raw)
    assert unified == f"{market.asset}/{market.quote}:{market.quote}"
    assert canonical_market(venue, unified) == market
    assert unified_symbol(venue, market.symbol) == unified == unified_symbol(venue, unified)


@pytest.mark.parametrize(
    ("venue", "symbol", "unified"),
    [
        ("binance", "BTCUSDT", "BTC/USDT:USDT"),
        ("bybit", "ETHUSDT", "ETH/USDT:USDT"),
        ("okx", "SOL-USDT-SWAP", "SOL/USDT:USDT"),
        ("hyperliquid", "BTC", "BTC/USDC:USDC"),
        ("hyperliquid", "kPEPE", "kPEPE/USDC:USDC"),
        ("dydx", "BTC-USD", "BTC/USD:USD"),
    ],
)
def test_unified_symbols_of_the_venues_spellings(venue: str, symbol: str, unified: str) -> None:
    assert unified_symbol(venue, symbol) == unified
