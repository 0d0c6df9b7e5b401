"""levradar — the Crypto Leverage Radar. ``import levradar as lr; lr.open(data_dir)`` is the notebook API
(levradar.radar, docs/python-api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from levradar.radar import open


def __getattr__(name: str) -> Any:
    """``open`` and ``__version__`` are loaded only when asked for: ``import levradar`` stays light."""
    if name == "open":
        from levradar.radar import open as open_radar

        return open_radar
    if name != "__version__":
        raise AttributeError(f"module 'levradar' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("levradar")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+unknown"


__all__ = ["__version__", "open"]
