"""Account identities in measured positions: an on-chain address, kept as it is or replaced by its hash.

Addresses are public on Hyperliquid, but a store that is shared need not name them: by default levradar keeps
``sha256:`` + the first 16 hex digits of the SHA-256 of the lower-cased address — the same account always gets
the same id (imports and syncs stay idempotent), and 64 bits keep ids of a few million accounts apart.
"""

from __future__ import annotations

import hashlib
import re

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
HASH_PREFIX = "sha256:"


def is_address(text: str) -> bool:
    """An EVM address: 0x and 40 hex digits (Hyperliquid accounts)."""
    return bool(ADDRESS.match(text))


def account_id(address: str, *, keep: bool) -> str:
    """The id stored for ``address``: the address itself (lower case) or its hash."""
    if not is_address(address):
        raise ValueError(f"not an account address (0x and 40 hex digits): {address!r}")
    lowered = address.lower()
    if keep:
        return lowered
    return HASH_PREFIX + hashlib.sha256(lowered.encode()).hexdigest()[:16]
