"""``tapin central admin create|list``: the portal's administrators from the command line.

Mounted by :mod:`central.cli` (same options, exit statuses and messages: 0 done, 1
refused with a one-line reason, 2 central cannot reach its database or settings).
The password is read from the terminal (asked twice) or, when standard input is not a
terminal, from its first line; it is never an argument (arguments show in ``ps``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from central.cli import _command as command
from central.cli import _dsn, _fail, _guarded, _with_pool
from central.errors import BadRequest

__all__ = ["add_admin_commands"]


def add_admin_commands(commands: Any) -> None:
    """Add ``admin create`` and ``admin list`` to ``commands`` (argparse subparsers)."""
    admin = commands.add_parser(
        "admin",
        help="the admin portal's administrators (create, list)",
        description="Manage the administrators of the admin portal (/admin); each command "
        "takes --dsn (default: $TAPIN_CENTRAL_DSN).",
    )
    leaves = admin.add_subparsers(
        dest="admin_command", metavar="COMMAND", required=True, help="create or list"
    )
    create = command(
        leaves, "create", "make an administrator (TOTP is set up at first sign-in)", _create
    )
    create.add_argument("--email", required=True, help="their email: they sign in with it")
    create.add_argument(
        "--role",
        default="global",
        choices=("global", "site_admin", "receptionist", "technician"),
        help="their role (default global: every site, and managing admins)",
    )
    create.add_argument("--site", metavar="ID", help="the site of a site role")
    command(leaves, "list", "list the administrators and their roles", _list)


def _read_password() -> str:
    """Raises :class:`BadRequest` when the two entries differ or nothing was given."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise BadRequest("the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if not first:
        raise BadRequest("no password given (type it, or pipe it on standard input)")
    return first


def _create(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.portal.store import create_admin

        dsn = _dsn(args)
        if args.role != "global" and not args.site:
            return _fail(f"--site is needed with --role {args.role}", 1)
        password = _read_password()
        admin_id = _with_pool(
            dsn,
            lambda pool: create_admin(
                pool, args.email, password, args.role, None if args.role == "global" else args.site
            ),
        )
        where = "every site" if args.role == "global" else f"site {args.site}"
        print(f"admin {admin_id} created: {args.role} at {where}")
        print("two-factor sign-in (TOTP) is set up at their first sign-in at /admin/signin")
        return 0

    return _guarded(action)


def _list(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.portal.store import list_admins

        admins = _with_pool(_dsn(args), list_admins)
        if not admins:
            print("no administrators yet: make one with `tapin central admin create`")
        for admin in admins:
            roles = ", ".join(
                role if site is None else f"{role}@{site}" for site, role in admin.roles.items()
            )
            totp = "TOTP set up" if admin.totp_enrolled else "TOTP at first sign-in"
            print(f"{admin.id}\t{admin.email}\t{roles or 'no role'}\t{totp}")
        return 0

    return _guarded(action)
