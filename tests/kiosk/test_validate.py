"""What a visitor types, cleaned and checked (kiosk/validate.py): real names in any
script pass; hostile input gets a clear message or a cleaned value, never an exception."""

from __future__ import annotations

import pytest

from kiosk.validate import (
    MAX_COMPANY_CHARS,
    MAX_EMAIL_CHARS,
    MAX_NAME_CHARS,
    check_company,
    check_email,
    check_name,
    clean,
    first_name,
    short_name,
)
from sync.events import MAX_COMPANY, MAX_EMAIL, MAX_NAME
from tapin import i18n

LETTERS_ONLY = "Please use letters only: no digits, symbols or emoji"


def test_the_limits_are_the_contracts() -> None:
    assert (MAX_NAME_CHARS, MAX_COMPANY_CHARS, MAX_EMAIL_CHARS) == (
        MAX_NAME,
        MAX_COMPANY,
        MAX_EMAIL,
    )


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "O'Brien",
        "Zoë-Jane d’Arc",
        "José Ñúñez",
        "李小龍",
        "Мария Иванова",
        "محمد عبد الله",
        "Nguyễn Thị Minh Khai",
        "J. R. R. Tolkien",
        "Sir Patrick (Pat) Stewart",
        "مهر\u200cناز",  # a Persian name with its zero-width non-joiner
    ],
)
def test_real_names_in_any_script_pass(name: str) -> None:
    checked = check_name(name)
    assert checked.ok, checked.problem
    assert checked.value == name


def test_spacing_and_accents_are_tidied() -> None:
    assert check_name("  Ada \t  Lovelace\n").value == "Ada Lovelace"
    decomposed = "E\u0301lise"  # an E and a combining acute: composed to É
    assert check_name(decomposed).value == "\u00c9lise"


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", "Please type your full name"),
        ("   ", "Please type your full name"),
        ("\x00\x01\x1b", "Please type your full name"),
        ("...", "Please type your full name"),
        ("Ada 😀", LETTERS_ONLY),
        ("Ada Lovelace 2", LETTERS_ONLY),
        ("Robert'); DROP TABLE visitors;--", LETTERS_ONLY),
        ("<script>alert(1)</script>", LETTERS_ONLY),
        ("[b]Ada[/b]", LETTERS_ONLY),
        ("A" * 10_000, f"At most {MAX_NAME} characters, please"),
    ],
)
def test_hostile_names_get_a_clear_message(typed: str, problem: str) -> None:
    checked = check_name(typed)
    assert checked.problem == problem
    assert len(checked.value) <= MAX_NAME


def test_control_characters_and_bidi_overrides_are_removed() -> None:
    # U+202E would show "Ada" reversed on reception's list; NUL would break PostgreSQL
    checked = check_name("Ada\u202e\u2066 Love\x00lace\u200b\ufeff")
    assert checked.ok and checked.value == "Ada Lovelace"
    assert clean("a\ud800b\ue000c", 10) == "abc"  # lone surrogates and private use go


def test_clean_never_raises_and_keeps_the_limit() -> None:
    assert clean(None, 5) == ""
    assert clean(b"Ada\xff", 10) == "Ada\ufffd"
    assert clean(12345, 3) == "123"
    assert clean("x" * 1_000_000, 200) == "x" * 200


@pytest.mark.parametrize(
    ("company", "ok"),
    [
        ("AT&T", True),
        ("Acme (Sweden) AB", True),
        ("3M", True),
        ("C++ Ltd", True),
        ("Åhléns", True),
        ("Acme 😀", False),
        ("...", False),
        ("", False),
        ("X" * 10_000, False),
    ],
)
def test_companies(company: str, ok: bool) -> None:
    checked = check_company(company)
    assert checked.ok is ok
    assert bool(checked.problem) is not ok
    assert len(checked.value) <= MAX_COMPANY


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("ada@example.org", "ada@example.org"),
        ("  Ada@Example.ORG ", "Ada@example.org"),  # the domain is case-folded
        ("björn@exämple.se", "björn@exämple.se"),
    ],
)
def test_good_emails_are_normalised(typed: str, value: str) -> None:
    checked = check_email(typed)
    assert checked.ok, checked.problem
    assert checked.value == value


@pytest.mark.parametrize(
    "typed",
    [
        "ada@",
        "@example.org",
        "ada@@example.org",
        "ada lovelace@example.org",
        "ada@localhost",
        "ada@example..org",
        "ada@example.org\nBcc: eve@example.org",
        "ada@[127.0.0.1]",
        '"ada"@example.org',
        "ada@" + "x" * 300 + ".org",
        "<script>@example.org",
        "ada@example.org'; DROP TABLE x;--",
    ],
)
def test_malformed_emails_are_refused_with_a_message(typed: str) -> None:
    checked = check_email(typed)
    assert not checked.ok
    assert checked.problem.startswith(("Please check the address", "At most"))


def test_an_address_without_an_at_says_what_is_missing() -> None:
    assert check_email("ada.example.org").problem.startswith("An email address has an @")
    assert check_email("").problem == "Please type your email address"


def test_no_dns_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kiosk may be offline: the syntax is checked, deliverability is not."""
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the email check used the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert check_email("ada@no-such-domain-at-all.example").ok


def test_messages_are_in_the_screens_language() -> None:
    before = i18n.current()
    i18n.use("sv_SE")
    try:
        problem = check_name("").problem
    finally:
        i18n.use(before)
    assert problem == "Skriv ditt fullständiga namn"


def test_short_forms_for_lists_anyone_can_see() -> None:
    assert short_name("Ada King Lovelace") == "Ada L."
    assert short_name("Cher") == "Cher"
    assert first_name("Björn Ek") == "Björn"
    assert first_name("") == ""
