"""Invite emails: the QR code's secret, derived from central's key, and the email itself.

An invite's QR code reads ``TAPIN-INVITE:<invite id>:<secret>``. Central stores only
``sha256(secret)`` (``visitor_invites.secret_hash``, which kiosks receive in the
``visitors`` snapshot). The secret itself is never stored anywhere: it is
``HMAC-SHA256(k, invite id)`` with ``k`` derived (HKDF) from central's private key, so the
outbox worker can make it again when it sends the email, and nobody without central's key
can make a valid code from an invite id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from datetime import date
from email.message import EmailMessage

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from central.notify.messages import email_bodies, invite_message
from central.notify.settings import SmtpSettings
from central.notify.smtp import Attachment, build_email
from sync.events import INVITE_QR_PREFIX

__all__ = ["invite_email", "invite_key", "invite_qr", "invite_secret", "qr_png", "secret_hash"]


def invite_key(private_key: X25519PrivateKey) -> bytes:
    """The invite-code key of central (32 bytes), derived from its X25519 key."""
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"tapin invite qr v1").derive(raw)


def invite_secret(key: bytes, invite_id: str) -> str:
    """The secret of ``invite_id``'s QR code (43 urlsafe characters)."""
    mac = hmac.new(key, invite_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def invite_qr(key: bytes, invite_id: str) -> str:
    """The QR code's text, ``TAPIN-INVITE:<id>:<secret>``."""
    return f"{INVITE_QR_PREFIX}{invite_id}:{invite_secret(key, invite_id)}"


def qr_png(text: str, scale: int = 8) -> bytes:
    """``text`` as a QR code PNG (segno, error correction M, quiet zone 4)."""
    import segno

    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def invite_email(
    smtp: SmtpSettings,
    key: bytes,
    *,
    invite_id: str,
    to: str,
    visitor: str,
    host: str | None,
    site: str,
    day: date,
    language: str,
) -> EmailMessage:
    """The invite email in the site's language, the QR code attached as a PNG, with a
    fixed ``Message-ID`` per invite (a resend after a crash is the same message)."""
    message = invite_message(visitor=visitor, host=host, site=site, day=day, language=language)
    text, html = email_bodies(message)
    digest = hashlib.sha256(invite_id.encode("utf-8")).hexdigest()[:32]
    png = qr_png(invite_qr(key, invite_id))
    return build_email(
        smtp,
        to=to,
        subject=message.subject,
        text=text,
        html=html,
        message_id=f"<invite-{digest}@{smtp.domain}>",
        attachments=(Attachment("tapin-invite.png", "image/png", png),),
    )
