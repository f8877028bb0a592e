"""Email over SMTP with aiosmtplib: STARTTLS or implicit TLS, certificates verified.

:func:`build_email` makes a ``multipart/alternative`` message (plain text + HTML, optional
attachments) with a caller-chosen ``Message-ID``: the outbox gives every sign-in's
notification a fixed one, so a resend after a crash is the same message to the
recipient's mail system (which drops the duplicate) rather than a second email.
:func:`send_email` raises :class:`TemporaryFailure` (try again later: a connection
refused, a 4xx answer, a timeout) or :class:`PermanentFailure` (a 5xx answer: retrying
cannot help). Their messages name SMTP codes and exception types only, never an address.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import NamedTuple

import aiosmtplib

from central.notify.errors import PermanentFailure, TemporaryFailure
from central.notify.settings import SmtpSettings

__all__ = ["Attachment", "build_email", "send_email"]


class Attachment(NamedTuple):
    filename: str
    mime: str
    """``maintype/subtype``, e.g. ``image/png``."""
    data: bytes


def build_email(
    smtp: SmtpSettings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    attachments: tuple[Attachment, ...] = (),
) -> EmailMessage:
    """A message from ``smtp.sender`` to ``to`` (``message_id`` with its angle brackets)."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


def _tls_context(smtp: SmtpSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=smtp.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TemporaryFailure(f"the SMTP CA file cannot be read ({type(exc).__name__})") from None


def _classify(exc: Exception) -> TemporaryFailure | PermanentFailure:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({r.code for r in exc.recipients})
        text = f"SMTP recipient refused ({', '.join(map(str, codes))})"
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return PermanentFailure(text) if permanent else TemporaryFailure(text)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code} ({type(exc).__name__})"
        return PermanentFailure(text) if exc.code >= 500 else TemporaryFailure(text)
    return TemporaryFailure(f"SMTP unavailable ({type(exc).__name__})")


async def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server. Raises :class:`TemporaryFailure` or
    :class:`PermanentFailure`."""
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.user,
            password=smtp.password,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            tls_context=_tls_context(smtp) if smtp.security != "none" else None,
            timeout=smtp.timeout,
        )
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise _classify(exc) from None
