"""Presence: BLE scanning (bleak), beacon parsing, MAC pseudonymisation, occupancy."""
