"""One applier per event type; :data:`APPLIERS` maps the wire ``type`` to it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from central.appliers.base import Applier, Context, Item, Rejection
from central.appliers.bookings import BookingCreate, BookingEnd, BookingExtend
from central.appliers.desks import DeskCheckin
from central.appliers.issues import IssueReport
from central.appliers.meetings import MeetingCheckin, MeetingRelease
from central.appliers.presence import PresenceSample
from central.appliers.visitors import VisitorSignin, VisitorSignout

__all__ = ["APPLIERS", "Applier", "Context", "Item", "Rejection"]

APPLIERS: Mapping[str, Applier] = MappingProxyType(
    {
        applier.type: applier
        for applier in (
            BookingCreate(),
            BookingExtend(),
            BookingEnd(),
            MeetingCheckin(),
            MeetingRelease(),
            VisitorSignin(),
            VisitorSignout(),
            IssueReport(),
            PresenceSample(),
            DeskCheckin(),
        )
    }
)
