"""A visitor's sign-in (kiosk/flow.py) over the demo lobby's settings, directory and
invites: each visitor type's steps, invites by name and by QR code, the host searched
over the visible directory only, terms accepted by version, a signature where asked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.flow import DEFAULT_TYPE, STEPS, SignInFlow, invite_for_code, search_people
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.demo.visitors import DEMO_INVITES, invite_qr
from tapin.device.runtime import Runtime

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
INVISIBLE = {"p-farid": "Farid Haddad", "p-ines": "Inés Castillo", "p-karin": "Karin Wallin"}


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return demo_runtime(demo_config(tmp_path, "kiosk"), clock=ManualClock(NOW))


def flow_for(rt: Runtime, *, camera: bool = False) -> SignInFlow:
    return SignInFlow(
        lambda: rt.kiosk,
        camera=lambda: camera,
        directory=lambda: rt.directory,
        invites=lambda: rt.visitors.invites if rt.visitors else (),
    )


def typed(flow: SignInFlow, name: str, type_id: str) -> SignInFlow:
    assert flow.set_name(name).ok
    flow.next()
    flow.choose_type(type_id)
    return flow


# the steps of each visitor type ---------------------------------------------------------


@pytest.mark.parametrize(
    ("type_id", "camera", "steps"),
    [
        ("guest", True, ["name", "type", "company", "email", "host", "terms", "photo", "done"]),
        ("guest", False, ["name", "type", "company", "email", "host", "terms", "done"]),
        ("interview", True, ["name", "type", "email", "host", "terms", "done"]),
        (
            "contractor",
            True,
            ["name", "type", "company", "email", "host", "terms", "photo", "done"],
        ),
        ("delivery", True, ["name", "type", "company", "done"]),
    ],
)
def test_each_visitor_type_asks_its_own_steps(
    rt: Runtime, type_id: str, camera: bool, steps: list[str]
) -> None:
    flow = typed(flow_for(rt, camera=camera), "Zed Zedson", type_id)
    assert flow.steps() == steps
    assert set(steps) <= set(STEPS)
    assert flow.signature_asked() is (type_id == "contractor")


def test_walking_through_a_guests_sign_in(rt: Runtime) -> None:
    flow = flow_for(rt, camera=True)
    assert flow.step == "name" and not flow.can_continue()
    assert flow.progress() == (1, 0)  # "of" unknown until the type is chosen
    assert flow.set_name("  Zed   Zedson ").ok and flow.draft.name == "Zed Zedson"
    assert flow.next() == "type" and not flow.can_continue()
    flow.choose_type("guest")
    assert flow.progress() == (2, 7)
    assert flow.next() == "company" and not flow.can_continue()
    assert not flow.set_company("😀").ok and not flow.can_continue()
    assert flow.set_company("Acme AB").ok and flow.can_continue()
    assert flow.next() == "email"
    assert not flow.set_email("zed@").ok and not flow.can_continue()
    assert flow.set_email("Zed@Example.ORG").ok and flow.draft.email == "Zed@example.org"
    assert flow.next() == "host" and not flow.can_continue()
    assert flow.choose_host("p-bjorn") and flow.can_continue()
    assert flow.host() is not None and flow.host().name == "Björn Ek"  # type: ignore[union-attr]
    assert flow.next() == "terms" and not flow.can_continue()
    flow.accept(True)
    assert flow.draft.terms_version == "2026-11-01" and flow.can_continue()
    assert flow.next() == "photo" and flow.last_question()
    assert flow.can_continue()  # the photo is optional
    assert flow.complete()
    assert flow.next() == "done"
    assert flow.back() == "photo" and flow.back() == "terms"


def test_back_from_the_first_step_leaves(rt: Runtime) -> None:
    flow = flow_for(rt)
    assert flow.back() is None


def test_a_delivery_signs_in_with_a_company_only(rt: Runtime) -> None:
    flow = typed(flow_for(rt, camera=True), "Katherine Johnson", "delivery")
    assert not flow.complete()
    flow.set_company("Orbit Couriers")
    assert flow.complete()
    assert flow.next() == "company" and flow.last_question()


def test_a_site_without_terms_never_shows_them(rt: Runtime) -> None:
    assert rt.kiosk is not None
    rt.kiosk = replace(rt.kiosk, terms=None)
    flow = typed(flow_for(rt), "Zed Zedson", "contractor")
    assert "terms" not in flow.steps() and not flow.signature_asked()
    flow.accept(True)
    assert not flow.draft.accepted and flow.draft.terms_version is None


def test_a_kiosk_that_has_no_settings_yet_signs_in_guests(rt: Runtime) -> None:
    rt.kiosk = None
    flow = typed(flow_for(rt), "Zed Zedson", "guest")
    assert flow.types() == (DEFAULT_TYPE,)
    assert flow.steps() == ["name", "type", "company", "email", "host", "done"]


def test_changing_the_type_forgets_a_signature_drawn_for_the_other(rt: Runtime) -> None:
    flow = typed(flow_for(rt), "Zed Zedson", "contractor")
    flow.accept(True)
    assert not flow.can_finish_terms()  # a contractor also signs
    flow.draft.signature = [[(0.1, 0.1), (0.4, 0.6)]]
    assert flow.can_finish_terms()
    flow.choose_type("guest")
    assert flow.draft.signature == [] and flow.can_finish_terms()


def test_a_single_dot_is_not_a_signature(rt: Runtime) -> None:
    flow = typed(flow_for(rt), "Zed Zedson", "contractor")
    flow.accept(True)
    flow.draft.signature = [[(0.5, 0.5)]]
    assert not flow.can_finish_terms()


def test_clear_forgets_everything(rt: Runtime) -> None:
    flow = typed(flow_for(rt), "Zed Zedson", "contractor")
    flow.set_company("Acme")
    flow.draft.photo = b"\xff\xd8photo"
    flow.draft.signature = [[(0.1, 0.1), (0.2, 0.2)]]
    flow.next()
    flow.clear()
    assert flow.step == "name"
    assert (flow.draft.name, flow.draft.company, flow.draft.photo, flow.draft.signature) == (
        "",
        "",
        None,
        [],
    )


# invites ------------------------------------------------------------------------------


def test_typing_an_invited_name_offers_the_invite_with_a_masked_email(rt: Runtime) -> None:
    flow = flow_for(rt)
    flow.set_name("Ada")
    assert flow.invites_offered() == []  # a part of a name never lists who is expected
    flow.set_name("ada  LOVELACE")
    (offer,) = flow.invites_offered()
    assert offer.id == "inv-ada" and offer.email_masked == "a•••@example.org"
    assert flow.use_invite(offer) == "terms"  # type, company, email, host: known
    draft = flow.draft
    assert (draft.name, draft.company, draft.host_id, draft.visitor_type) == (
        "Ada Lovelace",
        "Analytical Engines",
        "p-bjorn",
        "guest",
    )
    assert draft.email == "" and draft.host_chosen
    assert flow.steps() == ["name", "terms", "done"]
    assert flow.invites_offered() == []


def test_accents_and_case_do_not_hide_an_invite(rt: Runtime) -> None:
    assert rt.visitors is not None
    renamed = replace(rt.visitors.invites[0], name="Åsa Öberg")
    rt.visitors = replace(rt.visitors, invites=(renamed,))
    flow = flow_for(rt)
    flow.set_name("asa oberg")
    assert [i.id for i in flow.invites_offered()] == [renamed.id]


def test_going_back_over_an_invite_asks_again(rt: Runtime) -> None:
    flow = flow_for(rt)
    flow.set_name("Ada Lovelace")
    flow.use_invite(flow.invites_offered()[0])
    assert flow.back() == "name"
    assert flow.draft.invite is None and flow.draft.host_id is None
    assert flow.draft.company == "" and flow.draft.visitor_type is None


def test_typing_another_name_drops_the_invite(rt: Runtime) -> None:
    flow = flow_for(rt)
    flow.set_name("Ada Lovelace")
    flow.use_invite(flow.invites_offered()[0])
    flow.step = "name"
    flow.set_name("Ada Byron")
    assert flow.draft.invite is None


def test_an_invites_qr_code_skips_straight_to_the_terms(rt: Runtime) -> None:
    flow = flow_for(rt)
    invite = flow.scan_invite(invite_qr("inv-grace"))
    assert invite is not None and invite.id == "inv-grace"
    assert flow.step == "terms" and flow.draft.name == "Grace Hopper"
    assert flow.signature_asked()  # Grace comes as a contractor: she signs too


@pytest.mark.parametrize(
    "code",
    [
        "TAPIN-INVITE:inv-ada:the-wrong-secret-0000",
        f"TAPIN-INVITE:inv-grace:{DEMO_INVITES[0]['secret']}",  # Ada's secret, Grace's id
        f"TAPIN-INVITE:inv-nobody:{DEMO_INVITES[0]['secret']}",
        f"TAPIN-OUT:inv-ada:{DEMO_INVITES[0]['secret']}",
        f"TAPIN-INVITE:inv-ada:{DEMO_INVITES[0]['secret']}:extra",
        f"tapin-invite:inv-ada:{DEMO_INVITES[0]['secret']}",
        "TAPIN-INVITE:" + "x" * 10_000,
        "TAPIN-INVITE:inv-ada:sécret",
        "",
        None,
        b"TAPIN-INVITE:inv-ada:x",
    ],
)
def test_any_other_code_is_not_an_invite(rt: Runtime, code: object) -> None:
    flow = flow_for(rt)
    flow.set_name("Zed Zedson")
    assert flow.scan_invite(code) is None
    assert flow.step == "name" and flow.draft.invite is None and flow.draft.name == "Zed Zedson"


def test_a_used_invite_code_matches_by_its_hash_only(rt: Runtime) -> None:
    assert rt.visitors is not None
    invites = rt.visitors.invites
    assert all("secret" not in repr(i) and len(i.qr_sha256) == 64 for i in invites)
    assert invite_for_code(invite_qr("inv-ada"), invites) is invites[0]
    assert invite_for_code(invite_qr("inv-ada"), ()) is None


# the host: the visible directory only -----------------------------------------------------


def test_the_host_is_found_by_first_or_last_name_accents_aside(rt: Runtime) -> None:
    flow = flow_for(rt)
    assert [p.id for p in flow.search_hosts("bjo")] == ["p-bjorn"]
    assert [p.id for p in flow.search_hosts("BJÖRN e")] == ["p-bjorn"]
    assert [p.id for p in flow.search_hosts("ek")] == ["p-bjorn"]
    assert flow.search_hosts("") == [] and flow.search_hosts("   ") == []
    assert flow.search_hosts("a" * 101) == []
    assert len(flow.search_hosts("a", limit=3)) <= 3


def test_an_invisible_person_can_never_be_found_by_name_or_id(rt: Runtime) -> None:
    flow = flow_for(rt)
    for person_id, name in INVISIBLE.items():
        queries = [name, *name.split(), name[:2], name.lower(), person_id]
        for query in queries:
            assert person_id not in {p.id for p in flow.search_hosts(query, limit=100)}
        assert not flow.choose_host(person_id)
        assert flow.draft.host_id is None and not flow.draft.host_chosen
    assert not flow.choose_host("p-nobody")
    every = {p.id for p in search_people("a", rt.directory, limit=100)}
    assert every and not every & set(INVISIBLE)


def test_not_listed_tells_reception(rt: Runtime) -> None:
    flow = typed(flow_for(rt), "Zed Zedson", "interview")
    flow.next()
    flow.set_email("zed@example.org")
    flow.next()
    assert flow.step == "host" and not flow.can_continue()
    assert flow.choose_host(None)
    assert flow.draft.host_chosen and flow.draft.host_id is None and flow.can_continue()
    assert flow.host() is None
