"""Applying a batch exactly once: the database half of ``POST /v1/events``.

One transaction per batch:

1. record every event in ``applied_events`` (as applied) with one ``INSERT ... ON
   CONFLICT DO NOTHING RETURNING``: the rows it returns are new, the others were seen
   before and get their stored answer (``duplicate``, or the same rejection). The
   statement needs only the clear fields: PostgreSQL runs it while the payloads are
   opened and checked here;
2. apply the new ones in batch order, consecutive events of one type in one bulk call
   to their applier (see ``central/appliers``);
3. write the rejections (the checks', and those only the database could decide) over
   their rows in one statement, and commit.

Effects and ledger rows commit together, so a crash at any point applies nothing twice.
If a statement fails on the data itself (an unforeseen constraint or value error), the
batch is rolled back and replayed with a savepoint per event, so one bad event is
rejected (code ``invalid``) without holding back the others. Deadlocks and lock
timeouts roll back and retry the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from central.appliers import APPLIERS, Context, Item, Rejection
from central.appliers.base import EarlyApplier, storable
from central.appliers.issues import IssueReport
from central.appliers.presence import PresenceSample
from central.auth import DeviceContext
from central.batch import (
    EpochKeys,
    Incoming,
    Limits,
    Pending,
    Result,
    open_pending,
    parse_envelope,
)
from central.errors import ServerError, ServiceBusy
from sync.events import Code, EventType
from sync.wire import AD_BOUND

__all__ = ["ingest"]

log = logging.getLogger(__name__)

_TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
_ATTEMPTS = 4
_CHUNK = 128
"""Events parsed before their ledger rows go out: PostgreSQL starts on the first ones
while the rest are still being read."""

_RECORD = """
INSERT INTO applied_events (device_id, event_id, seq, type, outcome, created_at)
SELECT %(device)s, i.id, i.seq, i.type, 'applied', i.created
FROM unnest(%(ids)b::uuid[], %(seqs)b::bigint[], %(types)b::text[], %(created)b::timestamptz[])
     AS i(id, seq, type, created)
ON CONFLICT DO NOTHING
RETURNING event_id::text
"""

_RECORD_NEW = _RECORD.removesuffix("ON CONFLICT DO NOTHING\nRETURNING event_id::text\n")
""":data:`_RECORD` for events taken to be new (the early attempt): a plain insert, a
quarter cheaper for PostgreSQL; one seen before breaks the primary key instead."""
_LEDGER_KEY = "applied_events_pkey"

_STORED = """
SELECT event_id::text, outcome, reason, code, detail FROM applied_events
WHERE device_id = %s AND event_id = ANY(%b::uuid[])
"""

_REJECT = """
UPDATE applied_events a SET outcome = 'rejected', reason = u.reason, code = u.code,
                           detail = u.detail,
                           created_at = CASE WHEN u.unmade THEN NULL ELSE a.created_at END
FROM unnest(%(ids)b::uuid[], %(reasons)b::text[], %(codes)b::text[], %(details)b::jsonb[],
            %(unmade)b::bool[])
     AS u(id, reason, code, detail, unmade)
WHERE a.device_id = %(device)s AND a.event_id = u.id
"""

_SITE_RESOURCES = """
SELECT 'room:' || id FROM rooms WHERE site_id = %(site)s AND id = ANY(%(room)s)
UNION ALL SELECT 'desk:' || id FROM desks WHERE site_id = %(site)s AND id = ANY(%(desk)s)
UNION ALL SELECT 'lobby:' || id FROM lobbies WHERE site_id = %(site)s AND id = ANY(%(lobby)s)
"""

_ACTIVE = """
UPDATE people SET last_active_at = now()
WHERE id = ANY(%s) AND site_id = %s AND last_active_at < now() - interval '1 day'
"""


async def ingest(
    conn: psycopg.AsyncConnection,
    device: DeviceContext,
    body: Any,
    *,
    keys: EpochKeys,
    limits: Limits,
    now: datetime,
) -> list[dict[str, Any]]:
    """Apply a batch body for ``device``; the answers, one per event, in order.

    Events bound to their device open only as that device; unbound ones (sealed by a
    device before its upgrade) only when made before the device's first bound event.

    Raises :class:`BadRequest`/:class:`PayloadTooLarge` for a body that is not a batch
    and :class:`ServiceBusy` when contention outlasts the retries.
    """
    epochs, events = parse_envelope(body, limits)
    incoming = Incoming(events, epochs, now)
    ctx = Context(device, now, limits.max_photo_bytes)

    def open_some(some: list[Pending]) -> None:  # those not opened by an earlier attempt
        fresh = [p for p in some if p.item is None and p.rejection is None]
        open_pending(fresh, epochs, keys, device, now)

    outcomes = await _transact(conn, ctx, incoming, open_some)
    await _note_binding(conn, device, incoming.parsed)
    parsed, pending, answers = incoming.parsed, incoming.pending, incoming.answers
    answers.update(outcomes)
    first = {p.key: p.index for p in pending}
    results: list[dict[str, Any]] = []
    counts = dict.fromkeys(("applied", "duplicate", "rejected"), 0)
    for index, event in enumerate(parsed):
        answer = answers.get(index)
        if answer is None:  # a repeat, within the batch, of an earlier event
            assert not isinstance(event, Result)
            earlier = answers[first[str(uuid.UUID(event.id))]]
            if earlier.outcome == "rejected":
                answer = Result(event.id, "rejected", earlier.reason, earlier.code, earlier.detail)
            else:
                answer = Result(event.id, "duplicate")
        counts[answer.outcome] += 1
        results.append(answer.to_json())
    log.info(
        "device %s batch of %d: %d applied, %d duplicate, %d rejected",
        device.id,
        len(parsed),
        counts["applied"],
        counts["duplicate"],
        counts["rejected"],
    )
    return results


async def _note_binding(
    conn: psycopg.AsyncConnection, device: DeviceContext, parsed: Sequence[Any]
) -> None:
    """The first bound event from a device: from now on its unbound events are copies."""
    if device.binds_since is None and any(getattr(e, "ad", 1) == AD_BOUND for e in parsed):
        async with conn.transaction():
            await conn.execute(
                "UPDATE devices SET binds_since = now() WHERE id = %s AND binds_since IS NULL",
                [device.id],
            )
        log.info("device %s now binds its events to itself", device.id)


class _Mode(enum.Enum):
    EARLY = "early"
    """Pipeline mode; the events taken to be new (the ledger rows a plain insert), each
    chunk opened as soon as it is parsed and the commuting lanes' effects (presence
    samples, issue reports) sent at once: if any event was seen before, its ledger row
    breaks the primary key, the attempt is rolled back and made again in :attr:`PLAIN`
    mode."""
    PLAIN = "plain"
    """Pipeline mode for the ledger rows; every effect applied once the ledger answered."""
    CAREFUL = "careful"
    """No pipeline; a savepoint per event, so one that fails alone is rejected."""


async def _transact(
    conn: psycopg.AsyncConnection,
    ctx: Context,
    incoming: Incoming,
    open_some: Callable[[list[Pending]], None],
) -> dict[int, Result]:
    mode = _Mode.EARLY
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with conn.transaction():
                fresh = Context(ctx.device, ctx.now, ctx.max_photo_bytes)
                return await _apply_batch(conn, fresh, incoming, mode, open_some)
        except ServerError:
            raise  # not a batch (400, 413): nothing is recorded
        except errors.UniqueViolation as exc:
            if mode is not _Mode.EARLY or exc.diag.constraint_name != _LEDGER_KEY:
                mode = _careful(ctx, exc, mode)
            else:  # a resend, or the same batch twice at once: not lost to contention
                mode = _Mode.PLAIN
        except _TRANSIENT as exc:
            log.info("device %s: %s on attempt %d; retrying", ctx.device.id, exc.sqlstate, attempt)
            await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        except _UNAVAILABLE:
            raise  # the database is gone: 503, the device retries the batch later
        except Exception as exc:
            mode = _careful(ctx, exc, mode)
    raise ServiceBusy("central is busy with conflicting writes; retry this batch shortly")


def _careful(ctx: Context, exc: Exception, mode: _Mode) -> _Mode:
    """One event the checks did not foresee (a value the database refuses, a computation
    that overflows...): replay event by event, so it alone is rejected and the batch
    never fails for it. Raises ``exc`` when the replay was already careful."""
    if mode is _Mode.CAREFUL:
        raise exc
    log.warning(
        "device %s: batch hit %s; replaying it event by event",
        ctx.device.id,
        getattr(exc, "sqlstate", None) or type(exc).__name__,
    )
    return _Mode.CAREFUL


def _judge(
    ctx: Context, pending: Sequence[Pending], known: set[str], rejections: dict[int, Rejection]
) -> list[Item]:
    """The opened events' items, after the checks (each applier's, then the site's);
    the refused ones are added to ``rejections``."""
    items: list[Item] = []
    for p in pending:
        if p.rejection is not None:
            rejections[p.index] = p.rejection
        elif p.item is not None:
            items.append(p.item)
        else:  # opening gives every event its item or its rejection
            raise RuntimeError(f"event {p.event.id} was not opened")
    _site_check(ctx, items, _checks(ctx, items), rejections, known)
    return items


async def _apply_batch(
    conn: psycopg.AsyncConnection,
    ctx: Context,
    incoming: Incoming,
    mode: _Mode,
    open_some: Callable[[list[Pending]], None],
) -> dict[int, Result]:
    # Every event is recorded as applied first; those rejected get their answer written
    # over it below, in this same transaction. So in pipeline mode the ledger rows of
    # the first events go out while the later ones are still being parsed, and
    # PostgreSQL writes them while this process parses, opens and checks.
    records: list[tuple[list[Pending], psycopg.AsyncCursor[Any]]] = []
    rejections: dict[int, Rejection] = {}
    items: list[Item] = []
    sent: list[tuple[EarlyApplier, list[Item], Any]] = []
    size = _CHUNK if mode is not _Mode.CAREFUL else len(incoming.events) or 1
    async with conn.pipeline() if mode is not _Mode.CAREFUL else contextlib.nullcontext():
        site = await conn.execute(_SITE_RESOURCES, _site_params(ctx, incoming.events))
        known: set[str] | None = None
        for chunk in incoming.chunks(size):
            record = _RECORD_NEW if mode is _Mode.EARLY else _RECORD
            records.append((chunk, await conn.execute(record, _ledger_rows(ctx, chunk))))
            if mode is _Mode.EARLY:
                open_some(chunk)
                if known is None:  # in by now: it went out before this chunk's rows
                    known = {row[0] for row in await site.fetchall()}
                judged = _judge(ctx, chunk, known, rejections)
                items += judged
                fit = [i for i in judged if i.index not in rejections]
                sent += await _send_early(conn, ctx, fit)
        if not incoming.pending:
            return {}
        if mode is not _Mode.EARLY:
            open_some(incoming.pending)
    # out of pipeline mode: every result above is in
    pending = incoming.pending
    if mode is not _Mode.EARLY:
        items = _judge(ctx, pending, {row[0] for row in await site.fetchall()}, rejections)
    new: set[str] = set()
    for chunk, cur in records:  # early: every row went in (else the key broke above)
        new |= (
            {p.key for p in chunk} if mode is _Mode.EARLY else {r[0] for r in await cur.fetchall()}
        )
    key_of = {p.index: p.key for p in pending}

    seen_before = [p for p in pending if p.key not in new]
    stored: dict[str, tuple[str, str | None, str | None, dict[str, str] | None]] = {}
    if seen_before:
        cur = await conn.execute(_STORED, [ctx.device.id, [p.key for p in seen_before]])
        stored = {row[0]: (row[1], row[2], row[3], row[4]) for row in await cur.fetchall()}

    for applier, early, handle in sent:
        rejections.update(await applier.answer(handle, early))
    applied_early = {i.index for _, early, _ in sent for i in early}
    todo = [i for i in items if i.index not in rejections and key_of[i.index] in new]
    later = [i for i in todo if i.index not in applied_early]
    rejections.update(await _apply_runs(conn, ctx, later, mode is _Mode.CAREFUL))
    written = {i: r for i, r in rejections.items() if key_of[i] in new}
    if written:  # over their 'applied' rows; the clear created_at only where it was read
        opened = {p.index for p in pending if p.item is not None}
        await conn.execute(
            _REJECT,
            {
                "device": ctx.device.id,
                "ids": [key_of[i] for i in written],
                "reasons": [r.reason for r in written.values()],
                "codes": [r.code for r in written.values()],
                "details": [Jsonb(r.detail) if r.detail else None for r in written.values()],
                "unmade": [i not in opened for i in written],
            },
        )
    actors = sorted({i.actor for i in todo if i.actor and i.index not in rejections})
    if actors:
        await conn.execute(_ACTIVE, [actors, ctx.device.site_id])

    outcomes: dict[int, Result] = {}
    for p in pending:
        event_id = p.event.id
        if p.key in new:
            r = rejections.get(p.index)
            outcomes[p.index] = (
                Result(event_id, "rejected", r.reason, r.code, r.detail)
                if r
                else Result(event_id, "applied")
            )
        else:
            outcome, reason, code, detail = stored[p.key]
            if outcome == "rejected":
                outcomes[p.index] = Result(event_id, "rejected", reason, code, detail)
            else:
                outcomes[p.index] = Result(event_id, "duplicate")
    return outcomes


async def _send_early(
    conn: psycopg.AsyncConnection, ctx: Context, items: list[Item]
) -> list[tuple[EarlyApplier, list[Item], Any]]:
    """Send the effects of the items whose appliers take them early, one statement per
    type; what :meth:`EarlyApplier.answer` needs later."""
    by_type: dict[str, list[Item]] = {}
    for item in items:
        if item.type in _EARLY:
            by_type.setdefault(item.type, []).append(item)
    return [
        (_EARLY[kind], run, await _EARLY[kind].send(conn, ctx, run))
        for kind, run in by_type.items()
    ]


def _site_params(ctx: Context, events: Sequence[Any]) -> dict[str, Any]:
    """Parameters of :data:`_SITE_RESOURCES`: the resources the events name (their
    clear ``resource``, read before the events are parsed: only what PostgreSQL can
    hold as text; an event naming anything else is answered before it needs this), by
    kind."""
    wanted: dict[str, set[str]] = {"room": set(), "desk": set(), "lobby": set()}
    for raw in events:
        resource = raw.get("resource") if isinstance(raw, dict) else None
        if isinstance(resource, str) and len(resource) <= 200 and storable(resource):
            kind, _, rid = resource.partition(":")
            if kind in wanted and rid:
                wanted[kind].add(rid)
    return {"site": ctx.device.site_id, **{kind: sorted(ids) for kind, ids in wanted.items()}}


def _checks(ctx: Context, items: list[Item]) -> dict[int, Rejection]:
    """Each applier's own checks of its items (those not already rejected); what they
    refuse."""
    refused: dict[int, Rejection] = {}
    for item in items:
        try:
            APPLIERS[item.type].check(item, ctx)
        except Rejection as rejection:
            refused[item.index] = rejection
        except Exception as exc:  # a value the checks did not foresee: this event only
            log.warning(
                "device %s: event %s failed its checks (%s)",
                ctx.device.id,
                item.id,
                type(exc).__name__,
            )
            refused[item.index] = Rejection(Code.INVALID, "central could not read this event")
    return refused


def _site_check(
    ctx: Context,
    items: list[Item],
    refused: dict[int, Rejection],
    rejections: dict[int, Rejection],
    known: set[str],
) -> None:
    """Resources must belong to the device's site (``known``: those that do): else that
    is the answer, whatever the applier's checks (``refused``) said."""
    for item in items:
        if item.resource not in known:
            rejections[item.index] = Rejection(
                Code.FORBIDDEN,
                f"{item.resource} is not part of site {ctx.device.site_id}, this device's site",
            )
        elif item.index in refused:
            rejections[item.index] = refused[item.index]


def _ledger_rows(ctx: Context, pending: list[Pending]) -> dict[str, Any]:
    return {
        "device": ctx.device.id,
        "ids": [p.key for p in pending],
        "seqs": [p.event.seq for p in pending],
        "types": [p.event.type for p in pending],
        "created": [p.created for p in pending],
    }


# Events in different lanes touch disjoint state, so they commute: applying lane by lane
# (order kept within each lane) gives the same result as batch order, with longer runs
# of one type for the bulk appliers.
_LANES: dict[str, int] = {
    EventType.PRESENCE_SAMPLE: 0,
    EventType.ISSUE_REPORT: 1,
    EventType.VISITOR_SIGNIN: 2,
    EventType.VISITOR_SIGNOUT: 2,
}
_SPACES_LANE = 3  # bookings, check-ins, releases: order matters among all of them
_EARLY: dict[str, EarlyApplier] = {a.type: a for a in (PresenceSample(), IssueReport())}
"""The lanes of one statement each whose effects go out early (the appliers hold no
state: these instances do what APPLIERS' do)."""


def _in_lanes(items: Sequence[Item]) -> list[Item]:
    return sorted(items, key=lambda item: _LANES.get(item.type, _SPACES_LANE))  # stable


async def _apply_runs(
    conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item], careful: bool
) -> dict[int, Rejection]:
    """Apply lane by lane, each run of one type in one call (or a savepoint per item)."""
    items = _in_lanes(items)
    rejected: dict[int, Rejection] = {}
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and items[end].type == items[start].type:
            end += 1
        applier = APPLIERS[items[start].type]
        if not careful:
            rejected.update(await applier.apply(conn, ctx, items[start:end]))
        else:
            for item in items[start:end]:
                try:
                    async with conn.transaction():
                        rejected.update(await applier.apply(conn, ctx, [item]))
                except (*_TRANSIENT, *_UNAVAILABLE):
                    raise
                except Exception as exc:
                    what = getattr(exc, "sqlstate", None) or type(exc).__name__
                    log.warning(
                        "device %s: event %s could not be applied (%s)",
                        ctx.device.id,
                        item.id,
                        what,
                    )
                    rejected[item.index] = Rejection(
                        Code.STORAGE, f"central could not store this event ({what})"
                    )
        start = end
    return rejected
