"""Email addresses at central: checked with ``email-validator`` (syntax only, no DNS),
masked for kiosks.

Used by the ``visitor.signin`` applier, invites and the site settings alike, so one
address is either good everywhere or refused everywhere.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from sync.events import MAX_EMAIL

__all__ = ["check_email", "mask_email", "valid_email"]


def check_email(value: str) -> str:
    """The normalised form of ``value`` (domain lower-cased, IDNA as Unicode).

    Raises :class:`ValueError` with a message that never quotes the address.
    """
    text = value.strip()
    if not text or len(text) > MAX_EMAIL:
        raise ValueError(f"an email address is 1 to {MAX_EMAIL} characters")
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("not an email address") from None
    return str(checked.normalized)


def valid_email(value: str) -> bool:
    """Is ``value`` an email address :func:`check_email` accepts?"""
    try:
        check_email(value)
    except ValueError:
        return False
    return True


def mask_email(email: str) -> str:
    """``ada@example.org`` -> ``a•••@example.org`` (what a kiosk may show)."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}•••@{domain}" if local and domain else ""
