"""Hostile input through every text field of the sign-in: validate, flow and
controller.sign_in on the real sealed queue. Nothing crashes, every refusal has words
for the screen, and nothing is lost: every accepted sign-in is in the queue, with
clean values within the contract's limits."""

from __future__ import annotations

import asyncio
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kiosk.flow import Draft
from sync.events import MAX_COMPANY, MAX_EMAIL, MAX_NAME
from tapin.pending import ActionError
from tests.kiosk.support import demo_kiosk, queued

HOSTILE = [
    "",
    " ",
    "Zed Zedson",
    "Acme AB",
    "zed@example.org",
    "A" * 10_000,
    "Zed " * 3000,
    "\u202eZed Zedson",
    "Zed\u2066\u2069 Zedson\u200b",
    "Zed\x00Zedson",
    "\x1b[31mZed\x1b[0m",
    "Zed\r\nBcc: eve@example.org",
    "Zed 😀 Zedson",
    "👨‍👩‍👧‍👦",
    "Robert'); DROP TABLE visitors;--",
    "' OR 1=1 --",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "[color=ff0000]Zed[/color]",
    "%s%s%n{0}{name}",
    "\ud800",
    "Z\u0301\u0301\u0301\u0301\u0301\u0301ed",
    "zed@@example.org",
    "zed@localhost",
    "zed@" + "x" * 300 + ".org",
    "ZED@EXAMPLE.ORG",
    "björn@exämple.se",
    "李小龍",
    "محمد",
]
text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=260),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=20)),
)


def answer(good: str) -> st.SearchStrategy[str]:
    """Often the good answer (so that many sign-ins go through), often not."""
    return st.one_of(
        st.just(good),
        st.builds(lambda a, b: a + good + b, st.sampled_from(HOSTILE[5:]), text),
        text,
    )


points = st.lists(st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)), max_size=30)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean(value: str, limit: int) -> None:
    """A value that reached the sealed queue: within the limit, nothing invisible or
    control, storable by PostgreSQL."""
    assert len(value) <= limit
    assert value == value.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
    assert not set(value) & BIDI
    value.encode("utf-8")


async def _scenario(state: Path, answers: dict[str, Any]) -> None:
    async with demo_kiosk(state) as kiosk:
        controller = kiosk.controller
        accepted: dict[str, dict[str, Any]] = {}

        # 1. through the flow, as the screens do
        flow = controller.new_flow(camera=lambda: True)
        for setter, key in (
            (flow.set_name, "name"),
            (flow.set_company, "company"),
            (flow.set_email, "email"),
        ):
            checked = setter(answers[key])
            assert checked.ok or checked.problem  # a message, never an exception
        flow.choose_type(answers["type"])
        flow.scan_invite(answers["code"])
        flow.invites_offered()
        hosts = flow.search_hosts(answers["query"])
        assert all(p.visible for p in hosts)
        flow.choose_host(hosts[0].id if hosts and answers["pick"] else None)
        flow.accept(answers["accept"])
        flow.draft.signature = answers["strokes"]
        flow.draft.photo = answers["photo"]
        for _ in range(9):
            flow.can_continue()
            flow.progress()
            flow.next()
        flow.complete()

        # 2. the same answers straight into the controller, uncleaned
        raw = Draft(
            name=answers["name"],
            visitor_type=answers["type"],
            company=answers["company"],
            email=answers["email"],
            host_id="p-bjorn" if answers["pick"] else answers["query"][:64] or None,
            host_chosen=True,
            accepted=answers["accept"],
            terms_version="2026-11-01",
            signature=answers["strokes"],
            photo=answers["photo"],
        )
        for draft in (flow.draft, raw):
            try:
                visit = await controller.sign_in(draft)
            except ActionError as refused:
                assert str(refused).strip()
                continue
            accepted[visit.visitor_id] = {"name": visit.name}
            event("a sign-in accepted")

        events = [p for kind, _, p in await queued(kiosk.queue) if kind == "visitor.signin"]
        assert {p["visitor_id"] for p in events} == set(accepted), "a sign-in was lost"
        for payload in events:
            _clean(payload["name"], MAX_NAME)
            _clean(payload.get("company", ""), MAX_COMPANY)
            _clean(payload.get("email", ""), MAX_EMAIL)
            assert payload["name"] == accepted[payload["visitor_id"]]["name"]
            host = payload.get("host_id")
            assert host is None or kiosk.runtime.directory.get(host) is not None
        assert {r.visitor_id for r in controller.on_site()} >= set(accepted)


@FUZZ
@given(
    name=answer("Zed Zedson"),
    company=answer("Acme AB"),
    email=answer("zed@example.org"),
    query=answer("bjo"),
    code=st.one_of(text, st.just("TAPIN-INVITE:inv-ada:demo-invite-ada-7Qm2xR9p")),
    type=st.sampled_from(["guest", "interview", "contractor", "delivery", "astronaut", ""]),
    pick=st.booleans(),
    accept=st.one_of(st.just(True), st.booleans()),
    strokes=st.lists(points, max_size=4),
    photo=st.one_of(
        st.none(), st.binary(max_size=300), st.binary(max_size=300).map(b"\xff\xd8\xff".__add__)
    ),
)
def test_hostile_answers_never_crash_and_no_accepted_sign_in_is_lost(**answers: Any) -> None:
    with tempfile.TemporaryDirectory() as state:
        asyncio.run(_scenario(Path(state), answers))


@settings(max_examples=60, deadline=None)
@given(name=answer("Zed Zedson"))
def test_a_name_the_flow_accepts_is_signed_in_as_shown(name: str) -> None:
    """What the visitor sees in the name field after cleaning is what central gets."""

    async def run(state: Path) -> None:
        async with demo_kiosk(state) as kiosk:
            flow = kiosk.controller.new_flow()
            checked = flow.set_name(name)
            flow.choose_type("delivery")
            flow.set_company("Orbit Couriers")
            if not checked.ok:
                return
            visit = await kiosk.controller.sign_in(flow.draft)
            ((_, _, payload),) = await queued(kiosk.queue)
            assert payload["name"] == visit.name == checked.value

    with tempfile.TemporaryDirectory() as state:
        asyncio.run(run(Path(state)))
