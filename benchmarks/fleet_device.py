"""What a simulated device does, on the cadence of a real one (``tapin/device/services.py``).

Every ``60 s / speed``, at the device's own phase: a refresh (panels ``rooms``,
``directory``, ``calendar?room=<its room>``, ``availability``; kiosks ``rooms``,
``desks``, ``directory``, ``availability``, each with ``If-None-Match`` once it has an
ETag), then ``GET /v1/commands`` and an ack for each command: that poll is the device's
heartbeat (every authenticated request moves its ``last_seen_at``). There is no
separate heartbeat call in the contract.

Events, sealed with the device's own epoch and bound to its id
(``seal_payload(..., device_id=...)``), uploaded as ``POST /v1/events`` bodies exactly
like :meth:`sync.client.CentralClient.upload`:

- a presence sample every 15 minutes, at the device's first minute tick after each
  quarter hour (:mod:`presence.samples` aligns intervals to the clock); a phase starts
  on a quarter hour, so every device sends one in the phase's first minute;
- panels (rates per device per hour): a check-in of the meeting under way (1), a
  booking for later today followed by its check-in in the same upload (0.3), an issue
  report (0.05; one in five with a 48 KB photo);
- kiosks: a visitor signing in (8) and one signing out (8), a desk booking (2), an
  issue report (0.05);
- any device: coming back from an outage with a backlog (0.02): eight presence samples
  and a check-in or sign-in in one upload.

Bookings take slots no meeting and no other booking touches (a room's from 5 h ahead in
15-minute steps, a kiosk's desks from 1 h ahead), so every event should be ``applied``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from benchmarks.fleet_http import Connection, Heads, HttpError
from benchmarks.fleet_world import DESKS, Member, people_of
from sync.wire import EpochKey, SealedEvent, new_event_id, seal_payload

__all__ = ["KINDS", "DeviceState", "Phase", "Tally", "run_device"]

KINDS = ("rooms", "desks", "directory", "calendar", "availability", "commands", "ack", "events")
PANEL_SNAPSHOTS = ("rooms", "directory", "calendar", "availability")
KIOSK_SNAPSHOTS = ("rooms", "desks", "directory", "availability")
TIMEOUT = 15.0
"""The device client's default timeout."""
PANEL_RATES = {"checkin": 1.0, "booking": 0.3, "issue": 0.05, "backlog": 0.02}
KIOSK_RATES = {"signin": 8.0, "signout": 8.0, "desk": 2.0, "issue": 0.05, "backlog": 0.02}
BANDS = ("0", "1-2", "3-5", "6-9", "10+")
CATEGORIES = ("display", "video", "audio", "climate", "furniture", "cleaning", "other")
PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 192).decode()
QUARTER = 900.0


@dataclass
class DeviceState:
    """A device's memory across phases: its epoch, ETags and counters."""

    member: Member
    epoch: EpochKey | None = None
    etags: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    bookings: int = 0
    visitors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured run: where central is, when it starts (wall clock, shared by every
    generator process), for how long, how fast time runs."""

    host: str
    port: int
    server_name: str
    ca_file: str
    start: float
    seconds: float
    speed: float
    seed: int


@dataclass
class Tally:
    """What one generator saw: one row per request, plus event outcomes and errors."""

    rows: list[tuple[int, int, float, bool, float]] = field(default_factory=list)
    """(kind index, status or -1, latency s, new connection, lag s)"""
    loop_lags: list[float] = field(default_factory=list)
    """How late the generator's event loop woke a 50 ms timer: its own overload."""
    events_sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, status: int, latency: float, new: bool, lag: float) -> None:
        self.rows.append((KINDS.index(kind), status, latency, new, lag))


def _quarter(now: datetime) -> datetime:
    return now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)


class Device:
    def __init__(
        self, state: DeviceState, phase: Phase, heads: Heads, conn: Connection, tally: Tally
    ) -> None:
        self.state, self.phase, self.heads, self.conn, self.tally = (
            state,
            phase,
            heads,
            conn,
            tally,
        )
        self.m = state.member
        if state.epoch is None:
            state.epoch = EpochKey.generate(X25519PublicKey.from_public_bytes(self.m.central_key))
        self.epoch = state.epoch
        self.hosts = people_of(self.m.site_id)

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        lag: float,
        *,
        params: dict[str, str] | None = None,
        etag: str | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes, str | None]:
        head = self.heads.head(method, path, self.m.token, params=params, etag=etag, body=body)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT):
                answer = await self.conn.exchange(head, body)
        except TimeoutError:
            await self.conn.close()
            self.tally.errors[f"{kind}: timeout"] += 1
            self.tally.record(kind, -1, time.perf_counter() - started, True, lag)
            return -1, b"", None
        except HttpError as exc:
            self.tally.errors[f"{kind}: {exc}"] += 1
            self.tally.record(kind, -1, time.perf_counter() - started, True, lag)
            return -1, b"", None
        latency = time.perf_counter() - started
        self.tally.record(kind, answer.status, latency, answer.new_connection, lag)
        return answer.status, answer.body, answer.etag

    async def refresh(self, lag: float) -> None:
        kinds = PANEL_SNAPSHOTS if self.m.role == "panel" else KIOSK_SNAPSHOTS
        for kind in kinds:
            params = {"room": self.m.scope_id} if kind == "calendar" else None
            etag = self.state.etags.get(kind)
            status, body, new_etag = await self.call(
                kind, "GET", f"/v1/snapshot/{kind}", lag, params=params, etag=etag
            )
            if status == 200 and new_etag:
                json.loads(body)  # a device parses what it fetched
                self.state.etags[kind] = new_etag
            elif status != 304 or etag is None:
                self.tally.errors[f"{kind}: HTTP {status}"] += status != -1
        status, body, _ = await self.call("commands", "GET", "/v1/commands", lag)
        if status != 200:
            self.tally.errors[f"commands: HTTP {status}"] += status != -1
            return
        for command in json.loads(body).get("commands", []):
            ack, _, _ = await self.call("ack", "POST", f"/v1/commands/{command['id']}/ack", lag)
            if ack != 200:
                self.tally.errors[f"ack: HTTP {ack}"] += ack != -1

    def seal(
        self,
        type: str,
        resource: str,
        payload: dict[str, Any],
        starts: datetime | None = None,
        ends: datetime | None = None,
    ) -> SealedEvent:
        self.state.seq += 1
        return seal_payload(
            self.epoch,
            event_id=new_event_id(),
            seq=self.state.seq,
            type=type,
            resource=resource,
            payload=payload,
            starts_at=starts,
            ends_at=ends,
            created_at=datetime.now(UTC),
            device_id=self.m.device_id,
        )

    async def upload(self, events: list[SealedEvent], lag: float) -> None:
        body = json.dumps(
            {
                "epochs": {self.epoch.id: base64.b64encode(self.epoch.sealed).decode()},
                "events": [e.to_wire() for e in events],
            },
            separators=(",", ":"),
        ).encode()
        self.tally.events_sent += len(events)
        status, answer, _ = await self.call("events", "POST", "/v1/events", lag, body=body)
        if status != 200:
            self.tally.errors[f"events: HTTP {status}"] += status != -1
            self.tally.outcomes["not answered"] += len(events)
            return
        for result in json.loads(answer)["results"]:
            outcome = result["outcome"]
            if outcome == "rejected":
                outcome = f"rejected ({result.get('code')})"
            self.tally.outcomes[outcome] += 1

    def presence(self, end: datetime) -> SealedEvent:
        rng = random.random
        return self.seal(
            "presence.sample",
            self.m.resource,
            {"occupied_minutes": int(rng() * 16), "count_band": BANDS[int(rng() * len(BANDS))]},
            end - timedelta(minutes=15),
            end,
        )

    def person(self) -> str | None:
        return random.choice(self.hosts) if random.random() < 0.5 else None

    def events_for(self, what: str, now: datetime) -> list[SealedEvent]:
        m, state = self.m, self.state
        if what == "presence":
            return [self.presence(_quarter(now))]
        if what == "checkin":
            return [self.seal("meeting.checkin", m.resource, self._checkin(m.meeting_id))]
        if what == "booking":
            start = now + timedelta(hours=5, minutes=15 * state.bookings)
            state.bookings += 1
            booking_id = str(uuid.uuid4())
            made = {"booking_id": booking_id, "booked_by": self.person(), "subject": "Ad hoc"}
            return [
                self.seal("booking.create", m.resource, made, start, start + timedelta(0, 900)),
                self.seal("meeting.checkin", m.resource, self._checkin(booking_id)),
            ]
        if what == "desk":
            k = state.bookings
            state.bookings += 1
            desk = f"desk:{m.site_id}-d{2 * (k % (DESKS // 2)) + m.kiosk_no:02d}"
            start = now + timedelta(hours=1, minutes=30 * (k // (DESKS // 2)))
            booking = {"booking_id": str(uuid.uuid4()), "booked_by": random.choice(self.hosts)}
            return [self.seal("booking.create", desk, booking, start, start + timedelta(0, 1800))]
        if what == "signin":
            return [self._signin()]
        if what == "signout":
            if not state.visitors:
                return []
            visitor = state.visitors.pop(0)
            return [self.seal("visitor.signout", m.resource, {"visitor_id": visitor})]
        if what == "issue":
            payload: dict[str, Any] = {
                "report_id": str(uuid.uuid4()),
                "category": random.choice(CATEGORIES),
                "text": "Something here does not work as it should, please have a look",
            }
            if random.random() < 0.2:
                payload["photo"] = PHOTO
            return [self.seal("issue.report", m.resource, payload)]
        assert what == "backlog"
        ends = [_quarter(now) - timedelta(minutes=15 * k) for k in range(8, 0, -1)]
        extra = (
            self.seal("meeting.checkin", m.resource, self._checkin(m.meeting_id))
            if m.role == "panel"
            else self._signin()
        )
        return [*(self.presence(end) for end in ends), extra]

    def _checkin(self, meeting_id: str) -> dict[str, Any]:
        person = self.person()
        return {"meeting_id": meeting_id, **({"person_id": person} if person else {})}

    def _signin(self) -> SealedEvent:
        visitor = str(uuid.uuid4())
        self.state.visitors.append(visitor)
        payload = {
            "visitor_id": visitor,
            "name": "A Visitor",
            "company": "Visiting Company",
            "email": "visitor@example.com",
            "host_id": random.choice(self.hosts),
            "accepted_terms": True,
        }
        return self.seal("visitor.signin", self.m.resource, payload)


async def run_device(
    state: DeviceState, phase: Phase, heads: Heads, conn: Connection, tally: Tally
) -> None:
    """Run one device from ``phase.start`` for ``phase.seconds``; every loop bounded."""
    device = Device(state, phase, heads, conn, tally)
    rng = random.Random(f"{phase.seed}-{state.member.device_id}")
    speed, start, end = phase.speed, phase.start, phase.start + phase.seconds
    cycle = 60.0 / speed
    due: dict[str, float] = {
        "refresh": start + rng.uniform(0, cycle),
        "presence": start + rng.uniform(0, 60.0) / speed,  # its minute tick after the quarter
    }
    rates = PANEL_RATES if state.member.role == "panel" else KIOSK_RATES
    per_second = {what: rate * speed / 3600.0 for what, rate in rates.items()}

    def gap(what: str) -> float:
        return rng.expovariate(per_second[what])

    for what in rates:
        due[what] = start + gap(what)
    limit = int(phase.seconds / cycle * 4 + sum(rates.values()) * phase.seconds * speed) + 100
    try:
        for _ in range(limit):
            what = min(due, key=due.__getitem__)
            at = due[what]
            if at >= end:
                break
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = max(0.0, time.time() - at)
            if what == "refresh":
                due[what] = at + cycle
                await device.refresh(lag)
                continue
            due[what] = at + (QUARTER / speed if what == "presence" else gap(what))
            events = device.events_for(what, datetime.now(UTC))
            if events:
                await device.upload(events, lag)
    finally:
        await conn.close()
