"""How a delivery attempt failed. Messages never carry personal data or secrets (no
addresses, no webhook URLs, no server text that could quote them): they are stored in
``host_notifications.last_error`` and logged."""

from __future__ import annotations

from central.errors import ServerError

__all__ = ["DeliveryFailed", "PermanentFailure", "TemporaryFailure"]


class TemporaryFailure(Exception):
    """Try again later (the server is down, busy, or answered 4xx)."""


class PermanentFailure(Exception):
    """Retrying cannot help (refused with 5xx, not configured, no address)."""


class DeliveryFailed(ServerError):
    """An email that had to go out now (an invite) could not be sent; nothing was made."""

    status = 502
    error = "delivery_failed"
