"""The demo lobby: the ``kiosk`` and ``visitors`` snapshots central would send a kiosk,
and the demo central's side of visitor sign-ins.

:func:`kiosk_snapshot` is the lobby's settings (four visitor types, a terms text in
English and Swedish); :func:`visitors_snapshot` today's invites and a few visitors
who signed in earlier, in the contract's shapes (``/work/helpers/kiosk-contract.md``,
parsed by :mod:`tapin.device.snapshots`). :class:`DemoLobby` answers the kiosk's
``visitor.signin`` / ``visitor.signout`` events for :class:`tapin.demo.central.DemoCentral`
and, a moment after a sign-in, says the host was told (``notified``: ``delivered``, or
``reception`` when no host was given), as central's outbox would.

All of it is made-up demo data, in memory only; the invite secrets are fixed so that
the tour and the tests can show an invite's QR code (:func:`invite_qr`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import assets
from sync.events import BADGE_QR_PREFIX, INVITE_QR_PREFIX, EventType

if TYPE_CHECKING:
    from tapin.device.runtime import Runtime

__all__ = [
    "DEMO_INVITES",
    "NOTIFY_AFTER",
    "DemoLobby",
    "badge_qr",
    "invite_qr",
    "kiosk_snapshot",
    "visitors_snapshot",
]

log = logging.getLogger(__name__)

NOTIFY_AFTER = timedelta(seconds=3)
"""How long the demo's "outbox" takes to tell a host."""

_LOBBY: dict[str, Any] = json.loads(assets.path("demo", "lobby.json").read_text("utf-8"))
"""The demo lobby as data (``assets/demo/lobby.json``, central's demo seed reads it too)."""

TERMS_VERSION: str = _LOBBY["terms"]["version"]
VISITOR_TYPES: list[dict[str, Any]] = _LOBBY["visitor_types"]
DEMO_INVITES: list[dict[str, Any]] = [
    # the secret is what the invite email's QR code carries; the snapshot only its hash;
    # the full address is central's alone
    {k: val for k, val in e.items() if k != "email"}
    for e in _LOBBY["invites"]
]
_EARLIER: list[dict[str, Any]] = _LOBBY["earlier"]
"""Visitors who signed in before the demo started (minutes before now)."""


def kiosk_snapshot() -> dict[str, Any]:
    """The demo lobby's ``kiosk`` snapshot."""
    return {
        "site": {
            "id": "nordlys-sthlm",
            "name": "Nordlys Stockholm",
            "timezone": "Europe/Stockholm",
        },
        "lobby": dict(_LOBBY["lobby"]),
        "end_of_day": _LOBBY["end_of_day"],
        "idle_seconds": _LOBBY["idle_seconds"],
        "visitor_types": [dict(t, steps=list(t["steps"])) for t in VISITOR_TYPES],
        "terms": {
            "version": TERMS_VERSION,
            "title": dict(_LOBBY["terms"]["title"]),
            "text": dict(_LOBBY["terms"]["text"]),
        },
    }


def _invite(entry: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in entry.items() if k != "secret"}
    shown["qr_sha256"] = hashlib.sha256(str(entry["secret"]).encode("ascii")).hexdigest()
    return shown


def visitors_snapshot(now: datetime, zone: Any) -> dict[str, Any]:
    """Today's ``visitors`` snapshot at the demo's start: the invites, and three
    visitors who signed in earlier (one a delivery without a host)."""
    local = now.astimezone(zone)
    return {
        "day": local.date().isoformat(),
        "invites": [_invite(e) for e in DEMO_INVITES],
        "signed_in": [
            {
                **{k: v for k, v in e.items() if k != "minutes"},
                "signed_in_at": (local - timedelta(minutes=e["minutes"])).isoformat(),
            }
            for e in _EARLIER
        ],
    }


def invite_qr(invite_id: str) -> str:
    """The text of a demo invite's QR code (``TAPIN-INVITE:<id>:<secret>``)."""
    entry = next(e for e in DEMO_INVITES if e["id"] == invite_id)
    return f"{INVITE_QR_PREFIX}{invite_id}:{entry['secret']}"


def badge_qr(visitor_id: str, badge_token: str) -> str:
    """The text of a badge's sign-out QR code (``TAPIN-OUT:<id>:<token>``)."""
    return f"{BADGE_QR_PREFIX}{visitor_id}:{badge_token}"


class DemoLobby:
    """The demo central's visitors: answers sign-ins and sign-outs, tells hosts after
    :data:`NOTIFY_AFTER`, and hands the kiosk its ``visitors`` snapshot (straight into
    the runtime's memory: the demo has no network)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._day = ""
        self._snapshot: dict[str, Any] = {}
        self._told_at: dict[str, datetime] = {}
        self._tokens: dict[str, str] = {}

    def _today(self) -> dict[str, Any]:
        now = self.runtime.clock()
        day = now.astimezone(self.runtime.site.timezone).date().isoformat()
        if day != self._day:  # a new day: the demo's invites and earlier visitors again
            self._day = day
            self._snapshot = visitors_snapshot(now, self.runtime.site.timezone)
            self._told_at.clear()
            self._tokens.clear()
        return self._snapshot

    def snapshot(self) -> dict[str, Any]:
        """The ``visitors`` snapshot as central would send it now."""
        today = self._today()
        return {
            "day": today["day"],
            "invites": [dict(i) for i in today["invites"]],
            "signed_in": [dict(v) for v in today["signed_in"]],
        }

    def take(self, kind: str, payload: Mapping[str, Any], created_at: str) -> str | None:
        """Apply a visitor event; returns a rejection code (``not_found``) or ``None``."""
        today = self._today()
        if kind == EventType.VISITOR_SIGNIN:
            visitor_id = str(payload.get("visitor_id"))
            if any(v["visitor_id"] == visitor_id for v in today["signed_in"]):
                return None  # a repeat: applied once
            invite_id = payload.get("invite_id")
            today["invites"] = [i for i in today["invites"] if i["id"] != invite_id]
            today["signed_in"].append(
                {
                    "visitor_id": visitor_id,
                    "name": payload.get("name", ""),
                    "company": payload.get("company", ""),
                    "host_id": payload.get("host_id"),
                    "visitor_type": payload.get("visitor_type", "guest"),
                    "signed_in_at": created_at,
                    "notified": "pending",
                }
            )
            self._told_at[visitor_id] = self.runtime.clock() + NOTIFY_AFTER
            if payload.get("badge_token"):
                self._tokens[visitor_id] = str(payload["badge_token"])
            return None
        if kind == EventType.VISITOR_SIGNOUT:
            visitor_id = str(payload.get("visitor_id"))
            token = payload.get("badge_token")
            if token is not None and self._tokens.get(visitor_id, token) != token:
                return "not_found"  # a badge that is not this visitor's
            before = len(today["signed_in"])
            today["signed_in"] = [v for v in today["signed_in"] if v["visitor_id"] != visitor_id]
            return None if len(today["signed_in"]) < before else "not_found"
        return None

    def tick(self) -> bool:
        """Tell the hosts whose moment has come; ``True`` when something changed."""
        today = self._today()
        now = self.runtime.clock()
        changed = False
        for visitor in today["signed_in"]:
            due = self._told_at.get(visitor["visitor_id"])
            if visitor["notified"] == "pending" and due is not None and now >= due:
                visitor["notified"] = "delivered" if visitor["host_id"] else "reception"
                changed = True
        return changed

    def publish(self) -> None:
        """The kiosk's ``visitors`` snapshot refreshed, as its 10-second job would."""
        self.runtime.apply_snapshot("visitors", self.snapshot())
