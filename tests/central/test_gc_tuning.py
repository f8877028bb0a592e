"""A serving process tunes its garbage collection once its app is built: the heap of
start-up frozen, a higher first threshold (see :func:`central.asgi.tune_gc`). Run in a
child process: freezing the test process's own heap would outlive the test."""

from __future__ import annotations

import subprocess
import sys

from central.asgi import GC_THRESHOLD

_PROBE = """
import gc
from central.asgi import tune_gc
before = gc.get_freeze_count()
tune_gc()
print(before, gc.get_freeze_count(), gc.get_threshold()[0])
"""


def test_tune_gc_freezes_the_start_up_heap_and_raises_the_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    before, after, threshold = (int(x) for x in out)
    assert before == 0
    assert after > 1000  # the modules and objects start-up made
    assert threshold == GC_THRESHOLD > 700
