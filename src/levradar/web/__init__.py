"""Dashboard templates and static files; and how the tests and the benchmark start a headless Chromium on it."""

from __future__ import annotations

import os
import shutil

# Debian's Chromium, headless, with the background services off (a closed network refuses their connections)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The system Chromium (``LEVRADAR_CHROMIUM`` overrides); a clear error when it is not installed."""
    found = (
        os.environ.get("LEVRADAR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError(
            "chromium is not installed: `apt-get install chromium` (the CI install step does it)"
        )
    return found
