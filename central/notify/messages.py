"""The words of every notification, in the site's language (English or Swedish).

A :class:`Message` is channel-neutral: a subject, a greeting, paragraphs and facts. Email
renders it as plain text and HTML (:func:`email_bodies`); the chat webhooks as cards
(``central.notify.webhooks``). Messages carry what the recipient needs and nothing more:
the visitor's name and company, the lobby, the time (and, for reception, the host).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime

__all__ = [
    "Message",
    "Visit",
    "email_bodies",
    "host_message",
    "invite_message",
    "reception_message",
]


@dataclass(frozen=True, slots=True)
class Visit:
    """One sign-in, as a notification describes it."""

    visitor: str
    company: str
    lobby: str
    site: str
    at: datetime
    """The sign-in time in the site's timezone."""
    language: str
    host: str | None = None
    """The host's name (``None``: no host, or not known any more)."""


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    greeting: str
    paragraphs: tuple[str, ...]
    facts: tuple[tuple[str, str], ...] = ()
    signature: str = ""


_WORDS = {
    "en": {
        "hello": "Hello {name},",
        "hello_all": "Hello,",
        "visitor": "Visitor",
        "company": "Company",
        "host": "Host",
        "lobby": "Lobby",
        "time": "Signed in",
        "day": "Day",
        "site": "Where",
        "by": "Tapin at {site}",
        "host_subject": "Your visitor has arrived: {visitor}",
        "host_text": "{visitor} has signed in at {lobby} at {time} and is waiting for you.",
        "no_host_subject": "A visitor without a host: {visitor}",
        "no_host_text": "{visitor} signed in at {lobby} at {time} and did not find their host "
        "in the list. Please meet them.",
        "failed_subject": "A visitor's host could not be told: {visitor}",
        "failed_text": "{visitor} signed in at {lobby} at {time} to see {host}, but {host} "
        "could not be told. Please let {host} know, or meet the visitor.",
        "invite_subject": "Your visit to {site} on {day}",
        "invite_text": "{host} has invited you to {site} on {day}.",
        "invite_howto": "When you arrive, show the attached QR code to the camera of the "
        "kiosk in the lobby: you will go straight to the visitor terms. The code works only "
        "on that day; please do not share it.",
        "someone": "Your host",
    },
    "sv": {
        "hello": "Hej {name}!",
        "hello_all": "Hej!",
        "visitor": "Besökare",
        "company": "Företag",
        "host": "Värd",
        "lobby": "Entré",
        "time": "Incheckad",
        "day": "Dag",
        "site": "Var",
        "by": "Tapin på {site}",
        "host_subject": "Ditt besök har kommit: {visitor}",
        "host_text": "{visitor} checkade in i {lobby} kl. {time} och väntar på dig.",
        "no_host_subject": "En besökare utan värd: {visitor}",
        "no_host_text": "{visitor} checkade in i {lobby} kl. {time} och hittade inte sin "
        "värd i listan. Ta gärna emot besökaren.",
        "failed_subject": "En besökares värd kunde inte nås: {visitor}",
        "failed_text": "{visitor} checkade in i {lobby} kl. {time} för att träffa {host}, "
        "men {host} kunde inte meddelas. Säg till {host} eller ta emot besökaren.",
        "invite_subject": "Ditt besök på {site} {day}",
        "invite_text": "{host} har bjudit in dig till {site} {day}.",
        "invite_howto": "När du kommer, visa den bifogade QR-koden för kameran på kiosken i "
        "entrén: då kommer du direkt till besöksvillkoren. Koden gäller bara den dagen; "
        "dela den inte.",
        "someone": "Din värd",
    },
}


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])


def _who(visit: Visit) -> str:
    return f"{visit.visitor} ({visit.company})" if visit.company else visit.visitor


def _facts(visit: Visit, w: dict[str, str], *, host: bool) -> tuple[tuple[str, str], ...]:
    facts = [(w["visitor"], visit.visitor)]
    if visit.company:
        facts.append((w["company"], visit.company))
    if host and visit.host:
        facts.append((w["host"], visit.host))
    facts += [(w["lobby"], visit.lobby), (w["time"], f"{visit.at:%H:%M}")]
    return tuple(facts)


def host_message(visit: Visit) -> Message:
    """To the host: their visitor is waiting."""
    w = _words(visit.language)
    return Message(
        subject=w["host_subject"].format(visitor=visit.visitor),
        greeting=w["hello"].format(name=visit.host) if visit.host else w["hello_all"],
        paragraphs=(
            w["host_text"].format(visitor=_who(visit), lobby=visit.lobby, time=f"{visit.at:%H:%M}"),
        ),
        facts=_facts(visit, w, host=False),
        signature=w["by"].format(site=visit.site),
    )


def reception_message(visit: Visit, reason: str) -> Message:
    """To reception: ``reason`` ``no_host`` (nobody named) or ``host_failed``."""
    w = _words(visit.language)
    failed = reason == "host_failed" and visit.host
    key = "failed" if failed else "no_host"
    text = w[f"{key}_text"].format(
        visitor=_who(visit), lobby=visit.lobby, time=f"{visit.at:%H:%M}", host=visit.host
    )
    return Message(
        subject=w[f"{key}_subject"].format(visitor=visit.visitor),
        greeting=w["hello_all"],
        paragraphs=(text,),
        facts=_facts(visit, w, host=bool(failed)),
        signature=w["by"].format(site=visit.site),
    )


def invite_message(
    *, visitor: str, host: str | None, site: str, day: date, language: str
) -> Message:
    """To the visitor: the invite (the QR code travels as an attachment)."""
    w = _words(language)
    when = day.isoformat()
    return Message(
        subject=w["invite_subject"].format(site=site, day=when),
        greeting=w["hello"].format(name=visitor),
        paragraphs=(
            w["invite_text"].format(host=host or w["someone"], site=site, day=when),
            w["invite_howto"],
        ),
        facts=((w["site"], site), (w["day"], when)) + (((w["host"], host),) if host else ()),
        signature=w["by"].format(site=site),
    )


def email_bodies(message: Message) -> tuple[str, str]:
    """``(plain text, HTML)`` of a message; the HTML escapes every value."""
    facts_text = "\n".join(f"{label}: {value}" for label, value in message.facts)
    text = "\n\n".join(
        part
        for part in (
            message.greeting,
            *message.paragraphs,
            facts_text,
            f"-- \n{message.signature}" if message.signature else "",
        )
        if part
    )
    e = html.escape
    rows = "".join(
        f'<tr><th align="left" style="padding-right:12px">{e(label)}</th><td>{e(value)}</td></tr>'
        for label, value in message.facts
    )
    paragraphs = "".join(f"<p>{e(p)}</p>" for p in message.paragraphs)
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{e(message.subject)}</title></head>"
        '<body style="font-family:sans-serif;font-size:15px">'
        f"<p>{e(message.greeting)}</p>{paragraphs}"
        + (f"<table>{rows}</table>" if rows else "")
        + (f'<p style="color:#666">{e(message.signature)}</p>' if message.signature else "")
        + "</body></html>"
    )
    return text + "\n", page
