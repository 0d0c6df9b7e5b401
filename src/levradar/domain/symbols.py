"""Symbol canonicalisation across venues.

Every spelling of a perpetual — ``BTCUSDT`` (Binance, Bybit), ``BTC-USDT-SWAP`` (OKX), ``BTC``
(Hyperliquid), ``BTC/USDT:USDT`` (ccxt unified), ``BTC-USDT`` — resolves to a :class:`Market`: the venue,
the asset (base coin), the quote and the venue's own symbol, which is what the store keys on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from levradar.domain.venues import venue_info

KNOWN_QUOTES: tuple[str, ...] = ("USDT", "USDC", "BUSD", "FDUSD", "USD")
_CCXT = re.compile(r"^(?P<base>[A-Za-z0-9]+)/(?P<quote>[A-Za-z0-9]+)(?::(?P<settle>[A-Za-z0-9]+))?(?:-.*)?$")
_SEPARATED = re.compile(r"^(?P<base>[A-Za-z0-9]+)[-_](?P<quote>[A-Za-z0-9]+)(?:[-_](?:SWAP|PERP|P))?$", re.I)
_PLAIN = re.compile(r"^[A-Za-z0-9]+$")


class SymbolError(ValueError):
    """A symbol could not be understood."""


@dataclass(frozen=True)
class Market:
    venue: str
    asset: str
    quote: str
    symbol: str  # the venue's own spelling; the store's key


def _norm_asset(base: str) -> str:
    # Hyperliquid's "kPEPE" (1000 PEPE) keeps its lowercase multiplier prefix; everything else is upper case.
    if len(base) > 1 and base[0] == "k" and base[1:].isupper():
        return base
    return base.upper()


def venue_symbol(venue: str, asset: str, quote: str) -> str:
    """The venue's own spelling of the ``asset``/``quote`` perpetual."""
    style = venue_info(venue).symbol_style
    if style == "concat":
        return f"{asset}{quote}"
    if style == "okx":
        return f"{asset}-{quote}-SWAP"
    if style == "base":
        return asset
    if style == "dash":
        return f"{asset}-{quote}"
    return f"{asset}_{quote}"


def split_symbol(raw: str, default_quote: str) -> tuple[str, str]:
    """Split any supported spelling into (asset, quote)."""
    text = raw.strip()
    if not text:
        raise SymbolError("empty symbol")
    if m := _CCXT.match(text):
        return _norm_asset(m["base"]), (m["settle"] or m["quote"]).upper()
    if m := _SEPARATED.match(text):
        return _norm_asset(m["base"]), m["quote"].upper()
    if _PLAIN.match(text):
        upper = text.upper()
        # the venue's own quote first: ARBUSD on a USD venue is ARB/USD, not AR/BUSD
        for quote in (default_quote, *KNOWN_QUOTES):
            if upper.endswith(quote) and len(upper) > len(quote):
                return _norm_asset(text[: -len(quote)]), quote
        return _norm_asset(text), default_quote
    raise SymbolError(
        f"cannot parse symbol {raw!r}; expected e.g. BTCUSDT, BTC-USDT-SWAP, BTC-USDT, BTC or BTC/USDT:USDT"
    )


def unified_symbol(venue: str, raw_symbol: str) -> str:
    """The ccxt unified spelling ``BASE/QUOTE:SETTLE`` of a perpetual on ``venue`` (``BTC/USDT:USDT``;
    Hyperliquid's USDC-margined ``BTC`` is ``BTC/USDC:USDC``): the perpetuals levradar reads are linear, so they
    settle in their quote."""
    market = canonical_market(venue, raw_symbol)
    return f"{market.asset}/{market.quote}:{market.quote}"


def canonical_market(venue: str, raw_symbol: str) -> Market:
    """Resolve any spelling of a perpetual on ``venue`` to its :class:`Market`."""
    info = venue_info(venue)
    asset, quote = split_symbol(raw_symbol, info.default_quote)
    if info.symbol_style == "base":
        quote = info.default_quote  # single-collateral venues: BTC, BTC/USDC:USDC and BTC-USD all mean BTC
    return Market(info.name, asset, quote, venue_symbol(info.name, asset, quote))
