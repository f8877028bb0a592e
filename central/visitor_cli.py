"""``tapin central`` commands for visitors: invites, who is on site, the terms, a site's
visitor settings and people's notification preferences, the admin API token.

Mounted by :mod:`central.cli` (same options, exit statuses and messages: 0 done, 1
refused with a one-line reason, 2 central cannot reach its database or settings).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, time
from pathlib import Path
from typing import Any

from central.cli import _command as command
from central.cli import _dsn, _fail, _guarded, _key_path, _with_pool
from central.cli import _key_file as key_file

__all__ = ["add_visitor_commands"]


def add_visitor_commands(commands: Any) -> None:
    """Add the visitor commands to ``commands`` (an argparse subparsers action)."""
    invite = command(
        commands, "invite", "invite a visitor for a day; the QR code is emailed to them", _invite
    )
    key_file(invite)
    invite.add_argument("--site", required=True, metavar="ID", help="the site visited")
    invite.add_argument("--name", required=True, help="the visitor's full name")
    invite.add_argument("--email", required=True, help="the visitor's email (the invite goes to)")
    invite.add_argument("--host", required=True, metavar="PERSON_ID", help="who they visit")
    invite.add_argument("--company", default="", help="the visitor's company")
    invite.add_argument(
        "--type", default="guest", dest="visitor_type", help="visitor type (default guest)"
    )
    invite.add_argument(
        "--day",
        type=_day,
        help="the day of the visit, YYYY-MM-DD (default: today at the site)",
    )

    onsite = command(
        commands, "onsite", "who is on site now: visitors signed in, with their host", _onsite
    )
    onsite.add_argument("--site", metavar="ID", help="only this site (default: every site)")
    onsite.add_argument("--json", action="store_true", help="print JSON (for scripts)")

    token = commands.add_parser(
        "admin-token",
        help="make a token for the admin API (POST /v1/admin/invites)",
        description="Print a new admin API token and the line that enables it in central's "
        "settings file (central keeps only its SHA-256).",
    )
    token.set_defaults(func=_admin_token)

    terms = command(
        commands,
        "terms",
        "publish a version of a site's visitor terms in one language, from a text file",
        _terms,
    )
    terms.add_argument("--site", required=True, metavar="ID", help="the site")
    terms.add_argument("--version", required=True, help="the version, e.g. 2026-11-01")
    terms.add_argument("--lang", required=True, help="the language, e.g. en or sv")
    terms.add_argument(
        "file", metavar="FILE", help="UTF-8 text: the first line is the title, the rest the text"
    )

    vtype = command(
        commands,
        "visitor-type",
        "add, change or remove a site's visitor type and the steps it asks",
        _visitor_type,
    )
    vtype.add_argument("--site", required=True, metavar="ID", help="the site")
    vtype.add_argument("--id", required=True, dest="type_id", help="the type's id, e.g. guest")
    vtype.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="LANG=NAME",
        help="its name in a language, e.g. en=Guest (repeat; en is required)",
    )
    vtype.add_argument(
        "--steps", default="", help="comma-separated, in order: company,email,host,terms,photo"
    )
    vtype.add_argument(
        "--signature", action="store_true", help="a drawn signature at the terms step"
    )
    vtype.add_argument("--position", type=int, default=0, help="order on the kiosk (low first)")
    vtype.add_argument("--remove", action="store_true", help="remove the type instead")

    settings = command(
        commands,
        "visitor-settings",
        "change a site's visitor settings or how a person hears of their visitors",
        _settings,
    )
    who = settings.add_mutually_exclusive_group(required=True)
    who.add_argument("--site", metavar="ID", help="change this site's settings")
    who.add_argument("--person", metavar="ID", help="change this person's preference")
    settings.add_argument("--end-of-day", type=_clock, help="site: automatic sign-out, HH:MM")
    settings.add_argument("--idle-seconds", type=int, help="site: kiosk idle time (10-3600)")
    settings.add_argument("--language", help="site: notification language (en, sv)")
    settings.add_argument("--reception-email", help="site: reception's address ('' clears)")
    settings.add_argument("--reception-via", help="site: email, teams or slack")
    settings.add_argument("--teams-webhook", metavar="NAME", help="site: a [webhooks] name")
    settings.add_argument("--slack-webhook", metavar="NAME", help="site: a [webhooks] name")
    settings.add_argument("--via", help="person: email, teams or slack")
    settings.add_argument("--webhook", metavar="NAME", help="person: their own [webhooks] name")


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time, HH:MM") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date, YYYY-MM-DD") from None


def _invite(args: argparse.Namespace) -> int:
    def action() -> int:
        from datetime import UTC, datetime

        from central.keys import load_private_key
        from central.notify.invites import invite_key
        from central.visitors import InviteRequest, create_invite

        key = invite_key(load_private_key(_key_path(args)))
        request = InviteRequest(
            site_id=args.site,
            host_id=args.host,
            name=args.name,
            email=args.email,
            company=args.company,
            visitor_type=args.visitor_type,
            day=args.day,
        )
        made = _with_pool(
            _dsn(args),
            lambda pool: create_invite(pool, request, now=datetime.now(UTC), key=key),
        )
        print(made.id)
        print(
            f"invite for {made.day} at site {made.site_id}; the email with its QR code is "
            "queued (central serve sends it)",
            file=sys.stderr,
        )
        return 0

    return _guarded(action)


def _onsite(args: argparse.Namespace) -> int:
    def action() -> int:
        import json

        from central.visitors import onsite

        people = _with_pool(_dsn(args), lambda pool: onsite(pool, args.site))
        if args.json:
            print(json.dumps({"visitors": [v.to_json() for v in people]}, ensure_ascii=False))
            return 0
        if not people:
            print("no visitors are signed in" + (f" at {args.site}" if args.site else ""))
            return 0
        for v in people:
            host = v.host_name or "(no host: reception)"
            company = f" ({v.company})" if v.company else ""
            print(
                f"{v.site_id}  {v.signed_in_at:%H:%M}  {v.name}{company}  host: {host}"
                f"  lobby: {v.lobby_id}"
            )
        print(f"{len(people)} visitor{'s' if len(people) != 1 else ''} on site", file=sys.stderr)
        return 0

    return _guarded(action)


def _admin_token(args: argparse.Namespace) -> int:
    import hashlib
    import secrets

    token = secrets.token_urlsafe(32)
    print(token)
    print(
        "give the token to the admin side; put this in central's settings file:\n"
        f'[admin]\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"',
        file=sys.stderr,
    )
    return 0


def _terms(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.visitor_setup import publish_terms, split_title

        try:
            text = Path(args.file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return _fail(f"cannot read {args.file} ({type(exc).__name__})", 1)
        title, body = split_title(text)
        new = _with_pool(
            _dsn(args),
            lambda pool: publish_terms(pool, args.site, args.version, args.lang, title, body),
        )
        state = "published" if new else "already published with this text"
        print(f"terms {args.version} ({args.lang}) at site {args.site}: {state}")
        return 0

    return _guarded(action)


def _visitor_type(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.visitor_setup import VisitorType, remove_visitor_type, set_visitor_type

        if args.remove:
            gone = _with_pool(
                _dsn(args), lambda pool: remove_visitor_type(pool, args.site, args.type_id)
            )
            if not gone:
                return _fail(f"site {args.site} has no visitor type {args.type_id!r}", 1)
            print(f"visitor type {args.type_id} removed from site {args.site}")
            return 0
        names: dict[str, str] = {}
        for given in args.name:
            lang, sep, name = given.partition("=")
            if not sep:
                return _fail(f"--name {given!r}: write it as LANG=NAME, e.g. en=Guest", 1)
            names[lang.strip()] = name.strip()
        steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
        kind = VisitorType(args.type_id, names, steps, args.signature, args.position)
        _with_pool(_dsn(args), lambda pool: set_visitor_type(pool, args.site, kind))
        print(f"visitor type {args.type_id} at site {args.site}: {', '.join(steps) or 'name only'}")
        return 0

    return _guarded(action)


def _settings(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.visitor_setup import configure_site, set_notify_pref

        if args.person:
            if not args.via:
                return _fail("--person needs --via (email, teams or slack)", 1)
            _with_pool(
                _dsn(args), lambda pool: set_notify_pref(pool, args.person, args.via, args.webhook)
            )
            print(f"person {args.person} is told by {args.via}")
            return 0
        _with_pool(
            _dsn(args),
            lambda pool: configure_site(
                pool,
                args.site,
                language=args.language,
                end_of_day=args.end_of_day,
                idle_seconds=args.idle_seconds,
                reception_email=args.reception_email,
                reception_via=args.reception_via,
                teams_webhook=args.teams_webhook,
                slack_webhook=args.slack_webhook,
            ),
        )
        print(f"site {args.site}: visitor settings saved")
        return 0

    return _guarded(action)
