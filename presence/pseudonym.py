"""MAC pseudonyms: a keyed hash whose key lives only in memory and changes daily.

A device that is not a registered tag is only ever known by its pseudonym: the first
8 bytes of BLAKE2b keyed with 32 random bytes (``os.urandom``), shown as 16 hex digits.
The key is never written anywhere and is replaced every 24 hours of **monotonic** time
(and at every start, since it only exists in memory). Replacing it drops (and zeroes)
the old key, so yesterday's pseudonyms cannot be linked to today's, not even by this
process.

Why monotonic time and not the site's midnight: a Raspberry Pi has no real-time clock,
so its wall clock may jump by days when NTP first answers, and a midnight rule would then
rotate twice or not at all. Monotonic time never jumps; the cost is that rotation falls at
an arbitrary hour. At that moment a device still in range gets a new pseudonym and is
counted twice until its old entry ages out (the away timeout, 45 s by default).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable

__all__ = ["DAY", "Pseudonymiser"]

DAY = 24 * 60 * 60.0
_KEY_BYTES = 32
_DIGEST_BYTES = 8

log = logging.getLogger(__name__)


class Pseudonymiser:
    """Keyed BLAKE2b of MAC addresses, with a daily in-memory key.

    ``clock`` returns monotonic seconds (``time.monotonic``); ``period`` is how long a key
    lives; ``entropy`` makes keys (``os.urandom``; tests may pass their own).
    """

    __slots__ = ("_base", "_clock", "_entropy", "_epoch", "_key", "_period", "_rotates_at")

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        period: float = DAY,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not period > 0:
            raise ValueError(f"period must be positive, got {period!r}")
        self._clock = clock
        self._period = float(period)
        self._entropy = entropy
        self._epoch = 0
        self._key = bytearray(0)
        self._base = hashlib.blake2b(digest_size=_DIGEST_BYTES)
        self._rotates_at = 0.0
        self._new_key(clock())

    def __repr__(self) -> str:
        return f"Pseudonymiser(epoch={self._epoch}, period={self._period:g}s)"

    @property
    def epoch(self) -> int:
        """How many times the key was replaced; pseudonyms of different epochs never match."""
        return self._epoch

    @property
    def rotates_at(self) -> float:
        """The monotonic time at which the current key is replaced."""
        return self._rotates_at

    def _new_key(self, now: float) -> None:
        key = bytearray(self._entropy(_KEY_BYTES))
        if len(key) != _KEY_BYTES:
            raise ValueError(f"entropy must return {_KEY_BYTES} bytes, got {len(key)}")
        old = self._key
        self._base = hashlib.blake2b(key=bytes(key), digest_size=_DIGEST_BYTES)
        self._key = key
        old[:] = bytes(len(old))  # best effort: the old key's bytes are overwritten
        self._rotates_at = now + self._period

    def rotate(self, now: float | None = None) -> None:
        """Replace the key at once (and drop the old one)."""
        self._new_key(self._clock() if now is None else now)
        self._epoch += 1
        log.info("presence: pseudonym key replaced (epoch %d)", self._epoch)

    def rotate_if_due(self, now: float | None = None) -> bool:
        """Replace the key if its day is over; ``True`` when it was replaced."""
        moment = self._clock() if now is None else now
        if moment < self._rotates_at:
            return False
        self.rotate(moment)
        return True

    def pseudonym(self, address: str) -> str:
        """The address's pseudonym under the current key: 16 lower-case hex digits.

        The address is normalised first (case, ``-`` or ``:``), so ``aa-bb-…`` and
        ``AA:BB:…`` give the same pseudonym. The key is replaced first if it is due.
        """
        if self._clock() >= self._rotates_at:
            self.rotate_if_due()
        return self.hash_now(address)

    def hash_now(self, address: str) -> str:
        """:meth:`pseudonym` without the rotation check (the caller checked it)."""
        digest = self._base.copy()
        digest.update(address.upper().replace("-", ":").encode("ascii", "replace"))
        return digest.hexdigest()

    @staticmethod
    def short(pseudonym: str) -> str:
        """The first 8 hex digits, as a technician's table shows them."""
        return pseudonym[:8]
