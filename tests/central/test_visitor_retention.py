"""Visitor data is history: sign-ins (with photos, signatures, badge hashes), their
notifications and invites are purged 90 days on (time travel through ``now``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from central import run_retention
from tests.central.conftest import World
from tests.central.visiting import BADGE, JPEG, PNG, b64, sign_in, vworld

__all__ = ["vworld"]


async def test_visitor_records_photos_signatures_and_invites_go_after_90_days(
    vworld: World,
) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, photo=b64(JPEG), signature=b64(PNG), badge_token=BADGE)
    async with vworld.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO visitor_invites (id, site_id, day, host_id, name, email,"
            " visitor_type, secret_hash) VALUES ('inv-1', 'alpha', current_date, 'p-vis',"
            " 'Grace', 'grace@example.org', 'guest', sha256('s'))"
        )
    now = datetime.now(UTC)

    kept = await run_retention(vworld.pool, now + timedelta(days=89))
    assert (kept["visitor_signins"], kept["visitor_invites"]) == (0, 0)
    assert await vworld.count("visitor_signins", "photo IS NOT NULL") == 1

    purged = await run_retention(vworld.pool, now + timedelta(days=91))

    assert purged["visitor_signins"] == 1
    assert purged["visitor_invites"] == 1
    assert purged["host_notifications"] == 1
    for table in ("visitor_signins", "visitor_invites", "host_notifications"):
        assert await vworld.count(table) == 0, table
