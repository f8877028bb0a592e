"""Tapin: the shared device runtime (CLI, config, domain, in-memory calendar, UI kit)."""

__version__ = "0.1.0"
