"""Optimistic actions: shown at once, undone when they cannot be saved or central says
no, and central's refusal put into the screen's language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.events import Code, IssueReport
from sync.queue import AsyncSealedQueue
from tapin import i18n
from tapin.demo.clock import ManualClock
from tapin.pending import ActionError, Lasts, PendingActions, rejection_words

ZONE = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 30, 8, 20, tzinfo=UTC)


@pytest.fixture
async def actions(tmp_path: Path):
    queue = AsyncSealedQueue(tmp_path / "q.db", X25519PrivateKey.generate().public_key())
    await queue.open()
    yield PendingActions(queue, clock=ManualClock(NOW), zone=lambda: ZONE)
    await queue.close()


def _conflict(event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "outcome": "rejected",
        "code": Code.CONFLICT,
        "reason": "english for the technician",
        "detail": {
            "with": "calendar",
            "start": "2026-11-30T09:30:00+00:00",
            "end": "2026-11-30T10:00:00+00:00",
        },
    }


async def test_confirmed_and_rejected_actions(actions: PendingActions) -> None:
    done: list[str] = []
    first = await actions.send(
        IssueReport("r-1", "display"), "room:aurora", confirm=lambda: done.append("confirmed")
    )
    second = await actions.send(
        IssueReport("r-2", "audio"), "room:aurora", undo=lambda: done.append("undone")
    )
    assert actions.pending_ids() == [first, second]
    actions.on_results([{"id": first, "outcome": "applied"}, _conflict(second)])
    assert done == ["confirmed", "undone"] and actions.pending_ids() == []
    assert actions.rejected is not None
    assert actions.rejected.words == "The room is booked in the calendar from 10:30 to 11:00"
    assert "english" not in actions.rejected.words  # central's words are for technicians
    actions.acknowledge()
    assert actions.rejected is None


async def test_an_action_that_cannot_be_saved_is_undone(tmp_path: Path) -> None:
    class Broken:
        async def enqueue(self, *args: object, **kwargs: object) -> Any:
            raise OSError("disk full")

    undone: list[bool] = []
    actions = PendingActions(Broken(), clock=ManualClock(NOW), zone=lambda: ZONE)  # type: ignore[arg-type]
    with pytest.raises(ActionError, match="Could not save"):
        await actions.send(IssueReport("r", "other"), "room:x", undo=lambda: undone.append(True))
    assert undone == [True] and actions.pending_ids() == []


async def test_notices_last_by_kind(actions: PendingActions) -> None:
    actions.notify("Booking confirmed")
    actions.notify("Could not check in", error=True)
    actions.notify("The room was released", lasts=Lasts.ROOM)
    assert [n.lasts for n in actions.notices] == [Lasts.VISIT, Lasts.ACKNOWLEDGED, Lasts.ROOM]
    actions.acknowledge()
    assert [n.text for n in actions.notices] == ["Booking confirmed", "The room was released"]


@pytest.mark.parametrize(
    ("code", "detail", "english", "swedish"),
    [
        (
            Code.CONFLICT,
            {
                "with": "booking",
                "start": "2026-11-30T09:30:00+00:00",
                "end": "2026-11-30T10:00:00+00:00",
            },
            "The room is already booked from 10:30 to 11:00",
            "Rummet är redan bokat 10:30–11:00",
        ),
        (
            Code.STATE,
            {"why": "released", "at": "2026-11-30T09:10:00+00:00"},
            "The meeting was released at 10:10 because nobody checked in",
            "Mötet släpptes kl. 10:10 eftersom ingen checkade in",
        ),
        (
            Code.STATE,
            {"why": "checked_in", "at": "2026-11-30T09:02:00+00:00"},
            "Someone checked in at 10:02; the meeting stays booked",
            "Någon checkade in kl. 10:02; mötet är kvar",
        ),
        (Code.CONFLICT, None, "Someone else booked it for an overlapping time", None),
        (Code.FORBIDDEN, None, "This device may not do that", None),
        ("something-new", None, "The server could not accept it; a technician can see why", None),
    ],
)
def test_rejections_in_the_screens_language(
    code: str, detail: dict[str, str] | None, english: str, swedish: str | None
) -> None:
    assert rejection_words(code, detail, "room:aurora", ZONE) == english
    i18n.use("sv_SE")
    try:
        words = rejection_words(code, detail, "room:aurora", ZONE)
    finally:
        i18n.use("en_GB")
    assert words != english
    if swedish is not None:
        assert words == swedish


def test_a_desk_conflict_names_the_desk_and_a_12_hour_clock_is_kept() -> None:
    detail = {
        "with": "booking",
        "start": "2026-11-30T13:00:00+00:00",
        "end": "2026-11-30T14:00:00+00:00",
    }
    words = rejection_words(Code.CONFLICT, detail, "desk:d-301", ZONE, h24=False)
    assert words == "The desk is already booked from 2:00 PM to 3:00 PM"


def test_garbage_detail_falls_back_to_plain_words() -> None:
    detail = {"with": "calendar", "start": "not a time", "end": "2026-11-30T10:00:00+00:00"}
    assert rejection_words(Code.CONFLICT, detail, "room:a", ZONE) == (
        "Someone else booked it for an overlapping time"
    )
