"""Microsoft Teams and Slack incoming webhooks: the documented bodies, and posting them.

Teams (a Workflows "post to a channel when a webhook request is received" webhook, or a
classic incoming webhook) takes a message with one Adaptive Card attachment::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.4",
                                  "body": [TextBlock title, TextBlock text, FactSet]}}]}

Slack takes ``{"text": <fallback>, "blocks": [header, section (mrkdwn), section fields]}``
with ``&``, ``<`` and ``>`` escaped as Slack's formatting requires.

A webhook URL is a secret: it is never logged or stored with a failure. A 2xx answer is
delivered; 408, 429 and 5xx (and no answer) are :class:`TemporaryFailure`; any other 4xx
is :class:`PermanentFailure` (a deleted or disabled webhook does not come back).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from central.notify.errors import PermanentFailure, TemporaryFailure
from central.notify.messages import Message

__all__ = ["CHANNELS", "post_webhook", "slack_body", "teams_body"]

CHANNELS = ("teams", "slack")
_TIMEOUT = httpx.Timeout(10.0)

# httpx logs every request's URL at INFO: a webhook URL is a secret, so central keeps
# httpx's and httpcore's loggers at WARNING (their warnings carry no URL).
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level < logging.WARNING:
        logging.getLogger(_name).setLevel(logging.WARNING)


def teams_body(message: Message) -> dict[str, Any]:
    text = "\n\n".join(message.paragraphs)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": message.subject,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": text, "wrap": True},
        ],
    }
    if message.facts:
        card["body"].append(
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in message.facts],
            }
        )
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> dict[str, Any]:
    text = "\n\n".join(_slack_escape(p) for p in message.paragraphs)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
    ]
    if message.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_slack_escape(label)}*\n{_slack_escape(value)}"}
                    for label, value in message.facts[:10]
                ],
            }
        )
    return {"text": f"{_slack_escape(message.subject)}\n{text}", "blocks": blocks}


async def post_webhook(channel: str, url: str, message: Message) -> None:
    """Post ``message`` to a Teams or Slack webhook. Raises :class:`TemporaryFailure` or
    :class:`PermanentFailure` (messages without the URL)."""
    body = teams_body(message) if channel == "teams" else slack_body(message)
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as client:
            response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise TemporaryFailure(f"{channel} webhook unreachable ({type(exc).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        # a classic Teams connector answers 200 with a text when Teams itself refused it
        if channel == "teams" and "failed" in response.text[:200].lower():
            raise TemporaryFailure("teams webhook accepted but Teams did not deliver")
        return
    text = f"{channel} webhook answered {status}"
    if status in (408, 429) or status >= 500:
        raise TemporaryFailure(text)
    raise PermanentFailure(text)
