"""``tapin central ...``: run and operate the reference central server.

``add_parser(subparsers)`` adds a ``central`` command to an argparse parser; every
leaf sets ``func`` (``Namespace -> int`` exit status). ``python -m central`` runs the
same commands on their own. Exit status 2 means central cannot start or reach its
database (a message says why; no traceback), 1 that the operation was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any, TypeVar

from central.asgi import DEFAULT_POOL, DSN_ENV, KEY_ENV, POOL_ENV, pool_size
from central.errors import DatabaseUnavailable, ServerError, SettingsError

__all__ = ["add_parser", "main"]

T = TypeVar("T")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``central`` and its subcommands to ``subparsers`` (from ``add_subparsers()``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "central",
        help="run and operate the reference central API server (PostgreSQL)",
        description="Run and operate the reference central API server on PostgreSQL.",
    )
    _add_commands(parser)
    return parser


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="central_command", metavar="COMMAND", required=True)

    init = _command(commands, "init-db", "create or upgrade the schema and central's key", _init_db)
    _key_file(init)

    seed = _command(commands, "seed", "load the demo site and today's meetings", _seed)
    seed.add_argument("--demo", action="store_true", required=True, help="load tapin's demo site")

    serve = _command(commands, "serve", "serve the API (HTTPS with --cert and --key)", _serve)
    _key_file(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8443 with TLS, else 8080)")
    serve.add_argument("--cert", help="TLS certificate chain (PEM)")
    serve.add_argument("--key", help="TLS private key (PEM)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port, each with its own database pool (default 1)",
    )
    serve.add_argument(
        "--pool-max",
        type=int,
        default=None,
        help=f"database connections per worker (default ${POOL_ENV} or {DEFAULT_POOL})",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRS",
        help="comma-separated addresses of load balancers whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (default $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )

    code = _command(commands, "enroll-code", "make a one-time code to enroll a device", _code)
    scope = code.add_mutually_exclusive_group(required=True)
    scope.add_argument("--room", metavar="ID", help="for the panel of this room")
    scope.add_argument("--lobby", metavar="ID", help="for a kiosk in this lobby")
    code.add_argument("--site", metavar="ID", help="check that the room or lobby is at this site")
    code.add_argument("--hours", type=float, default=24.0, help="validity (default 24 hours)")

    revoke = _command(commands, "revoke", "revoke a device's credentials now", _revoke)
    revoke.add_argument("device_id", metavar="DEVICE_ID", help="the id given at enrollment")

    forget = _command(
        commands,
        "forget",
        "erase a person (and tell every device to forget them) or a visitor (by email)",
        _forget,
    )
    forget.add_argument(
        "person_id",
        metavar="PERSON_ID|EMAIL",
        help="a person's directory id, or a visitor's email address (every sign-in, photo, "
        "signature and invite of theirs is deleted)",
    )

    from central.visitor_cli import add_visitor_commands

    add_visitor_commands(commands)

    from central.floor_cli import add_floor_commands

    add_floor_commands(commands)

    cert = commands.add_parser(
        "dev-cert",
        help="make a small CA and a server certificate for trying central with TLS",
        description="Write ca.pem, server.pem and server.key into a folder (not for "
        "production: use the organisation's CA there).",
    )
    cert.add_argument("--out", required=True, help="folder to write into")
    cert.add_argument(
        "--host",
        action="append",
        help="DNS name or IP (repeatable; default localhost and 127.0.0.1)",
    )
    cert.set_defaults(func=_dev_cert)

    _command(commands, "retention", "delete history past 90 days, people inactive 365", _retain)


def _command(
    commands: Any, name: str, help: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(DSN_ENV),
        help=f"PostgreSQL connection string (default: ${DSN_ENV})",
    )
    parser.set_defaults(func=func)
    return parser


def _key_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-file",
        default=os.environ.get(KEY_ENV),
        help=f"central's X25519 private key file, mode 0600 (default: ${KEY_ENV})",
    )


def _fail(message: str, status: int) -> int:
    print(f"central: {message}", file=sys.stderr)
    return status


def _dsn(args: argparse.Namespace) -> str:
    if not args.dsn:
        raise SettingsError(f"no database: pass --dsn or set {DSN_ENV}")
    return str(args.dsn)


def _key_path(args: argparse.Namespace) -> str:
    if not args.key_file:
        raise SettingsError(f"no key file: pass --key-file or set {KEY_ENV}")
    return str(args.key_file)


def _guarded(action: Callable[[], int]) -> int:
    try:
        return action()
    except (DatabaseUnavailable, SettingsError) as exc:
        return _fail(exc.detail, 2)
    except ServerError as exc:
        return _fail(exc.detail, 1)


def _with_pool(dsn: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from central.db import open_pool

    async def run() -> T:
        async with open_pool(dsn, min_size=1, max_size=2) as pool:
            return await work(pool)

    return asyncio.run(run())


def _init_db(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.keys import load_or_create_private_key
        from central.migrate import init_db

        applied = init_db(_dsn(args))
        _, created = load_or_create_private_key(_key_path(args))
        done = ", ".join(f"{v:04d}" for v in applied) or "none (up to date)"
        print(f"migrations applied: {done}")
        print(f"central key: {args.key_file} ({'created' if created else 'kept'})")
        return 0

    return _guarded(action)


def _seed(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.seed import seed_demo

        report = _with_pool(_dsn(args), seed_demo)
        print(
            f"site {report.site_id}: {report.rooms} rooms, {report.desks} desks, "
            f"{report.people} people, {report.lobbies} lobbies, {report.meetings} meetings today, "
            f"{report.invites} visitor invites today, {report.floors} floor plans, "
            f"{report.desk_bookings} desk bookings today"
        )
        return 0

    return _guarded(action)


def _code(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.enroll import create_enrollment_code

        code = _with_pool(
            _dsn(args),
            lambda pool: create_enrollment_code(
                pool,
                room_id=args.room,
                lobby_id=args.lobby,
                site_id=args.site,
                ttl=timedelta(hours=args.hours),
            ),
        )
        print(code.code)
        print(
            f"for {code.scope_kind} {code.scope_id} at site {code.site_id}, single use, "
            f"valid until {code.expires_at.isoformat(timespec='minutes')}",
            file=sys.stderr,
        )
        return 0

    if args.hours <= 0:
        return _fail("--hours must be positive", 2)
    return _guarded(action)


def _revoke(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.admin import revoke_device

        changed = _with_pool(_dsn(args), lambda pool: revoke_device(pool, args.device_id))
        print(f"device {args.device_id} {'revoked' if changed else 'was already revoked'}")
        return 0

    return _guarded(action)


def _dev_cert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central.devcert import make_pki

    hosts = tuple(args.host or ("localhost", "127.0.0.1"))
    try:
        pki = make_pki(Path(args.out), hosts)
    except OSError as exc:
        return _fail(f"cannot write to {args.out}: {exc.strerror}", 2)
    print(f"CA (give to devices with --ca): {pki.ca_file}")
    print(f"server certificate: {pki.cert_file}  key: {pki.key_file}")
    return 0


def _forget(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.admin import forget_person
        from central.errors import NotFound
        from central.visitors import forget_visitor

        if "@" in args.person_id:
            try:
                gone = _with_pool(_dsn(args), lambda pool: forget_visitor(pool, args.person_id))
            except NotFound as exc:
                return _fail(exc.detail, 1)
            print(f"visitor forgotten: {gone.signins} sign-ins and {gone.invites} invites deleted")
            return 0
        try:
            report = _with_pool(_dsn(args), lambda pool: forget_person(pool, args.person_id))
        except NotFound as exc:
            return _fail(exc.detail, 1)
        print(
            f"person {args.person_id} forgotten at site {report.site_id}; "
            f"{report.commands} devices will purge their copies at their next sync"
        )
        return 0

    return _guarded(action)


def _retain(args: argparse.Namespace) -> int:
    def action() -> int:
        from datetime import UTC, datetime

        from central.retention import run_retention

        counts = _with_pool(_dsn(args), lambda pool: run_retention(pool, datetime.now(UTC)))
        for table, deleted in counts.items():
            print(f"{table}: {deleted} deleted")
        return 0

    return _guarded(action)


def _serve(args: argparse.Namespace) -> int:
    def action() -> int:
        import uvicorn

        from central.keys import load_private_key
        from central.migrate import applied_versions, migrations

        if bool(args.cert) != bool(args.key):
            raise SettingsError("give both --cert and --key for TLS, or neither")
        dsn = _dsn(args)
        load_private_key(_key_path(args))  # a bad key file stops us here, not in each worker
        if len(applied_versions(dsn)) < len(migrations()):
            raise SettingsError("the database schema is not up to date; run `init-db` first")
        if args.workers < 1:
            raise SettingsError("--workers must be at least 1")
        pool = pool_size(args.pool_max if args.pool_max is not None else os.environ.get(POOL_ENV))
        tls = bool(args.cert)
        if not tls:
            print("central: serving plain HTTP; devices need TLS in front", file=sys.stderr)
        # the workers (spawned processes) read their settings from the environment
        key_path = os.path.abspath(_key_path(args))
        os.environ.update({DSN_ENV: dsn, KEY_ENV: key_path, POOL_ENV: str(pool)})
        settings: dict[str, Any] = {
            "factory": True,
            "workers": args.workers,
            "host": args.host,
            "port": args.port or (8443 if tls else 8080),
            "ssl_certfile": args.cert,
            "ssl_keyfile": args.key,
            "forwarded_allow_ips": args.forwarded_allow_ips,
            "date_header": False,  # the app sends its own Date on every response
            "server_header": False,
        }
        if args.workers == 1:
            uvicorn.run("central.asgi:app_from_env", **settings)
        else:
            _run_workers(uvicorn.Config("central.asgi:app_from_env", **settings))
        return 0

    return _guarded(action)


def _run_workers(config: Any) -> None:
    """uvicorn's supervisor of ``config.workers`` processes on one listening socket.

    uvicorn binds that socket with protocol 0, and asyncio then leaves Nagle's algorithm
    on for every accepted connection: each keep-alive answer waits for the client's
    delayed ACK, about 40 ms on Linux (uvicorn issue #3149). The same socket, labelled
    TCP, gets ``TCP_NODELAY`` in every worker as a single process does.
    """
    import socket

    from uvicorn.supervisors import Multiprocess

    bound = config.bind_socket()
    listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    listener.set_inheritable(True)
    with suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[listener]).run()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m central COMMAND ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m central", description="Run and operate the reference central API server."
    )
    _add_commands(parser)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
