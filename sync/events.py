"""The event contract between devices and central: every event type, its payload's
fields and limits, and the codes of central's rejections.

Defined once, here. Devices build payloads with the classes below (``payload()``
gives the JSON object that is sealed); central's appliers check incoming payloads
against the same names, choices and limits, and answer a refused event with a
:class:`Code` and, where it helps a person, a ``detail`` object (times as ISO 8601
with offset) that the device turns into words in its own language.

=====================  =========================================  =====================
type                   payload                                    clear fields
=====================  =========================================  =====================
``booking.create``     :class:`BookingCreate`                     resource, starts/ends
``booking.extend``     :class:`BookingExtend`                     resource, new ends_at
``booking.end``        :class:`BookingEnd`                        resource, ends_at?
``meeting.checkin``    :class:`MeetingCheckin`                    resource (a room)
``meeting.release``    :class:`MeetingRelease`                    resource (a room)
``issue.report``       :class:`IssueReport`                       resource
``visitor.signin``     :class:`VisitorSignin`                     resource (a lobby)
``visitor.signout``    :class:`VisitorSignout`                    resource (a lobby)
``presence.sample``    :class:`PresenceSample`                    resource, the interval
``desk.checkin``       :class:`DeskCheckin`                       resource (a desk)
=====================  =========================================  =====================
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = [
    "BADGE_QR_PREFIX",
    "COUNT_BAND",
    "DESK_PARTS",
    "HEARTBEAT_ERROR_CODES",
    "INVITE_QR_PREFIX",
    "ISSUE_CATEGORIES",
    "MAX_COMPANY",
    "MAX_EMAIL",
    "MAX_ID",
    "MAX_ISSUE_TEXT",
    "MAX_NAME",
    "MAX_PHOTO_BYTES",
    "MAX_SIGNATURE_BYTES",
    "MAX_SUBJECT",
    "MAX_TYPE_ID",
    "RELEASE_REASONS",
    "SIGNOUT_VIA",
    "STAFF_QR_PREFIX",
    "BookingCreate",
    "BookingEnd",
    "BookingExtend",
    "Code",
    "ConflictWith",
    "DeskCheckin",
    "EventType",
    "IssueCategory",
    "IssueReport",
    "MeetingCheckin",
    "MeetingRelease",
    "Payload",
    "PresenceSample",
    "StateReason",
    "VisitorSignin",
    "VisitorSignout",
]


class EventType(enum.StrEnum):
    BOOKING_CREATE = "booking.create"
    BOOKING_EXTEND = "booking.extend"
    BOOKING_END = "booking.end"
    MEETING_CHECKIN = "meeting.checkin"
    MEETING_RELEASE = "meeting.release"
    ISSUE_REPORT = "issue.report"
    VISITOR_SIGNIN = "visitor.signin"
    VISITOR_SIGNOUT = "visitor.signout"
    PRESENCE_SAMPLE = "presence.sample"
    DESK_CHECKIN = "desk.checkin"


class Code(enum.StrEnum):
    """Why central refused an event (``"code"`` in its answer)."""

    MALFORMED = "malformed"
    """The event's clear fields are not in the wire format."""
    INVALID = "invalid"
    """The payload breaks the contract: a device bug, not something a person can fix."""
    FORBIDDEN = "forbidden"
    """This device may not act on that resource."""
    CONFLICT = "conflict"
    """The resource is taken; ``detail``: ``{"with": ConflictWith, "start", "end"}``."""
    STATE = "state"
    """The meeting moved on meanwhile; ``detail``: ``{"why": StateReason, "at"?}``."""
    NOT_FOUND = "not_found"
    """Central does not know the meeting, booking or visitor."""
    EXPIRED = "expired"
    """The event is older than central keeps its dedup records."""
    UNKNOWN_TYPE = "unknown_type"
    UNSEALABLE = "unsealable"
    """The payload's seal does not open (wrong key, or fields altered on disk)."""
    STORAGE = "storage"
    """Central could not store the event (a database refusal)."""


class ConflictWith(enum.StrEnum):
    CALENDAR = "calendar"
    """A meeting in the room's calendar."""
    BOOKING = "booking"
    """Another device's booking."""


class StateReason(enum.StrEnum):
    RELEASED = "released"
    """The meeting was released (nobody checked in) at ``at``."""
    CHECKED_IN = "checked_in"
    """Someone checked in at ``at``: the meeting stays booked."""
    NO_AUTO_RELEASE = "no_auto_release"
    """The room does not release meetings by itself."""
    OUT_OF_USE = "out_of_use"
    """The desk is out of use; ``reason`` is the admin's words (may be ``""``)."""


class IssueCategory(enum.StrEnum):
    DISPLAY = "display"
    VIDEO = "video"
    AUDIO = "audio"
    CLIMATE = "climate"
    FURNITURE = "furniture"
    CLEANING = "cleaning"
    OTHER = "other"


ISSUE_CATEGORIES = tuple(c.value for c in IssueCategory)
RELEASE_REASONS = ("no_show", "ended_early", "empty")
"""``no_show``: nobody checked in; ``ended_early``; ``empty``: presence saw the room
empty for the room's ``empty_release`` time and nobody kept it."""
COUNT_BAND = re.compile(r"^(0|[1-9][0-9]{0,3}(-[1-9][0-9]{0,3}|\+)?)$")
"""A presence count band: ``0``, ``3``, ``1-2`` or ``10+``; never identities."""

MAX_ID = 100
MAX_SUBJECT = 200
MAX_ISSUE_TEXT = 2000
MAX_NAME = 200
MAX_COMPANY = 200
MAX_EMAIL = 254
MAX_PHOTO_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 256 * 1024
MAX_TYPE_ID = 32
SIGNOUT_VIA = ("list", "badge", "reception", "auto")
HEARTBEAT_ERROR_CODES = (
    "unreachable",
    "certificate",
    "revoked",
    "not_authorised",
    "refused",
    "server_trouble",
    "snapshot_not_applied",
    "other",
)
"""A heartbeat's ``last_error``: a code only, never a message (central refuses others)."""
"""How a visitor signed out: picked themselves from the list, scanned their badge, was
signed out by reception (the evacuation list), or automatically at the day's end."""
DESK_PARTS = {
    "morning": ("07:00", "12:30"),
    "afternoon": ("12:30", "19:00"),
    "day": ("07:00", "19:00"),
}
"""A desk booking for today: site-local start and end of each part (a part already
begun starts now, rounded down to the minute)."""
STAFF_QR_PREFIX = "TAPIN-STAFF:"
"""A staff member's QR code on their phone (the kiosk identifies them):
``TAPIN-STAFF:<badge_id>`` — the same badge id a USB badge reader types."""
BADGE_QR_PREFIX = "TAPIN-OUT:"
"""A badge's sign-out QR code: ``TAPIN-OUT:<visitor_id>:<badge_token>``."""
INVITE_QR_PREFIX = "TAPIN-INVITE:"
"""An invite's QR code (in the invite email): ``TAPIN-INVITE:<invite_id>:<secret>``; the
kiosk's ``visitors`` snapshot carries only the secret's SHA-256."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A payload: ``TYPE`` is its event type, :meth:`payload` the JSON object sealed."""

    TYPE: ClassVar[EventType]

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class BookingCreate(Payload):
    """Book a room or a desk: clear ``resource``, ``starts_at``, ``ends_at``. Panels book
    their own room; kiosks any room or desk of their site."""

    TYPE: ClassVar[EventType] = EventType.BOOKING_CREATE
    booking_id: str
    booked_by: str | None = None
    subject: str = ""
    private: bool | None = None
    """A desk booked privately: central never shows who sits there (the people finder
    shows no desk for them). Absent: not private."""


@dataclass(frozen=True, slots=True)
class BookingExtend(Payload):
    """A longer booking or meeting: clear ``ends_at`` is the new end."""

    TYPE: ClassVar[EventType] = EventType.BOOKING_EXTEND
    booking_id: str


@dataclass(frozen=True, slots=True)
class BookingEnd(Payload):
    """End now: clear ``ends_at`` is the new end (none: it never started)."""

    TYPE: ClassVar[EventType] = EventType.BOOKING_END
    booking_id: str


@dataclass(frozen=True, slots=True)
class MeetingCheckin(Payload):
    """Check in to a calendar meeting or a device booking of the panel's room;
    ``created_at`` is the check-in time."""

    TYPE: ClassVar[EventType] = EventType.MEETING_CHECKIN
    meeting_id: str
    person_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeskCheckin(Payload):
    """Check in to a desk booking at the kiosk (the person is at the office);
    ``created_at`` is the check-in time. Release is ``booking.end``."""

    TYPE: ClassVar[EventType] = EventType.DESK_CHECKIN
    booking_id: str
    person_id: str | None = None


@dataclass(frozen=True, slots=True)
class MeetingRelease(Payload):
    """Give the room back: one of :data:`RELEASE_REASONS`; ``created_at`` is the time."""

    TYPE: ClassVar[EventType] = EventType.MEETING_RELEASE
    meeting_id: str
    reason: str = "no_show"


@dataclass(frozen=True, slots=True)
class IssueReport(Payload):
    """Something is broken: one of :data:`ISSUE_CATEGORIES`, words, a photo (base64
    JPEG or PNG, at most :data:`MAX_PHOTO_BYTES`)."""

    TYPE: ClassVar[EventType] = EventType.ISSUE_REPORT
    report_id: str
    category: str
    text: str = ""
    photo: str | None = None
    reporter_id: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorSignin(Payload):
    """A visitor signed in at a lobby kiosk, terms accepted; ``created_at`` the time.

    ``host_id`` ``None``: the visitor did not find their host ("I don't know / not
    listed"): reception is told instead. ``invite_id``: an invite recognised at the kiosk
    (central fills what the kiosk never saw, such as the full email). ``terms_version``:
    the site's document the visitor accepted. ``photo`` and ``signature`` are base64
    (JPEG/PNG, at most :data:`MAX_PHOTO_BYTES` and :data:`MAX_SIGNATURE_BYTES`).
    ``badge_token``: the random secret printed in the badge's sign-out QR code (central
    keeps only its hash)."""

    TYPE: ClassVar[EventType] = EventType.VISITOR_SIGNIN
    visitor_id: str
    name: str
    host_id: str | None
    accepted_terms: bool
    company: str = ""
    email: str = ""
    visitor_type: str = "guest"
    terms_version: str | None = None
    invite_id: str | None = None
    photo: str | None = None
    signature: str | None = None
    badge_token: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorSignout(Payload):
    """A visitor left: ``via`` one of :data:`SIGNOUT_VIA`; ``badge_token`` when the badge
    was scanned (central checks it against the sign-in's)."""

    TYPE: ClassVar[EventType] = EventType.VISITOR_SIGNOUT
    visitor_id: str
    via: str = "list"
    badge_token: str | None = None


@dataclass(frozen=True, slots=True)
class PresenceSample(Payload):
    """How occupied the device's room or lobby was over the clear interval."""

    TYPE: ClassVar[EventType] = EventType.PRESENCE_SAMPLE
    occupied_minutes: int
    count_band: str
    tags: list[str] | None = None
    """Keys of registered tags present, only with ``[presence] positioning = true``."""
