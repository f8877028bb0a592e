"""Passwords (argon2id, the policy) and two-factor codes (TOTP, RFC 6238) for admins.

Nothing here touches the database or logs anything: the callers decide what is stored.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import datetime
from functools import lru_cache
from importlib import resources

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "PolicyError",
    "check_password_policy",
    "hash_password",
    "new_token",
    "new_totp_secret",
    "password_needs_rehash",
    "sha256",
    "totp_qr_svg",
    "totp_uri",
    "verify_password",
    "verify_totp",
]

MIN_PASSWORD = 12
MAX_PASSWORD = 256
"""Longer is refused: hashing an unbounded input is a denial-of-service lever."""
ISSUER = "Tapin"

_HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) parameters
_DUMMY_HASH = _HASHER.hash("tapin-portal-dummy-password")


class PolicyError(ValueError):
    """A password the policy refuses; ``code`` names the rule (``too_short``,
    ``too_long``, ``common``, ``contains_email``), ``str()`` says it in English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    text = resources.files("central.portal").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password_policy(password: str, email: str) -> None:
    """Raise :class:`PolicyError` unless ``password`` is 12 to 256 characters, is not
    (once trailing digits and symbols are stripped) in the shipped list of common
    passwords, and does not contain the local part of ``email``."""
    if len(password) < MIN_PASSWORD:
        raise PolicyError("too_short", f"the password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PolicyError("too_long", f"the password must be at most {MAX_PASSWORD} characters")
    lowered = password.lower()
    base = lowered.rstrip("0123456789!@#$%^&*()-_=+.,;:?~ ")
    common = _common()
    if lowered in common or (len(base) >= 6 and base in common) or len(set(lowered)) < 4:
        raise PolicyError("common", "that password is too common: choose another")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 3 and local in lowered:
        raise PolicyError("contains_email", "the password must not contain your email name")


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string, with its salt and parameters)."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Does ``password`` match ``stored``? With ``stored`` ``None`` (no such admin) a
    dummy hash is checked, so that an unknown email takes as long as a known one."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def new_token() -> str:
    """A random URL-safe token of 256 bits (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def totp_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI authenticator apps read from the enrolment QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def totp_qr_svg(uri: str) -> bytes:
    """The enrolment QR code as SVG (segno, as the invite emails use)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=6, dark="#000", light="#fff", border=2, xmldecl=False
    )
    return out.getvalue()


def verify_totp(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step of ``code`` if it is valid at ``now`` (one step of clock drift
    either way) and newer than ``last_step`` (a code is accepted once), else ``None``."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    step_now = totp.timecode(now)
    for step in (step_now - 1, step_now, step_now + 1):
        expected = totp.generate_otp(step)
        if secrets.compare_digest(expected, code) and (last_step is None or step > last_step):
            return step
    return None


def group_secret(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
