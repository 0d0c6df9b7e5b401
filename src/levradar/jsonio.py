"""One JSON encoding for every output (CLI --json, the HTTP API): UTC times as ISO 8601 with Z, NaN → null."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, recursively: strict JSON has none."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(data: Any, *, indent: int | None = None) -> str:
    return json.dumps(finite(data), default=json_default, indent=indent, allow_nan=False)


def to_json_bytes(data: Any) -> bytes:
    return dumps(data).encode()
