"""Measured performance targets (see DESIGN.md, "Targets"); never run as timed tests."""
