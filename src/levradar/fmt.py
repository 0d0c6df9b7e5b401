"""Number words shared by every surface (CLI tables, memos): one spelling each."""

from __future__ import annotations


def ordinal(n: int) -> str:
    """1 → '1st', 2 → '2nd', 3 → '3rd', 11 → '11th', 12 → '12th', 13 → '13th', 21 → '21st', 71 → '71st'."""
    if n < 0:
        raise ValueError(f"no ordinal for {n}")
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"
