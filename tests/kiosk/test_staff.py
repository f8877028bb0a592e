"""The kiosk's staff side (:class:`kiosk.staff.StaffController`) on the demo site: who
someone is (badge, phone QR, name; visible people only), desk states for a part of the
day, booking (sealed, pending, confirmed or refused by the demo central as central's
constraint would), "near my team", check-in, release, rooms free now and for the next
hour, and the people finder. Real sealed queues, read with central's key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.staff import StaffController
from sync.events import STAFF_QR_PREFIX
from tapin.demo.central import DemoCentral
from tapin.demo.staff import DemoDesks
from tapin.i18n import use
from tapin.pending import ActionError
from tests.kiosk.support import CENTRAL, NOW, demo_kiosk, queued

ANNA_BADGE = "04A007F3C"
FARID_BADGE = "04A057F3C"  # invisible
HUGO_BADGE = "04A077F3C"


@pytest.fixture(autouse=True)
def english() -> None:
    use("en_GB")


def staff_of(kiosk: Any) -> Any:
    """The staff side of ``kiosk`` (``Any``: the tests read optional results freely)."""
    staff: Any = StaffController(kiosk.runtime, kiosk.queue)
    return staff


async def test_identified_by_badge_qr_or_name_visible_people_only(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:
        staff = staff_of(k)
        assert staff.identify_badge(" 04a007f3c\n").id == "p-anna"  # as a reader types it
        assert staff.identify_qr(STAFF_QR_PREFIX + ANNA_BADGE).id == "p-anna"
        assert staff.identify_qr(ANNA_BADGE) is None  # not a staff code
        assert staff.identify_badge(FARID_BADGE) is None and staff.who is None
        assert staff.identify_qr(STAFF_QR_PREFIX + FARID_BADGE) is None
        assert staff.identify_badge("x" * 500) is None
        assert [p.id for p in staff.search_people("far")] == []
        assert [p.id for p in staff.search_people("bjo")] == ["p-bjorn"]
        assert staff.identify_person("p-farid") is None
        assert staff.identify_person("p-bjorn").id == "p-bjorn"
        staff.forget()
        assert staff.who is None


async def test_desk_states_for_a_part_of_the_day(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:  # 10:30 in Stockholm
        staff = staff_of(k)
        morning = staff.desk_states("morning", "p-anna")
        assert morning["d-201"] == "yours"  # Anna's all day
        assert morning["d-202"] == "booked"  # private: booked, no name
        assert morning["d-206"] == "booked"  # Farid's (invisible): booked, no name
        assert morning["d-207"] == "unavailable"
        assert morning["d-303"] == "free"  # Jonas has it in the afternoon
        assert staff.desk_states("afternoon")["d-303"] == "booked"
        assert staff.desk_states("afternoon")["d-205"] == "free"  # Björn's morning only
        start, end = staff.part_bounds("morning")
        assert start == NOW and end.astimezone(k.runtime.site.timezone).strftime("%H:%M") == "12:30"
        k.clock.advance(timedelta(hours=3))  # 13:30: the morning is over
        assert staff.parts_open() == ["afternoon", "day"]
        staff.identify_person("p-bjorn")
        with pytest.raises(ActionError, match="over"):
            await staff.book_desk("d-208", "morning")


async def test_a_desk_booking_is_sealed_pending_then_confirmed(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:
        staff = staff_of(k)
        desks = DemoDesks(k.runtime)
        central = DemoCentral(k.queue, CENTRAL, k.runtime.calendar, staff.on_results, desks=desks)
        with pytest.raises(ActionError, match="say who you are"):
            await staff.book_desk("d-208", "day")
        staff.identify_badge(HUGO_BADGE)
        with pytest.raises(ActionError, match="already have desk"):
            await staff.book_desk("d-208", "day", person=staff.identify_badge(ANNA_BADGE))
        staff.identify_badge(HUGO_BADGE)
        booking = await staff.book_desk("d-208", "day", private=True)
        assert staff.pending(booking.booking_id)
        assert staff.desk_states("day", "p-hugo")["d-208"] == "yours"
        [(kind, resource, payload)] = await queued(k.queue)
        assert (kind, resource) == ("booking.create", "desk:d-208")
        assert payload["booked_by"] == "p-hugo" and payload["private"] is True
        await central.drain_once()
        assert not staff.pending(booking.booking_id) and staff.rejected is None
        # central lists it with no name (private), this kiosk still knows it is Hugo's
        today: Any = k.runtime.desk_bookings
        listed = {b.booking_id: b for b in today.bookings}
        assert listed[booking.booking_id].person_id is None
        assert staff.desk_states("day", "p-hugo")["d-208"] == "yours"
        assert staff.desk_of("p-hugo") is None  # the private one is never shown
        assert staff.desk_of("p-anna").id == "d-201"
        staff.identify_person("p-lars")
        with pytest.raises(ActionError, match="already booked"):
            await staff.book_desk("d-208", "morning")


async def test_near_my_team_then_check_in_and_release(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:
        staff = staff_of(k)
        desks = DemoDesks(k.runtime)
        central = DemoCentral(k.queue, CENTRAL, k.runtime.calendar, staff.on_results, desks=desks)
        bjorn = staff.identify_person("p-bjorn")  # Platform: d-205..d-208 (d-206/207 out)
        near = staff.near_my_team("morning")
        assert k.runtime.neighbourhoods[near.id] == bjorn.department
        hugo = staff.identify_person("p-hugo")  # IT
        assert k.runtime.neighbourhoods[staff.near_my_team("day").id] == hugo.department
        booking = await staff.book_desk(staff.near_my_team("day").id, "day")
        await central.drain_once()
        await staff.check_in(booking.booking_id)
        assert staff.mine()[0].checked_in
        await staff.release(booking.booking_id)
        assert staff.mine() == []
        kinds = [kind for kind, _r, _p in await queued(k.queue)]
        assert kinds == ["desk.checkin", "booking.end"]
        await central.drain_once()
        assert staff.rejected is None
        assert staff.desk_states("day")[booking.desk_id] == "free"


async def test_two_kiosks_offline_book_the_same_desk_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with demo_kiosk(tmp_path / "a") as a, demo_kiosk(tmp_path / "b") as b:
        one, two = staff_of(a), staff_of(b)
        desks = DemoDesks(a.runtime, b.runtime)
        central_a = DemoCentral(a.queue, CENTRAL, a.runtime.calendar, one.on_results, desks=desks)
        central_b = DemoCentral(b.queue, CENTRAL, b.runtime.calendar, two.on_results, desks=desks)
        one.identify_person("p-nils")
        two.identify_person("p-lars")
        first = await one.book_desk("d-204", "morning")  # both offline: queued, pending
        second = await two.book_desk("d-204", "day")
        assert one.pending(first.booking_id) and two.pending(second.booking_id)
        await central_a.drain_once()  # back online: a's reaches central first
        await central_b.drain_once()
        assert not one.pending(first.booking_id) and one.rejected is None
        assert two.rejected is not None
        assert two.rejected.words == "The desk is already booked from 10:30 to 12:30"
        assert two.desk_states("day", "p-lars")["d-204"] == "booked"  # not "yours"
        assert one.desk_states("morning", "p-nils")["d-204"] == "yours"


async def test_rooms_free_now_and_for_the_next_hour_with_filters(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:
        staff = staff_of(k)
        now = staff.free_rooms()
        assert now and all(staff.room_state(f.room.id) == "free" for f in now)
        hour = staff.free_rooms(minutes=60)
        assert {f.room.id for f in hour} <= {f.room.id for f in now}
        assert all(max(f.choices) >= 60 for f in hour)
        big = staff.free_rooms(capacity=10)
        assert all(f.room.capacity >= 10 for f in big)
        video = staff.free_rooms(equipment=["video", "whiteboard"])
        assert all({"video", "whiteboard"} <= set(f.room.equipment) for f in video)
        room = now[0]
        await staff.book_room(room.room.id, room.choices[0])
        assert staff.room_state(room.room.id) == "busy"
        assert room.room.id not in {f.room.id for f in staff.free_rooms()}
        [(kind, resource, _payload)] = await queued(k.queue)
        assert (kind, resource) == ("booking.create", f"room:{room.room.id}")
        with pytest.raises(ActionError):
            await staff.book_room(room.room.id, 15)


async def test_people_finder_visible_people_and_their_desk(tmp_path: Path) -> None:
    async with demo_kiosk(tmp_path) as k:
        staff = staff_of(k)
        [anna] = staff.find_people("anna")
        assert anna.desk is not None and anna.desk.id == "d-201"
        [carla] = staff.find_people("carla")  # booked privately: no desk shown
        assert carla.desk is None
        assert staff.find_people("farid") == [] and staff.find_people("haddad") == []
        assert staff.desk_of("p-farid") is None
        assert staff.find_people("zebulon") == []
