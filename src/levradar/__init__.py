"""levradar — the Crypto Leverage Radar."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__`` is read from the installed metadata only when asked for (keeps start-up fast)."""
    if name != "__version__":
        raise AttributeError(f"module 'levradar' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("levradar")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+unknown"


__all__ = ["__version__"]
