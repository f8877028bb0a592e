"""Central: the reference central API server on PostgreSQL.

Devices enroll, download snapshots (rooms, desks, directory, a room's calendar,
free/busy) and upload sealed events, which central applies exactly once. See
``docs/central.md`` and ``central/openapi.yaml``.

Exceptions (named apart from the devices' ``sync.client.CentralError`` — "talking to
central failed" — and ``tapin.config.ConfigError``: one name, one meaning)::

    ServerError
     ├── BadRequest (ValueError)            400
     │    └── PayloadTooLarge               413
     ├── NotAuthorised (PermissionError)    401
     ├── Forbidden (PermissionError)        403
     │    └── EnrollmentError
     ├── NotFound (LookupError)             404
     ├── TooManyRequests                    429
     ├── ServiceBusy                        503
     ├── DatabaseUnavailable (ConnectionError) 503
     ├── MigrationError
     └── SettingsError (ValueError)
          └── KeyFileError

Public surface: the names in ``__all__``; modules are private. Everything but the
exceptions is imported on first use, so ``central.cli`` stays cheap to import for the
device CLI that mounts it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from central.errors import (
    BadRequest,
    DatabaseUnavailable,
    EnrollmentError,
    Forbidden,
    KeyFileError,
    MigrationError,
    NotAuthorised,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceBusy,
    SettingsError,
    TooManyRequests,
)

if TYPE_CHECKING:
    from central.admin import ForgetReport, forget_person, revoke_device
    from central.app import create_app
    from central.batch import Limits
    from central.commands import queue_command
    from central.db import open_pool
    from central.enroll import EnrollmentCode, create_enrollment_code
    from central.keys import load_or_create_private_key, load_private_key
    from central.migrate import init_db
    from central.retention import run_retention
    from central.seed import SeedReport, seed_demo

_LAZY = {
    "ForgetReport": "central.admin",
    "forget_person": "central.admin",
    "revoke_device": "central.admin",
    "create_app": "central.app",
    "Limits": "central.batch",
    "queue_command": "central.commands",
    "open_pool": "central.db",
    "EnrollmentCode": "central.enroll",
    "create_enrollment_code": "central.enroll",
    "load_or_create_private_key": "central.keys",
    "load_private_key": "central.keys",
    "init_db": "central.migrate",
    "run_retention": "central.retention",
    "SeedReport": "central.seed",
    "seed_demo": "central.seed",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'central' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BadRequest",
    "DatabaseUnavailable",
    "EnrollmentCode",
    "EnrollmentError",
    "Forbidden",
    "ForgetReport",
    "KeyFileError",
    "Limits",
    "MigrationError",
    "NotAuthorised",
    "NotFound",
    "PayloadTooLarge",
    "SeedReport",
    "ServerError",
    "ServiceBusy",
    "SettingsError",
    "TooManyRequests",
    "create_app",
    "create_enrollment_code",
    "forget_person",
    "init_db",
    "load_or_create_private_key",
    "load_private_key",
    "open_pool",
    "queue_command",
    "revoke_device",
    "run_retention",
    "seed_demo",
]
