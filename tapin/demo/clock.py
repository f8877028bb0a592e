"""A clock moved by hand: the tour, the benchmarks and the tests use it wherever code
takes a ``clock`` callable (wall time as an aware ``datetime``, or monotonic seconds
as a ``float``)."""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

__all__ = ["ManualClock"]

T = TypeVar("T")


class ManualClock(Generic[T]):
    """``clock()`` returns :attr:`now`; :meth:`advance` moves it.

    With ``record=True`` every call remembers the calling thread's id in :attr:`calls`
    (a test can then prove that work ran off the UI loop's thread).
    """

    def __init__(self, now: T, *, record: bool = False) -> None:
        self.now = now
        self.calls: list[int] = []
        self._record = record

    def __call__(self) -> T:
        if self._record:
            self.calls.append(threading.get_ident())
        return self.now

    def advance(self, delta: Any) -> T:
        """Move forward by ``delta`` (a ``timedelta``, or seconds for a float clock)."""
        self.now = self.now + delta
        return self.now
