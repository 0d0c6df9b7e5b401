"""The names the command line lists in its help, without importing the modules that implement them (start-up
stays fast). Each implementing module checks at import that its own names are exactly these."""

from __future__ import annotations

DATASET_NAMES: tuple[str, ...] = (
    "candles",
    "funding",
    "predicted_funding",
    "open_interest",
    "liquidations",
    "mark_index",
    "long_short_ratio",
    "positions",
)
SOURCE_NAMES: tuple[str, ...] = (
    "perp-panels",
    "multivenue-2025",
    "funding-7venues",
    "hyperliquid-rest",
    "hyperliquid-positions",
    "canonical",
    "sample",
)
FILE_FORMATS: tuple[str, ...] = ("csv", "json", "parquet")


def check_names(kind: str, declared: tuple[str, ...], actual: tuple[str, ...]) -> None:
    """Fail at import when an implementation's names drift from the declared ones."""
    if declared != actual:
        raise RuntimeError(f"levradar.names.{kind} is {declared}, the implementation has {actual}")
