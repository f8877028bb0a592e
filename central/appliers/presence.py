"""``presence.sample``: how occupied a room or lobby was over an interval.

Counts only, never identities: ``count_band`` is a coarse band such as ``"0"``,
``"1-2"`` or ``"10+"``; BLE addresses never leave the device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    int_field,
    require_own_scope,
    text_field,
)
from sync.events import COUNT_BAND, Code, EventType

__all__ = ["PresenceSample"]

_MAX_INTERVAL = timedelta(hours=24)

_INSERT = """
INSERT INTO presence_samples (site_id, resource, during, occupied_minutes, count_band, device_id)
SELECT %(site)s, %(res)s, tstzrange(i.s, i.e), i.minutes, i.band, %(device)s
FROM unnest(%(s)b::timestamptz[], %(e)b::timestamptz[], %(minutes)b::int[], %(bands)b::text[])
     AS i(s, e, minutes, band)
"""


class PresenceSample:
    """Payload ``{occupied_minutes, count_band}``; clear ``starts_at``/``ends_at`` are the
    interval and ``resource`` the device's own room or lobby."""

    type: ClassVar[str] = EventType.PRESENCE_SAMPLE

    def check(self, item: Item, ctx: Context) -> None:
        require_own_scope(item, ctx)
        start, end = item.time_range(_MAX_INTERVAL)
        minutes = math.ceil((end - start).total_seconds() / 60)
        band = text_field(item.payload, "count_band", 12)
        if not COUNT_BAND.match(band):
            raise Rejection(Code.INVALID, "count_band must look like '0', '3', '1-2' or '10+'")
        item.values = {
            "start": start,
            "end": end,
            "minutes": int_field(item.payload, "occupied_minutes", 0, minutes),
            "band": band,
        }

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        await self.send(conn, ctx, items)
        return {}

    async def send(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> None:
        """Send the insert (in pipeline mode nothing waits for it)."""
        vals = [i.values for i in items]
        await conn.execute(
            _INSERT,
            {
                "site": ctx.device.site_id,
                "res": ctx.device.scope_resource,
                "device": ctx.device.id,
                "s": [v["start"] for v in vals],
                "e": [v["end"] for v in vals],
                "minutes": [v["minutes"] for v in vals],
                "bands": [v["band"] for v in vals],
            },
        )

    async def answer(self, sent: None, items: Sequence[Item]) -> dict[int, Rejection]:
        """Samples are never refused once checked."""
        return {}
