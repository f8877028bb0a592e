"""The kiosk's staff side against a real central (PostgreSQL, ``tapin central serve`` over
TLS): central's ``floors``, ``desks`` and ``desk_bookings`` snapshots parse as the
contract says; two kiosks book the same desk while offline, and when they reach central
one booking is applied and the other is refused and undone on its kiosk, in words; a
private booking names nobody, and invisible people appear in no result."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kiosk.staff import StaffController
from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ZONE = ZoneInfo("Europe/Stockholm")
DESK = "d-204"  # free all day in the demo seed


def _nine_oclock() -> datetime:
    """09:00 today at the demo site, so that the whole day can be booked whenever the
    test runs (central takes times within its window, not only from now on)."""
    return datetime.combine(datetime.now(ZONE).date(), time(9, 0), tzinfo=ZONE).astimezone(UTC)


async def _kiosk(central: Any, name: str) -> tuple[Any, Any, StaffController]:
    device = central.enroll(name, lobby="lobby-main")
    config = load_config(device.config)
    runtime = empty_runtime(config, clock=_nine_oclock)
    sync = await open_device_sync(config, runtime)
    assert await sync.agent.refresh(force=True), sync.agent.status.last_error
    staff = StaffController(runtime, sync.queue)
    sync.agent.on_settled = staff.on_results
    return runtime, sync, staff


async def test_two_kiosks_book_one_desk_offline_one_wins_at_central(central: Any) -> None:
    first_runtime, first_sync, first = await _kiosk(central, "kiosk-a")
    second_runtime, second_sync, second = await _kiosk(central, "kiosk-b")
    try:
        for runtime in (first_runtime, second_runtime):  # central's snapshots, parsed
            assert runtime.floors is not None and {2, 3, 4} <= {
                f.floor for f in runtime.floors.floors
            }
            assert runtime.desk_bookings is not None
            assert runtime.directory.by_badge("04A017F3C") is not None  # Björn
        assert first.desk_states("day").get(DESK) == "free"
        # an invisible colleague is in no result, count or desk
        assert first.find_people("Farid") == [] and first.search_people("Farid") == []

        # both kiosks are offline (nothing drained yet) and book the same desk
        greta = first.identify_badge("04A067F3C")
        hugo = second.identify_badge("04A077F3C")
        assert greta is not None and hugo is not None, "demo badges changed?"
        await first.book_desk(DESK, "day", private=True)
        await second.book_desk(DESK, "day")
        assert first.desk_states("day", greta.id)[DESK] == "yours"  # shown at once
        assert second.desk_states("day", hugo.id)[DESK] == "yours"

        # back online: the first to reach central wins, the other is refused and undone
        assert await first_sync.agent.drain(force=True) == 1
        assert await second_sync.agent.drain(force=True) == 1
        assert first.rejected is None
        refused = second.rejected
        assert refused is not None and "booked" in refused.words, refused
        assert second.desk_states("day", hugo.id)[DESK] != "yours"  # undone at once

        # the next desk_bookings snapshot has the booking, but not whose it is (private)
        assert await second_sync.agent.refresh(force=True)
        assert second.desk_states("day", hugo.id)[DESK] == "booked"
        bookings = [b for b in second_runtime.desk_bookings.bookings if b.desk_id == DESK]
        assert len(bookings) == 1 and bookings[0].person_id is None
        assert second.desk_of(greta.id) is None  # a private booking shows no desk
    finally:
        await first_sync.close()
        await second_sync.close()


async def test_a_desk_an_admin_takes_out_of_use_is_refused_in_words_then_shown_so(
    central: Any,
) -> None:
    from tapin.pending import ActionError

    desk = "d-208"  # free all day in the demo seed
    _runtime, sync, staff = await _kiosk(central, "kiosk-c")
    try:
        assert staff.desk_states("day").get(desk) == "free"
        assert staff.identify_badge("04A067F3C") is not None  # Greta
        await staff.book_desk(desk, "day")  # queued: the kiosk has not reached central yet

        # meanwhile an admin takes the desk out of use, with a reason
        done = central.central("desk", "out-of-use", desk, "--reason", "Broken chair")
        assert done.returncode == 0, done.stderr
        assert f"desk {desk} (2.08, nordlys-sthlm) is out of use: Broken chair" in done.stdout

        # the queued booking reaches central: refused, in words, and undone on the kiosk
        assert await sync.agent.drain(force=True) == 1
        refused = staff.rejected
        assert refused is not None and "This desk is out of use: Broken chair" in refused.words
        assert staff.desk_states("day", staff.who.id if staff.who else None)[desk] != "yours"
        staff.acknowledge()

        # the next desk_bookings snapshot shows it out of use: the kiosk does not offer it
        assert await sync.agent.refresh(force=True)
        assert staff.desk_states("day")[desk] == "unavailable"
        with pytest.raises(ActionError, match="out of use"):
            await staff.book_desk(desk, "day")

        # back in use: bookable again, and central applies the booking
        assert central.central("desk", "in-use", desk).returncode == 0
        assert await sync.agent.refresh(force=True)
        assert staff.desk_states("day")[desk] == "free"
        await staff.book_desk(desk, "day")
        assert await sync.agent.drain(force=True) == 1
        assert staff.rejected is None
    finally:
        await sync.close()
