"""What the scanner hands the presence pipeline: one advertisement, in memory only.

The MAC ``address`` is personal data: it exists only here, for the moment it takes to
pseudonymise it, and never reaches disk, a log, the queue or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RawAdvertisement"]


@dataclass(frozen=True, slots=True)
class RawAdvertisement:
    address: str = field(repr=False)
    rssi: int
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    """Company id -> payload, as bleak's ``AdvertisementData.manufacturer_data``."""
    service_data: dict[str, bytes] = field(default_factory=dict)
    """Service UUID (128-bit string) -> payload, as bleak's ``service_data``."""
    at: float = 0.0
    """``time.monotonic()`` when it was received."""

    def __repr__(self) -> str:
        return f"RawAdvertisement(rssi={self.rssi}, at={self.at:.3f})"
