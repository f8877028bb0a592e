"""The device admin PIN: scrypt hashes, and a guard with a lockout that survives reboots.

A technician makes a hash with ``tapin admin hash-pin`` and puts it in the
configuration (``[admin] pin_hash``); the panel never stores the PIN itself. The hash
is one string::

    scrypt$16384$8$1$<salt, base64>$<key, base64>

:class:`PinGuard` checks PINs typed at the panel. After :data:`MAX_FAILURES` wrong
tries in a row it refuses every try for :data:`LOCKOUT` (:class:`PinLocked`). The
failure count and the lock live in a small JSON file in the state directory, written
atomically with mode 0600, so power-cycling the panel does not reset them. Failures
and lockouts are logged at WARNING, never with the digits typed.

Exceptions::

    AdminPinError
     ├── PinFormatError (ValueError)      the PIN is not 4–8 digits
     ├── PinHashError (ValueError)        the stored hash is not a valid scrypt string
     └── PinLocked (PermissionError)      too many wrong tries; .until, .remaining
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.files import write_private

if TYPE_CHECKING:
    from tapin.config import Config

__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "PIN_STATE_FILE",
    "AdminPinError",
    "PinFormatError",
    "PinGuard",
    "PinHashError",
    "PinLocked",
    "describe_wait",
    "hash_pin",
    "parse_pin_hash",
    "validate_pin",
]

log = logging.getLogger(__name__)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_DIGITS = 4
MAX_DIGITS = 8
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
PIN_STATE_FILE = "admin-pin.json"

# What a stored hash may ask for: enough to refuse a hash that would take minutes or
# gigabytes to check on a Raspberry Pi.
_N_RANGE = (2**10, 2**20)
_R_RANGE = (1, 32)
_P_RANGE = (1, 16)


class AdminPinError(Exception):
    """Root of this module's errors."""


class PinFormatError(AdminPinError, ValueError):
    """The PIN is not 4–8 digits."""


class PinHashError(AdminPinError, ValueError):
    """A stored PIN hash is not a valid ``scrypt$n$r$p$salt$key`` string."""


class PinLocked(AdminPinError, PermissionError):
    """Too many wrong PINs: every try is refused until :attr:`until`."""

    def __init__(self, until: datetime, remaining: timedelta) -> None:
        self.until = until
        self.remaining = remaining
        super().__init__(
            f"the admin PIN is locked for {describe_wait(remaining)} "
            f"after {MAX_FAILURES} wrong tries"
        )

    def __str__(self) -> str:
        return str(self.args[0])


def describe_wait(remaining: timedelta) -> str:
    """``4 min 32 s``; rounded up, so a lock never reads ``0 s`` while it holds."""
    seconds = max(0, math.ceil(remaining.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    if minutes and seconds:
        return f"{minutes} min {seconds} s"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def validate_pin(pin: str) -> str:
    """Return the PIN when it is 4–8 ASCII digits; raise :class:`PinFormatError` otherwise.

    The message never repeats the PIN.
    """
    if not isinstance(pin, str):
        raise PinFormatError("the PIN must be text made of digits")
    if not pin:
        raise PinFormatError(f"no PIN given; it must be {MIN_DIGITS} to {MAX_DIGITS} digits")
    if not (pin.isascii() and pin.isdigit()):
        raise PinFormatError("the PIN must contain digits 0-9 only")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise PinFormatError(
            f"the PIN must be {MIN_DIGITS} to {MAX_DIGITS} digits long, not {len(pin)}"
        )
    return pin


@dataclass(frozen=True, slots=True)
class PinHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def __str__(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        key = base64.b64encode(self.key).decode("ascii")
        return f"scrypt${self.n}${self.r}${self.p}${salt}${key}"


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PinHashError(f"the {what} is not valid base64") from None


def parse_pin_hash(text: str) -> PinHash:
    """Parse and check a stored hash; :class:`PinHashError` says what is wrong."""
    if not isinstance(text, str):
        raise PinHashError("must be a string made by 'tapin admin hash-pin'")
    parts = text.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PinHashError(
            "must look like scrypt$N$r$p$salt$hash; make one with 'tapin admin hash-pin'"
        )
    try:
        n, r, p = (int(part) for part in parts[1:4])
    except ValueError:
        raise PinHashError("the scrypt parameters N, r and p must be whole numbers") from None
    if not _N_RANGE[0] <= n <= _N_RANGE[1] or n & (n - 1):
        raise PinHashError(
            f"scrypt N must be a power of two from {_N_RANGE[0]} to {_N_RANGE[1]}, got {n}"
        )
    if not _R_RANGE[0] <= r <= _R_RANGE[1]:
        raise PinHashError(f"scrypt r must be from {_R_RANGE[0]} to {_R_RANGE[1]}, got {r}")
    if not _P_RANGE[0] <= p <= _P_RANGE[1]:
        raise PinHashError(f"scrypt p must be from {_P_RANGE[0]} to {_P_RANGE[1]}, got {p}")
    salt = _b64(parts[4], "salt")
    key = _b64(parts[5], "hash")
    if len(salt) < SALT_BYTES:
        raise PinHashError(f"the salt must be at least {SALT_BYTES} bytes, got {len(salt)}")
    if len(key) != KEY_BYTES:
        raise PinHashError(f"the hash must be {KEY_BYTES} bytes, got {len(key)}")
    return PinHash(n, r, p, salt, key)


def _kdf(salt: bytes, n: int, r: int, p: int, length: int) -> Any:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=length, n=n, r=r, p=p)


def hash_pin(pin: str) -> str:
    """Hash a PIN for the configuration: ``scrypt$n$r$p$salt_b64$hash_b64``.

    Raises :class:`PinFormatError` (a :class:`ValueError`) unless the PIN is 4–8 digits.
    """
    validate_pin(pin)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _kdf(salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES).derive(pin.encode("ascii"))
    return str(PinHash(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, key))


def _verify(pin: str, stored: PinHash) -> bool:
    from cryptography.exceptions import InvalidKey

    kdf = _kdf(stored.salt, stored.n, stored.r, stored.p, len(stored.key))
    try:
        kdf.verify(pin.encode("utf-8"), stored.key)  # constant-time comparison
    except InvalidKey:
        return False
    return True


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PinGuard:
    """Checks admin PINs against a stored hash, with a lockout that survives restarts.

    ``clock`` returns aware datetimes. Thread-safe: the panel runs :meth:`check` on a
    worker thread (scrypt takes tens of milliseconds on a Raspberry Pi).
    """

    def __init__(
        self,
        stored_hash: str,
        state_file: Path,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._hash = parse_pin_hash(stored_hash)
        self.state_file = Path(state_file)
        self.clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self.locked_until: datetime | None = None
        self._load()

    @classmethod
    def from_config(
        cls, config: Config, clock: Callable[[], datetime] = _utc_now
    ) -> PinGuard | None:
        """The guard for this device, or ``None`` (logged) when no PIN is configured."""
        if config.admin_pin_hash is None:
            log.warning("no [admin] pin_hash in %s: the admin screen is disabled", config.source)
            return None
        return cls(config.admin_pin_hash, config.state_dir / PIN_STATE_FILE, clock)

    # state file ----------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            data = None
        try:
            failures = int(data["failures"])
            until = data.get("locked_until")
            locked_until = datetime.fromisoformat(until) if until else None
            if failures < 0 or (locked_until is not None and locked_until.tzinfo is None):
                raise ValueError
        except (TypeError, KeyError, ValueError, AttributeError):
            # Someone tampered with it, or the disk is failing: fail closed, but only
            # for one lockout period, so the panel heals itself.
            log.warning(
                "admin PIN state file is unreadable; admin locked for %s",
                describe_wait(LOCKOUT),
            )
            self.failures = MAX_FAILURES
            self.locked_until = self.clock() + LOCKOUT
            self._save()
            return
        self.failures = min(failures, MAX_FAILURES)
        self.locked_until = locked_until
        if self.failures >= MAX_FAILURES and locked_until is None:
            self.locked_until = self.clock() + LOCKOUT

    def _save(self) -> None:
        data = {
            "failures": self.failures,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            write_private(self.state_file, json.dumps(data).encode("utf-8"))
        except OSError as exc:
            # The lockout still holds in memory; it just would not survive a reboot.
            log.error("cannot save the admin PIN state to %s: %s", self.state_file, exc.strerror)

    # the lock ------------------------------------------------------------------------

    def _current_lock(self, now: datetime) -> datetime | None:
        """The lock's end, or ``None``; a finished lock is cleared (and saved)."""
        if self.locked_until is None:
            return None
        if now >= self.locked_until:
            self.locked_until = None
            self.failures = 0
            self._save()
            return None
        if self.locked_until - now > LOCKOUT:
            # The clock went back (a Pi without a battery-backed clock before NTP):
            # keep the lock, but never longer than one lockout from now.
            self.locked_until = now + LOCKOUT
            self._save()
        return self.locked_until

    def remaining(self) -> timedelta:
        """How long the lock still holds; zero when not locked."""
        with self._lock:
            now = self.clock()
            until = self._current_lock(now)
            return until - now if until else timedelta(0)

    @property
    def locked(self) -> bool:
        return self.remaining() > timedelta(0)

    @property
    def tries_left(self) -> int:
        """Wrong tries allowed before the lock (0 while locked)."""
        with self._lock:
            if self._current_lock(self.clock()) is not None:
                return 0
            return max(0, MAX_FAILURES - self.failures)

    def check(self, pin: str) -> bool:
        """``True`` for the right PIN. A wrong one counts towards the lockout.

        Raises :class:`PinLocked` (with the time left) while locked, without checking
        the PIN. Text that is not a 4–8 digit PIN is simply wrong.
        """
        with self._lock:
            now = self.clock()
            until = self._current_lock(now)
            if until is not None:
                log.warning("admin PIN tried while locked (%s left)", describe_wait(until - now))
                raise PinLocked(until, until - now)
            try:
                right = _verify(validate_pin(pin), self._hash)
            except PinFormatError:
                right = False
            if right:
                if self.failures:
                    self.failures = 0
                    self._save()
                log.info("admin PIN accepted")
                return True
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                self.locked_until = now + LOCKOUT
                log.warning(
                    "admin PIN wrong %d times in a row: admin locked for %s",
                    self.failures,
                    describe_wait(LOCKOUT),
                )
            else:
                log.warning(
                    "wrong admin PIN (%d of %d before a lockout)", self.failures, MAX_FAILURES
                )
            self._save()
            return False
