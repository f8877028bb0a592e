"""A central that answers garbage: the device neither crashes nor loses an event.

DESIGN.md, Reliability: "Central down, slow, failing or answering garbage: the device
keeps working" and "malformed server responses ... get a clear error and lose nothing".

The queue is a real sealed queue file; central is a fake (``httpx.MockTransport``) that
stands for a misbehaving server, driven by hypothesis: any status, any bytes, broken
JSON, results of the wrong shape, unknown, repeated or foreign ids, wrong outcomes,
huge strings, bad ``Date``/``ETag``/``Content-Encoding`` headers, transport errors. A
small oracle, written from the contract in :mod:`sync.wire`, says what each answer may
settle; the queue must end exactly there. The last tests speak bytes over a real TCP
socket: a server that says nothing, cuts its header or its body, or trickles forever.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import itertools
import json
import random
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sync.agent import SyncAgent, read_status
from sync.backoff import Backoff
from sync.client import (
    CentralClient,
    CentralError,
    NotAuthorised,
    Refused,
    ServerTrouble,
    Unreachable,
)
from sync.queue import SEAL_FAILURE_CODE, AsyncSealedQueue, EventState
from sync.wire import OUTCOMES, EpochKey, SealedEvent, seal_payload

CENTRAL_KEY = X25519PrivateKey.generate()
"""Central's key pair for this test run: the queue seals to its public half."""
BASE_URL = "http://central.test"
MARKER = "Ada Lovelace, visiting R&D"
"""Personal text in every payload: it must never surface in a status or an error."""
MISSING = "<missing>"
"""Stands for a field left out of a result entry."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

HOSTILE = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class MaxRandom(random.Random):
    """Jitter always at its ceiling: the backoff after a failure is never ~0 s."""

    def uniform(self, a: float, b: float) -> float:
        return b


# What central sends --------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """An id taken from the exchange: of the batch sent, of any queued event, or new."""

    kind: Literal["sent", "sent_upper", "queued", "fresh"]
    index: int = 0


@dataclass(frozen=True)
class Huge:
    """A string of ``size`` characters, built only when the body is (short reprs)."""

    size: int


@dataclass(frozen=True)
class Entry:
    id: Any
    outcome: Any
    reason: Any
    code: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    data: bytes


@dataclass(frozen=True)
class Doc:
    """Any JSON document (mostly the wrong shape)."""

    value: Any


@dataclass(frozen=True)
class Results:
    """A results document: garbage entries, and maybe one entry per event sent."""

    entries: tuple[Entry, ...]
    everyone: tuple[str, ...]
    garbage_first: bool
    wrap: Literal["object", "bare_list", "results_not_list"]
    truncate_at: float | None
    drop_last: bool = False
    """Leave the last event sent out of ``everyone``: central forgets one."""


@dataclass(frozen=True)
class Deep:
    depth: int


Body = Raw | Doc | Results | Deep


@dataclass(frozen=True)
class Fail:
    error: type[httpx.TransportError]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Body
    date: bytes | None
    etag: bytes | None
    content_type: bytes | None
    encoding: Literal["none", "gzip", "fake_gzip", "unknown"]


Answer = Fail | Reply

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_key = st.one_of(
    st.sampled_from(["results", "id", "outcome", "reason", "code", "error", "detail"]),
    st.text(max_size=6),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(json_key, inner, max_size=4)
    ),
    max_leaves=10,
)
refs = st.builds(Ref, st.sampled_from(["sent", "sent_upper", "queued", "fresh"]), st.integers(0, 9))
entries = st.builds(
    Entry,
    id=st.one_of(refs, refs, json_leaf, st.lists(st.integers(), max_size=2), st.just(MISSING)),
    outcome=st.one_of(
        st.sampled_from(OUTCOMES),
        st.sampled_from(["Applied", "APPLIED", "ok", "", "applied ", "accepted"]),
        json_value,
        st.just(MISSING),
    ),
    reason=st.one_of(
        st.text(max_size=20),
        st.builds(Huge, st.sampled_from([600, 200_000])),
        st.just("line one\nline two\x00\x1b[31m"),
        json_value,
        st.just(MISSING),
    ),
    code=st.one_of(st.none(), st.just(SEAL_FAILURE_CODE), json_leaf, st.just(MISSING)),
    extra=st.dictionaries(st.text(max_size=5), json_leaf, max_size=2),
)
bodies: st.SearchStrategy[Body] = st.one_of(
    st.builds(
        Results,
        entries=st.lists(entries, max_size=5).map(tuple),
        everyone=st.lists(st.sampled_from(OUTCOMES), max_size=3).map(tuple),
        garbage_first=st.booleans(),
        wrap=st.sampled_from(["object", "object", "object", "bare_list", "results_not_list"]),
        truncate_at=st.one_of(st.none(), st.none(), st.floats(0.0, 0.999)),
    ),
    st.builds(Raw, st.binary(max_size=64)),
    st.builds(Doc, json_value),
    st.builds(Deep, st.sampled_from([3, 5_000, 200_000])),
)
dates = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)).map(
        lambda d: email.utils.format_datetime(d, usegmt=True).encode()
    ),
    st.sampled_from(
        [b"Mon, 01 Jan 99999 00:00:00 GMT", b"Tue, 31 Feb 2026 25:61:61 +9999", b"yesterday"]
    ),
    st.binary(max_size=30),
)
etags = st.one_of(
    st.none(),
    st.sampled_from([b'"v1"', b'W/"v2"', b"plain", b"\xc3\xa9tag", b'"a b"', b"x" * 5000]),
    st.binary(max_size=20),
)
statuses = st.one_of(
    st.just(200),
    st.sampled_from([201, 204, 304, 400, 401, 403, 404, 413, 429, 500, 503]),
    st.integers(100, 599),
)
replies = st.builds(
    Reply,
    status=statuses,
    body=bodies,
    date=dates,
    etag=etags,
    content_type=st.sampled_from(
        [None, b"application/json", b"text/html", b"application/json; charset=bogus"]
    ),
    encoding=st.sampled_from(["none", "none", "none", "gzip", "fake_gzip", "unknown"]),
)
failures = st.builds(
    Fail, st.sampled_from([httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
)
headers = {
    "date": dates,
    "etag": etags,
    "content_type": st.sampled_from([None, b"application/json"]),
}
# well-formed answers (with garbage entries mixed in), so that drains go on and settle
good_replies = st.builds(
    Reply,
    status=st.sampled_from([200, 200, 201, 202]),
    body=st.builds(
        Results,
        entries=st.lists(entries, max_size=3).map(tuple),
        everyone=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=3).map(tuple),
        garbage_first=st.booleans(),
        wrap=st.just("object"),
        truncate_at=st.none(),
        drop_last=st.sampled_from([False, False, False, True]),
    ),
    encoding=st.sampled_from(["none", "gzip", "unknown"]),
    **headers,
)
too_large = st.builds(Reply, status=st.just(413), body=bodies, encoding=st.just("none"), **headers)
answers: st.SearchStrategy[Answer] = st.one_of(
    *[good_replies] * 5, replies, replies, too_large, failures
)
good_snapshots = st.builds(
    Reply,
    status=st.just(200),
    body=st.builds(Doc, st.dictionaries(json_key, json_value, min_size=1, max_size=3)),
    date=dates,
    etag=st.sampled_from([None, b'"v1"', b'W/"v2"', b"\xc3\xa9tag", b"a b"]),
    content_type=st.just(b"application/json"),
    encoding=st.sampled_from(["none", "gzip"]),
)
not_modified = st.builds(
    Reply, status=st.just(304), body=st.just(Raw(b"")), **headers, encoding=st.just("none")
)
snapshot_answers: st.SearchStrategy[Answer] = st.one_of(
    *[good_snapshots] * 4, not_modified, not_modified, replies, failures
)


def _entry_id(ref: Any, sent: list[str], queued: list[str]) -> Any:
    if not isinstance(ref, Ref):
        return ref
    if ref.kind == "fresh" or not sent:
        return str(uuid.uuid4())
    if ref.kind == "queued" and queued:
        return queued[ref.index % len(queued)]
    chosen = sent[ref.index % len(sent)]
    return chosen.upper() if ref.kind == "sent_upper" else chosen


def _document(body: Results, sent: list[str], queued: list[str]) -> Any:
    garbage = []
    for entry in body.entries:
        item: dict[str, Any] = dict(entry.extra)
        fields = {
            "id": _entry_id(entry.id, sent, queued),
            "outcome": entry.outcome,
            "reason": "x" * entry.reason.size if isinstance(entry.reason, Huge) else entry.reason,
            "code": entry.code,
        }
        item.update({k: v for k, v in fields.items() if v != MISSING})
        garbage.append(item)
    good = (
        [
            {"id": event_id, "outcome": body.everyone[i % len(body.everyone)]}
            for i, event_id in enumerate(sent[:-1] if body.drop_last else sent)
        ]
        if body.everyone
        else []
    )
    results = garbage + good if body.garbage_first else good + garbage
    if body.wrap == "bare_list":
        return results
    if body.wrap == "results_not_list":
        return {"results": {"items": results}}
    return {"results": results}


def body_bytes(body: Body, sent: list[str], queued: list[str]) -> bytes:
    if isinstance(body, Raw):
        return body.data
    if isinstance(body, Doc):
        return json.dumps(body.value).encode()
    if isinstance(body, Deep):
        return b"[" * body.depth + b"]" * body.depth
    text = json.dumps(_document(body, sent, queued)).encode()
    if body.truncate_at is not None:
        text = text[: int(len(text) * body.truncate_at)]
    return text


def build_response(reply: Reply, payload: bytes) -> httpx.Response:
    headers: list[tuple[bytes, bytes]] = []
    for name, value in (
        (b"date", reply.date),
        (b"etag", reply.etag),
        (b"content-type", reply.content_type),
    ):
        if value is not None:
            headers.append((name, value))
    wire = payload
    if reply.encoding == "gzip":
        headers.append((b"content-encoding", b"gzip"))
        wire = gzip.compress(payload)
    elif reply.encoding == "fake_gzip":
        headers.append((b"content-encoding", b"gzip"))
        wire = b"NOT GZIP " + payload
    elif reply.encoding == "unknown":
        headers.append((b"content-encoding", b"x-tapin-unknown"))
    # a stream, not content=: httpx decodes on the client side, as over a socket
    return httpx.Response(reply.status, headers=headers, stream=httpx.ByteStream(wire))


# The oracle ----------------------------------------------------------------------


def _parse(payload: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(payload)
    except (ValueError, RecursionError):
        return False, None


def expected_error(answer: Answer) -> type[CentralError] | None:
    """The error class the client must raise before looking at the body's meaning."""
    if isinstance(answer, Fail):
        return Unreachable
    if answer.status in (401, 403):
        return NotAuthorised
    if answer.status in (408, 429):  # transient: retried with backoff
        return ServerTrouble
    if 400 <= answer.status < 500:
        return Refused
    if not 200 <= answer.status < 300:
        return ServerTrouble
    if answer.encoding == "fake_gzip":
        return ServerTrouble
    return None


def upload_verdict(
    answer: Answer, payload: bytes, sent: list[str]
) -> tuple[type[CentralError] | None, dict[str, str]]:
    """(error the client raises, or None; and then each settled id -> final state)."""
    error = expected_error(answer)
    if error is Refused and isinstance(answer, Reply) and answer.status == 413 and len(sent) == 1:
        # one event alone too large: kept as rejected so it cannot block the queue
        return error, {sent[0]: EventState.REJECTED.value}
    if error is not None:
        return error, {}
    ok, document = _parse(payload)
    results = document.get("results") if ok and isinstance(document, dict) else None
    if not isinstance(results, list):
        return ServerTrouble, {}
    settled: dict[str, str] = {}
    for item in results:
        if not isinstance(item, dict):
            continue
        event_id, outcome = item.get("id"), item.get("outcome")
        if not isinstance(event_id, str) or event_id not in sent or event_id in settled:
            continue
        if not isinstance(outcome, str) or outcome not in OUTCOMES:
            continue
        if outcome in ("applied", "duplicate"):
            settled[event_id] = "deleted"
        elif item.get("code") == SEAL_FAILURE_CODE:
            settled[event_id] = EventState.QUARANTINED.value
        else:
            settled[event_id] = EventState.REJECTED.value
    return None, settled


def sendable_etag(raw: bytes | None) -> str | None:
    """What the device may keep and send back: visible ASCII, not absurdly long."""
    if raw is None or not 0 < len(raw) <= 256 or any(not 0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


# The fake central ----------------------------------------------------------------


@dataclass
class Exchange:
    sent: list[str]
    answer: Answer
    error: type[CentralError] | None = None
    settled: dict[str, str] = field(default_factory=dict)
    if_none_match: str | None = None
    data: Any = None

    @property
    def kind(self) -> str:
        answer = self.answer
        if self.error is Refused and isinstance(answer, Reply) and answer.status == 413:
            return "shrink" if len(self.sent) > 1 else "drop"
        if self.error is not None:
            return "error"
        return "complete" if len(self.settled) == len(self.sent) else "partial"


class HostileCentral:
    """Answers each request with the next scripted answer (then 503s), and records what
    it was sent and what the contract lets the device conclude from each answer."""

    def __init__(self, script: list[Answer], then: Answer | None = None) -> None:
        self.script = list(script)
        self.then = then or Reply(503, Raw(b"later"), None, None, None, "none")
        self.queued: list[str] = []
        self.exchanges: list[Exchange] = []
        self.requests: list[httpx.Request] = []

    def _next(self) -> Answer:
        index = len(self.exchanges)
        return self.script[index] if index < len(self.script) else self.then

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self._next()
        if request.url.path == "/v1/events":
            sent = [event["id"] for event in json.loads(request.content)["events"]]
            exchange = Exchange(sent, answer)
            payload = b""
            if isinstance(answer, Reply):
                payload = body_bytes(answer.body, sent, self.queued)
            exchange.error, exchange.settled = upload_verdict(answer, payload, sent)
        else:
            exchange = Exchange([], answer, if_none_match=request.headers.get("if-none-match"))
            payload = b""
            if isinstance(answer, Reply):
                payload = body_bytes(answer.body, [], self.queued)
            exchange.error = expected_error(answer)
            if isinstance(answer, Reply) and answer.status == 304:
                exchange.error = None if exchange.if_none_match else ServerTrouble
            elif exchange.error is None:
                ok, exchange.data = _parse(payload)
                if not ok or exchange.data is None:
                    exchange.error = ServerTrouble
        self.exchanges.append(exchange)
        if isinstance(answer, Fail):
            raise answer.error("hostile central", request=request)
        return build_response(answer, payload)


@asynccontextmanager
async def device(
    state_dir: Path,
    n: int,
    transport: httpx.AsyncBaseTransport | None,
    *,
    batch_size: int = 500,
    timeout: float = 5.0,
    base_url: str = BASE_URL,
) -> AsyncIterator[tuple[SyncAgent, list[str]]]:
    """A real sealed queue holding ``n`` events, and a sync agent over ``transport``."""
    queue = AsyncSealedQueue(state_dir / "queue.db", CENTRAL_KEY.public_key())
    client = CentralClient(base_url, token="device-token", timeout=timeout, transport=transport)
    try:
        ids = []
        for i in range(n):
            event = await queue.enqueue(
                "visitor.sign_in", "lobby:main", {"visitor": MARKER, "host": "grace", "i": i}
            )
            ids.append(event.id)
        agent = SyncAgent(
            queue,
            client,
            state_dir,
            device_id="panel-1",
            batch_size=batch_size,
            backoff=Backoff(_rng=MaxRandom()),
        )
        yield agent, ids
    finally:
        await client.aclose()
        await queue.close()


def run_in_tmp(scenario: Callable[[Path], Awaitable[None]]) -> None:
    """One hypothesis example: a fresh directory and a fresh event loop."""
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp)))


def assert_clean_error(text: str | None) -> None:
    assert text, "a failure must leave a last_error"
    assert len(text) <= 300
    assert MARKER not in text and "Lovelace" not in text
    assert not _CONTROL.search(text), f"control characters in {text!r}"


# Properties ----------------------------------------------------------------------


@HOSTILE
@given(
    n=st.integers(1, 6),
    batch_size=st.integers(1, 7),
    script=st.lists(answers, min_size=1, max_size=5),
    then=st.one_of(st.none(), good_replies),
)
def test_drain_against_a_hostile_central_never_raises_and_loses_nothing(
    n: int, batch_size: int, script: list[Answer], then: Answer | None
) -> None:
    async def scenario(state_dir: Path) -> None:
        central = HostileCentral(script, then)
        async with device(state_dir, n, httpx.MockTransport(central), batch_size=batch_size) as (
            agent,
            ids,
        ):
            central.queued = ids
            settled = await agent.drain(force=True)  # must not raise

            # what the contract lets the device conclude, exchange by exchange
            expected = dict.fromkeys(ids, EventState.PENDING.value)
            for exchange in central.exchanges:
                assert all(expected[i] == EventState.PENDING.value for i in exchange.sent), (
                    "an event already settled was sent again"
                )
                expected.update(exchange.settled)
            for request in central.requests:
                assert MARKER.encode() not in request.content, "a payload left unsealed"

            counts = await agent.queue.counts()
            rows = {row.id: row for row in await agent.queue.rows()}
            deleted = {i for i, state in expected.items() if state == "deleted"}
            assert counts.inflight == 0
            assert set(rows) == set(ids) - deleted
            for event_id, row in rows.items():
                assert row.state.value == expected[event_id]
                if row.state is not EventState.PENDING:
                    assert row.reason, "a rejected event must say why"
            assert counts.pending + counts.rejected + counts.quarantined + len(deleted) == n
            assert settled == sum(state != "pending" for state in expected.values())

            # how the agent went on: only after a complete answer, or a 413 to shrink the
            # batch or to reject the one event that is too large
            kinds = [exchange.kind for exchange in central.exchanges]
            for kind in sorted(set(kinds)):
                event(f"an exchange was {kind}")
            event(f"the drain ended {kinds[-1]}")
            assert kinds and all(kind in ("complete", "shrink", "drop") for kind in kinds[:-1])
            for before, after in itertools.pairwise(central.exchanges):
                if before.kind == "shrink":
                    assert len(after.sent) <= max(1, len(before.sent) // 2)
            assert len(central.exchanges[0].sent) == min(n, batch_size)

            status = agent.status
            if kinds[-1] in ("complete", "drop"):
                assert counts.pending == 0
                assert status.last_error is None and status.reachable is True
                assert agent.ready()
                assert agent.batch_limit == batch_size
            else:
                assert_clean_error(status.last_error)
                assert not agent.ready(), "no backoff after a failure"
                assert status.next_attempt_in > 0
                last = central.exchanges[-1]
                if last.error in (Unreachable, ServerTrouble):
                    assert status.reachable is False
                if last.kind == "partial":
                    assert status.reachable is True
            on_disk = read_status(state_dir)
            assert on_disk is not None
            assert on_disk.last_error == status.last_error
            assert on_disk.pending == counts.pending
            assert MARKER not in (state_dir / "status.json").read_text(encoding="utf-8")

    run_in_tmp(scenario)


@HOSTILE
@given(
    script=st.lists(snapshot_answers, min_size=1, max_size=4),
    then=st.one_of(st.none(), good_snapshots, not_modified),
)
def test_refresh_against_a_hostile_central_never_raises_and_touches_no_event(
    script: list[Answer], then: Answer | None
) -> None:
    async def scenario(state_dir: Path) -> None:
        central = HostileCentral(script, then)
        delivered: list[tuple[str, Any]] = []
        async with device(state_dir, 3, httpx.MockTransport(central)) as (agent, ids):
            central.queued = ids
            agent.snapshot_requests = {"rooms": {}, "calendar": {"room": "aurora"}}
            agent.on_snapshot = lambda kind, data: delivered.append((kind, data))
            outcomes = []
            for _ in range(2):
                start = len(central.exchanges)
                ok = await agent.refresh(force=True)  # must not raise
                calls = central.exchanges[start:]
                outcomes.append(ok)
                assert ok == all(exchange.error is None for exchange in calls)
                if not ok:
                    assert calls[-1].error is not None, "refresh went on after a failure"
                    assert_clean_error(agent.status.last_error)
                    assert not agent.ready()
                else:
                    assert agent.status.last_error is None

            kinds = ["rooms", "calendar"]
            expected_data = []
            etag: dict[str, str | None] = {}
            for exchange, request in zip(central.exchanges, central.requests, strict=True):
                kind = request.url.path.rsplit("/", 1)[-1]
                assert kind in kinds
                sent_tag = request.headers.get("if-none-match")
                assert sent_tag == etag.get(kind), "If-None-Match is not the ETag kept"
                if sent_tag is not None:
                    assert sent_tag.isascii() and sent_tag.isprintable()
                if exchange.error is None and exchange.data is not None:
                    expected_data.append((kind, exchange.data))
                    assert isinstance(exchange.answer, Reply)
                    etag[kind] = sendable_etag(exchange.answer.etag)
            assert delivered == expected_data
            event(f"{len(delivered)} snapshot(s) delivered, refresh results {outcomes}")

            counts = await agent.queue.counts()
            assert (counts.pending, counts.inflight, counts.rejected) == (3, 0, 0)

    run_in_tmp(scenario)


_EVENT_KEY = EpochKey.generate(CENTRAL_KEY.public_key())
EVENTS = [
    seal_payload(
        _EVENT_KEY,
        event_id=str(uuid.uuid4()),
        seq=i,
        type="booking.create",
        resource="room:aurora",
        payload={"booked_by": MARKER},
    )
    for i in range(4)
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=st.one_of(answers, snapshot_answers), n=st.integers(0, 4), with_etag=st.booleans())
def test_the_client_raises_only_central_errors_mapped_by_class(
    answer: Answer, n: int, with_etag: bool
) -> None:
    events: list[SealedEvent] = EVENTS[:n]
    sent = [event.id for event in events]

    async def scenario() -> None:
        central = HostileCentral([answer, answer])
        async with CentralClient(BASE_URL, transport=httpx.MockTransport(central)) as client:
            central.queued = sent
            try:
                results = await client.upload({_EVENT_KEY.id: _EVENT_KEY.sealed}, events)
            except CentralError as exc:
                assert type(exc) is central.exchanges[0].error, repr(exc)
                if isinstance(exc, Refused):
                    assert isinstance(answer, Reply) and exc.status == answer.status
                assert MARKER not in str(exc)
            else:
                error, settled = (central.exchanges[0].error, central.exchanges[0].settled)
                assert error is None
                first: dict[str, dict[str, Any]] = {}
                for item in results:
                    assert item["id"] in sent and item["outcome"] in OUTCOMES
                    assert item["reason"] is None or isinstance(item["reason"], str)
                    assert item["reason"] is None or len(item["reason"]) <= 500
                    assert item["code"] is None or isinstance(item["code"], str)
                    first.setdefault(item["id"], item)
                assert set(first) == set(settled)

            try:
                snap = await client.snapshot("rooms", etag='"v0"' if with_etag else None)
            except CentralError as exc:
                assert type(exc) is central.exchanges[1].error, repr(exc)
            else:
                assert central.exchanges[1].error is None
                if snap.unchanged:
                    assert with_etag and snap.etag == '"v0"'
                else:
                    assert isinstance(answer, Reply)
                    assert snap.data == central.exchanges[1].data
                    assert snap.etag == sendable_etag(answer.etag)

    asyncio.run(scenario())


command_ids = st.one_of(
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(["..", ".", "../events", "a/b", "x?y#z", "%2e%2e", "7"]),
    json_value,
)


@settings(max_examples=60, deadline=None)
@given(
    listing=st.one_of(
        st.lists(st.fixed_dictionaries({"id": command_ids, "kind": json_leaf}), max_size=4),
        json_value,
    ),
    wrap=st.booleans(),
)
def test_commands_from_a_hostile_central_are_filtered_and_acked_in_one_segment(
    listing: Any, wrap: bool
) -> None:
    paths: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            paths.append(request.url.raw_path)
            return httpx.Response(204)
        body = {"commands": listing} if wrap else listing
        return httpx.Response(200, json=body)

    async def scenario() -> None:
        async with CentralClient(BASE_URL, transport=httpx.MockTransport(handler)) as client:
            try:
                commands = await client.commands()
            except CentralError:
                return
            for command in commands:
                assert isinstance(command, dict)
                command_id = command["id"]
                assert not isinstance(command_id, bool)
                assert isinstance(command_id, int | str) and command_id not in ("", ".", "..")
                await client.ack_command(command_id)
        for path in paths:
            assert path.startswith(b"/v1/commands/") and path.endswith(b"/ack")
            assert path.count(b"/") == 4, f"the id escaped its path segment: {path!r}"

    asyncio.run(scenario())


# Deterministic cases -------------------------------------------------------------


async def test_an_answer_larger_than_the_limit_is_server_trouble() -> None:
    huge = b'{"results": ["' + b"x" * (17 * 1024 * 1024) + b'"]}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(huge))

    async with CentralClient(BASE_URL, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServerTrouble, match="too large"):
            await client.upload({}, EVENTS[:1])


async def test_a_gzip_bomb_is_cut_off_at_the_limit() -> None:
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb))

    async with CentralClient(BASE_URL, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServerTrouble, match="too large"):
            await client.snapshot("rooms")


async def test_an_etag_that_cannot_be_sent_back_is_not_kept(state_dir: Path) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        headers = [(b"etag", "\u00e9t\u00e9\r\nX-Evil: 1".encode())]
        return httpx.Response(200, headers=headers, json={"site": {}})

    async with device(state_dir, 1, httpx.MockTransport(handler)) as (agent, _):
        agent.snapshot_requests = {"rooms": {}}
        assert await agent.refresh(force=True)
        assert await agent.refresh(force=True)
    assert seen == [None, None]


async def test_a_date_header_sets_the_clock_offset_only_when_it_parses() -> None:
    dates = iter([b"Mon, 01 Jan 99999 00:00:00 GMT", b"garbage", b"Thu, 01 Jan 2099 00:00:00 GMT"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[(b"date", next(dates))], json={"ok": True})

    async with CentralClient(BASE_URL, transport=httpx.MockTransport(handler)) as client:
        await client.snapshot("rooms")
        await client.snapshot("rooms")
        assert client.clock_offset is None
        await client.snapshot("rooms")
        assert client.clock_offset is not None and client.clock_offset.days > 365


# Bytes over a real socket --------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)


async def _trickle(writer: asyncio.StreamWriter, data: bytes, *, forever: bool) -> None:
    """Write ``data`` one byte every 50 ms (then spaces, ``forever``): each read is
    quick, so only a deadline on the whole exchange ends it."""
    stream = iter(data)
    for _ in range(600):  # 30 s at most, far beyond any deadline under test
        byte = next(stream, None)
        if byte is None and not forever:
            return
        writer.write(bytes([byte]) if byte is not None else b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

BEHAVIOURS: dict[str, Callable[[asyncio.StreamWriter], Awaitable[None]]] = {}


def behaviour(name: str) -> Callable[[Callable[..., Awaitable[None]]], Any]:
    def register(func: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Any:
        BEHAVIOURS[name] = func
        return func

    return register


@behaviour("says nothing and closes")
async def _silent(writer: asyncio.StreamWriter) -> None:
    return


@behaviour("truncated header")
async def _truncated_head(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: applic")


@behaviour("Content-Length larger than the body")
async def _short_body(writer: asyncio.StreamWriter) -> None:
    writer.write(OK_HEAD + b"Content-Length: 5000\r\n\r\n" + b'{"results": [{"id": ')


@behaviour("not HTTP at all")
async def _not_http(writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage\r\n\r\n")


@behaviour("endless trickle of the body")
async def _trickle_body(writer: asyncio.StreamWriter) -> None:
    writer.write(OK_HEAD + b"Content-Length: 1000000000\r\n\r\n")
    await _trickle(writer, b'{"results": [', forever=True)


@behaviour("endless trickle of the header")
async def _trickle_head(writer: asyncio.StreamWriter) -> None:
    await _trickle(writer, OK_HEAD + b"X-Slow: ", forever=True)


@asynccontextmanager
async def raw_server(
    act: Callable[[asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A real TCP server on 127.0.0.1 that reads each request, then does ``act``."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await _read_request(reader)
            await act(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("name", list(BEHAVIOURS))
async def test_a_broken_server_on_a_real_socket_is_unreachable_and_loses_nothing(
    name: str, state_dir: Path
) -> None:
    async with (
        raw_server(BEHAVIOURS[name]) as url,
        device(state_dir, 4, None, timeout=0.1, base_url=url) as (agent, ids),
    ):
        agent.snapshot_requests = {"rooms": {}}
        client = agent.client
        assert client.deadline == pytest.approx(0.4)  # 4 x timeout by default
        started = time.monotonic()
        with pytest.raises(Unreachable):
            await client.upload({}, EVENTS[:1])
        with pytest.raises(Unreachable):
            await client.snapshot("rooms")
        assert await agent.drain(force=True) == 0
        assert not await agent.refresh(force=True)
        # four exchanges, each ended by the server or by the 0.4 s deadline
        assert time.monotonic() - started < 4 * 0.4 + 2.0

        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight) == (len(ids), 0)
        assert_clean_error(agent.status.last_error)
        assert agent.status.reachable is False
        assert not agent.ready()


async def test_a_trickle_is_cut_at_the_deadline_not_the_read_timeout() -> None:
    async with raw_server(BEHAVIOURS["endless trickle of the body"]) as url:
        client = CentralClient(url, timeout=0.3, deadline=0.8)
        try:
            started = time.monotonic()
            with pytest.raises(Unreachable, match=r"within 0\.8 s"):
                await client.snapshot("rooms")
            assert 0.7 < time.monotonic() - started < 2.0
        finally:
            await client.aclose()
