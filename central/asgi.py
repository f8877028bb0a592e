"""The ASGI entry point for process managers: one app per worker process, from the environment.

``tapin central serve --workers N`` runs uvicorn with ``central.asgi:app_from_env`` as an
app factory, so every worker process builds its own app (its own connection pool, its
own cache of opened epoch keys) from the same settings. Any ASGI server that takes a
factory can do the same, e.g. one process per container::

    TAPIN_CENTRAL_DSN=... TAPIN_CENTRAL_KEY=/etc/tapin/central-key.pem \\
        uvicorn --factory central.asgi:app_from_env --host 0.0.0.0 --port 8443 \\
        --ssl-certfile chain.pem --ssl-keyfile tls-key.pem --no-server-header --no-date-header

(uvicorn's own ``--workers`` leaves Nagle's algorithm on: use ``tapin central serve
--workers N``, see ``central.cli``.)

Workers share nothing but PostgreSQL: rate limits, the ledger, commands and the
notification outbox live there, and ETags are hashes of the content, so any worker
(or any machine behind a load balancer) gives the same answer.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

from central.errors import SettingsError

GC_THRESHOLD = 10_000
"""Allocations before a young collection (CPython's default is 700)."""

if TYPE_CHECKING:  # the device CLI imports this module without the server stack
    from starlette.applications import Starlette

__all__ = [
    "CALENDARS_ENV",
    "DSN_ENV",
    "GC_THRESHOLD",
    "KEY_ENV",
    "POOL_ENV",
    "app_from_env",
    "pool_size",
    "tune_gc",
]

DSN_ENV = "TAPIN_CENTRAL_DSN"
KEY_ENV = "TAPIN_CENTRAL_KEY"
CALENDARS_ENV = "TAPIN_CENTRAL_CALENDARS"
"""The room calendars' settings file (:mod:`central.calendars.settings`)."""
POOL_ENV = "TAPIN_CENTRAL_POOL_MAX"
"""Database connections per worker process (default :data:`DEFAULT_POOL`)."""
DEFAULT_POOL = 8


def pool_size(value: str | int | None) -> int:
    """The per-worker pool size from a setting. Raises :class:`SettingsError`."""
    if value is None or value == "":
        return DEFAULT_POOL
    try:
        size = int(value)
    except ValueError:
        raise SettingsError(f"{POOL_ENV} must be a whole number, not {value!r}") from None
    if not 1 <= size <= 1000:
        raise SettingsError(f"the pool size must be between 1 and 1000, not {size}")
    return size


def app_from_env(*, gc_tuning: bool = True) -> Starlette:
    """The central app for ``$TAPIN_CENTRAL_DSN`` with the key at ``$TAPIN_CENTRAL_KEY``
    and ``$TAPIN_CENTRAL_POOL_MAX`` connections (nothing connects before its lifespan).

    Central's notification settings come from ``$TAPIN_CENTRAL_SETTINGS`` (see
    :mod:`central.notify.settings`); every process runs a notification worker, and the
    schedule of :mod:`central.calendars.schedule` (calendar sync from
    ``$TAPIN_CENTRAL_CALENDARS``, write-back, retention).

    The process's garbage collection is tuned for serving (:func:`tune_gc`) unless
    ``gc_tuning`` is false (an app built inside another program, e.g. a test).

    Raises :class:`SettingsError` when a setting is missing or wrong and
    :class:`KeyFileError` when the key file is unusable.
    """
    from central.app import create_app
    from central.calendars.schedule import attach
    from central.calendars.settings import load_calendar_settings
    from central.keys import load_private_key
    from central.notify.settings import load_settings

    dsn = os.environ.get(DSN_ENV)
    key_path = os.environ.get(KEY_ENV)
    if not dsn:
        raise SettingsError(f"no database: set {DSN_ENV}")
    if not key_path:
        raise SettingsError(f"no key file: set {KEY_ENV}")
    size = pool_size(os.environ.get(POOL_ENV))
    app = create_app(
        dsn,
        load_private_key(key_path),
        pool_min=min(2, size),
        pool_max=size,  # the notification worker takes two of them while it sends
        settings=load_settings(),
        worker=True,
    )
    # room calendars (``$TAPIN_CENTRAL_CALENDARS``), their write-back and retention, on a
    # schedule in every process (see central.calendars.schedule)
    attach(app, load_calendar_settings())
    if gc_tuning:
        tune_gc()
    return app


def tune_gc() -> None:
    """Garbage collection for a server process, once its app is built.

    What start-up made (modules, the app, templates) lives as long as the process:
    :func:`gc.freeze` keeps the collector from walking it again, and a higher first
    threshold lets a batch's short-lived objects (tens of thousands for 500 events) die
    before a collection finds them. In ``benchmarks.drain`` this took the collector's
    share of an upload from 2.4 ms to under 0.1 ms.
    """
    gc.collect()  # what start-up left behind is not frozen with the rest
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
