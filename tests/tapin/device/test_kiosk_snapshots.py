"""A lobby kiosk's two snapshots, ``kiosk`` (the lobby's settings) and ``visitors``
(today's invites and who is in), exactly in the contract's shapes
(/work/helpers/kiosk-contract.md): good data parses; anything else (unknown steps,
wrong types, huge values, control characters) raises only :class:`SnapshotError` and
the kiosk keeps what it had; ``visitors`` never reaches a file.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapin.demo.runtime import demo_config
from tapin.demo.visitors import kiosk_snapshot, visitors_snapshot
from tapin.device.runtime import Runtime, empty_runtime
from tapin.device.snapshots import (
    NOTIFIED,
    SnapshotError,
    parse_kiosk,
    parse_visitors,
)
from tests.tapin.device.test_snapshots import (
    _DELETE,
    EDGE_VALUES,
    GARBAGE,
    _edited,
    _paths,
    json_value,
    mutated,
    only_snapshot_errors,
)

ZONE = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SECRET = "invite-secret-0123456789"

KIOSK: dict[str, Any] = {
    "site": {"id": "nordlys-sthlm", "name": "Nordlys Stockholm", "timezone": "Europe/Stockholm"},
    "lobby": {"id": "lobby-main", "name": "Reception"},
    "end_of_day": "18:00",
    "idle_seconds": 60,
    "visitor_types": [
        {
            "id": "guest",
            "names": {"en": "Guest", "sv": "Gäst"},
            "steps": ["company", "email", "host", "terms", "photo"],
            "signature": False,
        },
        {
            "id": "interview",
            "names": {"en": "Interview", "sv": "Intervju"},
            "steps": ["email", "host", "terms"],
            "signature": False,
        },
        {
            "id": "contractor",
            "names": {"en": "Contractor", "sv": "Entreprenör"},
            "steps": ["company", "email", "host", "terms", "photo"],
            "signature": True,
        },
        {
            "id": "delivery",
            "names": {"en": "Delivery", "sv": "Leverans"},
            "steps": ["company"],
            "signature": False,
        },
    ],
    "terms": {
        "version": "2026-11-01",
        "title": {"en": "Visitor terms", "sv": "Besöksvillkor"},
        "text": {"en": "1. Be kind.\n2. Sign out.", "sv": "1. Var snäll.\n2. Skriv ut dig."},
    },
}

VISITORS: dict[str, Any] = {
    "day": "2026-12-01",
    "invites": [
        {
            "id": "inv-ada",
            "name": "Ada Lovelace",
            "email_masked": "a•••@example.org",
            "company": "Analytical",
            "host_id": "p-bjorn",
            "visitor_type": "guest",
            "qr_sha256": hashlib.sha256(SECRET.encode()).hexdigest(),
        }
    ],
    "signed_in": [
        {
            "visitor_id": "v-1",
            "name": "Alan Turing",
            "company": "Bletchley",
            "host_id": "p-anna",
            "visitor_type": "guest",
            "signed_in_at": "2026-12-01T09:12:00+01:00",
            "notified": "pending",
        },
        {
            "visitor_id": "v-2",
            "name": "Katherine Johnson",
            "company": "",
            "host_id": None,
            "visitor_type": "delivery",
            "signed_in_at": "2026-12-01T10:02:00+01:00",
            "notified": "reception",
        },
    ],
}


def kiosk_runtime(state: Path) -> Runtime:
    return empty_runtime(demo_config(state, "kiosk"), clock=lambda: NOW)


def with_field(good: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return _edited(good, path, value)


# good snapshots ----------------------------------------------------------------------


def test_the_kiosk_snapshot_gives_the_lobbys_settings() -> None:
    settings = parse_kiosk(KIOSK)
    assert (settings.site_id, settings.site_name) == ("nordlys-sthlm", "Nordlys Stockholm")
    assert (settings.lobby_id, settings.lobby_name) == ("lobby-main", "Reception")
    assert settings.timezone == ZONE
    assert settings.end_of_day == time(18, 0) and settings.idle_seconds == 60
    assert [t.id for t in settings.visitor_types] == [
        "guest",
        "interview",
        "contractor",
        "delivery",
    ]
    contractor = settings.visitor_type("contractor")
    assert contractor is not None and contractor.signature
    assert contractor.steps == ("company", "email", "host", "terms", "photo")
    assert contractor.name("sv_SE") == "Entreprenör" and contractor.name("fi") == "Contractor"
    assert settings.visitor_type("delivery").steps == ("company",)  # type: ignore[union-attr]
    assert settings.terms is not None and settings.terms.version == "2026-11-01"
    assert settings.terms.text("sv").startswith("1. Var snäll.\n")
    assert settings.terms.title("en") == "Visitor terms"


def test_a_site_without_terms_sends_null() -> None:
    assert parse_kiosk(dict(KIOSK, terms=None)).terms is None


def test_the_visitors_snapshot_gives_todays_invites_and_visitors() -> None:
    today = parse_visitors(VISITORS)
    assert today.day == date(2026, 12, 1)
    (invite,) = today.invites
    assert (invite.id, invite.name, invite.email_masked) == (
        "inv-ada",
        "Ada Lovelace",
        "a•••@example.org",
    )
    assert invite.qr_sha256 == hashlib.sha256(SECRET.encode()).hexdigest()
    assert [v.visitor_id for v in today.signed_in] == ["v-1", "v-2"]
    assert today.on_site("v-1").signed_in_at == datetime(2026, 12, 1, 8, 12, tzinfo=UTC)  # type: ignore[union-attr]
    assert today.on_site("v-2").host_id is None  # type: ignore[union-attr]
    assert "Ada" not in repr(today) and "Alan" not in repr(today) and "Ada" not in repr(invite)


@pytest.mark.parametrize("notified", NOTIFIED)
def test_every_notified_state_of_the_contract_parses(notified: str) -> None:
    data = with_field(VISITORS, ("signed_in", 0, "notified"), notified)
    assert parse_visitors(data).signed_in[0].notified == notified


def test_the_demo_builds_the_same_shapes() -> None:
    settings = parse_kiosk(kiosk_snapshot())
    assert {t.id for t in settings.visitor_types} == {
        "guest",
        "interview",
        "contractor",
        "delivery",
    }
    assert settings.terms is not None and {"en", "sv"} <= set(settings.terms.texts)
    today = parse_visitors(visitors_snapshot(NOW, ZONE))
    assert today.day == date(2026, 12, 1) and len(today.invites) >= 2
    assert {v.notified for v in today.signed_in} <= set(NOTIFIED)


def test_bidi_controls_in_a_visitors_name_are_dropped_not_shown() -> None:
    data = with_field(VISITORS, ("signed_in", 0, "name"), "Alan \u202eTuring\u202c\u200b")
    assert parse_visitors(data).signed_in[0].name == "Alan Turing"


# malformed snapshots -------------------------------------------------------------------

BAD_KIOSK = [
    (("visitor_types", 0, "steps"), ["company", "selfie"]),  # an unknown step
    (("visitor_types", 0, "steps"), ["name", "company"]),  # name is not the type's to ask
    (("visitor_types", 0, "steps"), ["company", "company"]),
    (("visitor_types", 0, "steps"), "company"),
    (("visitor_types", 0, "signature"), "yes"),
    (("visitor_types", 0, "id"), "gu est"),
    (("visitor_types", 0, "id"), "x" * 33),
    (("visitor_types", 1, "id"), "guest"),  # a type twice
    (("visitor_types", 0, "names"), {}),
    (("visitor_types", 0, "names"), {"en": "Gu\x07est"}),
    (("visitor_types", 0, "names"), {"e\nn": "Guest"}),
    (("visitor_types",), []),
    (("visitor_types",), [KIOSK["visitor_types"][0]] * 21),
    (("visitor_types",), {"guest": {}}),
    (("idle_seconds",), 0),
    (("idle_seconds",), 10**12),
    (("idle_seconds",), True),
    (("idle_seconds",), "60"),
    (("end_of_day",), "25:00"),
    (("end_of_day",), "6pm"),
    (("end_of_day",), 1800),
    (("terms", "version"), ""),
    (("terms", "version"), "v\x00"),
    (("terms", "text"), {"en": "x" * 100_001}),
    (("terms", "text"), {"en": "ok\x1b[2J"}),
    (("terms",), "accept"),
    (("site", "timezone"), "Mars/Olympus"),
    (("site", "name"), "Nordlys\r\nSet-Cookie: x"),
    (("lobby", "id"), "lobby main"),
    (("lobby",), None),
]


@pytest.mark.parametrize(("path", "value"), BAD_KIOSK)
def test_a_malformed_kiosk_snapshot_is_refused(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(SnapshotError):
        parse_kiosk(with_field(KIOSK, path, value))


BAD_VISITORS = [
    (("day",), "2026-13-01"),
    (("day",), 20261201),
    (("invites",), [{}]),
    (("invites", 0, "qr_sha256"), "abc"),
    (("invites", 0, "qr_sha256"), "z" * 64),
    (("invites", 0, "name"), ""),
    (("invites", 0, "name"), "Ada\x00Lovelace"),
    (("invites", 0, "name"), "A" * 10_000),
    (("invites", 0, "id"), "inv ada"),
    (("invites", 0, "visitor_type"), None),
    (("invites",), [VISITORS["invites"][0]] * 2),  # an invite twice
    (("signed_in", 0, "notified"), "told"),
    (("signed_in", 0, "notified"), None),
    (("signed_in", 0, "signed_in_at"), "09:12"),
    (("signed_in", 0, "signed_in_at"), "2026-12-01T09:12:00"),  # no offset
    (("signed_in", 0, "visitor_id"), 1),
    (("signed_in", 0, "company"), "Bletchley\x85"),
    (("signed_in", 0, "company"), ["Bletchley"]),
    (("signed_in",), [VISITORS["signed_in"][0]] * 2),
    (("signed_in",), [VISITORS["signed_in"][0]] * 5001),
    (("signed_in",), None),
]


@pytest.mark.parametrize(("path", "value"), BAD_VISITORS)
def test_a_malformed_visitors_snapshot_is_refused(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(SnapshotError):
        parse_visitors(with_field(VISITORS, path, value))


@pytest.mark.parametrize("kind", ["kiosk", "visitors"])
def test_every_field_set_to_every_edge_value_raises_only_snapshot_error(kind: str) -> None:
    good, parse = {"kiosk": (KIOSK, parse_kiosk), "visitors": (VISITORS, parse_visitors)}[kind]
    tried = refused = 0
    for path in _paths(good)[1:]:
        for value in [_DELETE, *EDGE_VALUES]:
            if only_snapshot_errors(parse, _edited(good, path, value)) is None:
                refused += 1
            tried += 1
    assert tried > 500 and refused > tried // 2


@GARBAGE
@given(data=st.one_of(mutated(KIOSK), json_value))
def test_garbage_kiosk_snapshots_raise_only_snapshot_error(data: Any) -> None:
    only_snapshot_errors(parse_kiosk, data)


@GARBAGE
@given(data=st.one_of(mutated(VISITORS), json_value))
def test_garbage_visitors_snapshots_raise_only_snapshot_error(data: Any) -> None:
    only_snapshot_errors(parse_visitors, data)


# the runtime keeps what it had -----------------------------------------------------------


def test_a_refused_snapshot_leaves_the_kiosk_as_it_was(tmp_path: Path) -> None:
    rt = kiosk_runtime(tmp_path)
    assert rt.apply_snapshot("kiosk", KIOSK) and rt.apply_snapshot("visitors", VISITORS)
    settings, today = rt.kiosk, rt.visitors
    assert today is not None and today.received_at == NOW

    for path, value in BAD_KIOSK:
        assert not rt.apply_snapshot("kiosk", with_field(KIOSK, path, value))
    for path, value in BAD_VISITORS:
        assert not rt.apply_snapshot("visitors", with_field(VISITORS, path, value))
    assert rt.kiosk is settings and rt.visitors is today


def test_another_lobbys_settings_are_refused(tmp_path: Path) -> None:
    rt = kiosk_runtime(tmp_path)
    other = with_field(KIOSK, ("lobby", "id"), "lobby-north")
    assert not rt.apply_snapshot("kiosk", other)
    assert rt.kiosk is None


def test_a_refusal_is_logged_without_the_snapshots_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = kiosk_runtime(tmp_path)
    caplog.set_level("DEBUG")
    bad = copy.deepcopy(VISITORS)
    bad["signed_in"][0]["notified"] = "Alan Turing told"
    bad["invites"][0]["name"] = "Ada\x07Lovelace"
    assert not rt.apply_snapshot("visitors", bad)
    bad = with_field(VISITORS, ("invites", 0, "name"), "Ada\x07Lovelace")
    assert not rt.apply_snapshot("visitors", bad)
    assert caplog.records, "a refusal is logged"
    for text in ("Ada", "Lovelace", "Alan", "Turing", "Bletchley", "example.org"):
        assert text not in caplog.text
