"""Retry timing: exponential backoff with full jitter.

After the n-th consecutive failure the next attempt waits a random time between half
of ``min(cap, base * 2**n)`` and all of it ("equal jitter"): a fleet of panels that lost
central together does not come back in lockstep, and no wait collapses to zero. A
success resets the count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    failures: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def failed(self) -> float:
        """Record a failure; the seconds to wait before the next attempt."""
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> None:
        self.failures = 0

    @property
    def ceiling(self) -> float:
        """The longest the next wait can be."""
        return min(self.cap, self.base * (2 ** min(self.failures, 30)))
