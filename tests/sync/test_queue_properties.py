"""Properties: settle never crashes nor loses an event; every payload opens at central."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.queue import SEAL_FAILURE_CODE, EventState, SealedQueue
from tests.sync.queue_support import central_open

CENTRAL = X25519PrivateKey.generate()
KEPT = {EventState.PENDING, EventState.REJECTED, EventState.QUARANTINED}

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
garbage = st.recursive(
    json_scalars | st.binary(max_size=8) | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_scalars, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def answers(draw: st.DrawFn, ids: list[str]) -> list[Any]:
    """A list of result entries: well-formed, half-formed and garbage, any order."""
    entry_id = st.sampled_from(ids) | st.uuids().map(str) | garbage
    entry = st.fixed_dictionaries(
        {"id": entry_id},
        optional={
            "outcome": st.sampled_from(["applied", "duplicate", "rejected", "lost"]) | garbage,
            "reason": st.text(max_size=30) | garbage,
            "code": st.just(SEAL_FAILURE_CODE) | st.text(max_size=10) | garbage,
        },
    )
    return draw(st.lists(entry | garbage, max_size=12))


def _open(directory: str) -> SealedQueue:
    return SealedQueue(Path(directory) / "queue.db", CENTRAL.public_key())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 8), take=st.integers(1, 8))
def test_settle_with_any_answer_never_crashes_and_never_loses_an_event(
    data: st.DataObject, n: int, take: int
) -> None:
    with tempfile.TemporaryDirectory() as directory, _open(directory) as queue:
        ids = [queue.enqueue("booking.create", "room:aurora", {"n": i}).id for i in range(n)]
        sent = queue.take_batch(take).ids
        results = data.draw(answers(sent + ids))

        summary = queue.settle(results)

        rows = {row.id: row for row in queue.rows()}
        assert all(row.state in KEPT for row in rows.values())  # nothing left in flight
        for event_id in ids:
            said = [
                r.get("outcome")
                for r in results
                if isinstance(r, dict)
                and type(r.get("id")) is str
                and r["id"] == event_id
                and isinstance(r.get("outcome"), str)  # anything else is malformed
            ]
            if event_id not in rows:  # deleted only when central said it has it
                assert event_id in sent and ({"applied", "duplicate"} & set(said))
            elif rows[event_id].state != EventState.PENDING:
                assert event_id in sent and "rejected" in said
                assert rows[event_id].reason
            if event_id not in sent:
                assert rows[event_id].state == EventState.PENDING
        settled = summary.deleted + summary.rejected + summary.quarantined + summary.returned
        assert settled == len(sent)
        assert summary.deleted == n - len(rows)


@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(
        st.dictionaries(st.text(max_size=10), json_values, max_size=5), min_size=1, max_size=5
    )
)
def test_any_json_payload_opens_unchanged_at_central(payloads: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as directory, _open(directory) as queue:
        for payload in payloads:
            queue.enqueue("issue.report", "room:aurora", payload)
        batch = queue.take_batch()
    assert [central_open(batch, event, CENTRAL) for event in batch.events] == payloads
