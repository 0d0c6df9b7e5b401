"""Typed records, units and symbol canonicalisation: the vocabulary every other layer speaks."""
