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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from central.asgi import DEFAULT_POOL, DSN_ENV, KEY_ENV, POOL_ENV, pool_size
from central.errors import DatabaseUnavailable, ServerError, SettingsError

__all__ = ["ServeHooks", "add_parser", "main"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServeHooks:
    """Process plumbing ``serve`` takes from whoever mounts this command line: central
    imports nothing of the device runtime (the layout's arrows), so ``tapin central``
    (tapin.cli, the top floor) hands in systemd's notification and the house log lines,
    and ``python -m central`` runs plain uvicorn."""

    log_config: Callable[[], dict[str, Any]] | None = None
    """uvicorn's ``log_config`` (``None``: uvicorn's own)."""
    wrap_server: Callable[[type], type] = field(default=lambda cls: cls)
    """Wraps ``uvicorn.Server`` (one process), e.g. to send READY=1 once it listens."""
    wrap_supervisor: Callable[[type], type] = field(default=lambda cls: cls)
    """Wraps uvicorn's ``Multiprocess`` supervisor (``--workers`` > 1)."""


def add_parser(subparsers: Any, hooks: ServeHooks | None = None) -> argparse.ArgumentParser:
    """Add ``central`` and its subcommands to ``subparsers`` (from ``add_subparsers()``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "central",
        help="run and operate the reference central API server (PostgreSQL)",
        description="Run and operate the reference central API server on PostgreSQL.",
    )
    _add_commands(parser)
    parser.set_defaults(serve_hooks=hooks or ServeHooks())
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
    from central.calendars.cli import calendars_option

    calendars_option(serve)  # room calendars synced (and retention run) on a schedule

    code = _command(commands, "enroll-code", "make one-time codes to enroll devices", _code)
    code.add_argument("--room", metavar="ID", help="for the panel of this room")
    code.add_argument("--lobby", metavar="ID", help="for a kiosk in this lobby")
    code.add_argument("--rooms", metavar="ID,ID", help="one code per room (CSV out)")
    code.add_argument("--lobbies", metavar="ID,ID", help="one code per lobby (CSV out)")
    code.add_argument("--all-rooms", action="store_true", help="every room of --site (CSV out)")
    code.add_argument("--all-lobbies", action="store_true", help="every lobby of --site (CSV out)")
    code.add_argument("--site", metavar="ID", help="check that the room or lobby is at this site")
    code.add_argument(
        "--hours", type=float, default=24.0, help="validity (default 24 hours, at most 7 days)"
    )
    code.add_argument(
        "--csv", action="store_true", help="print scope,code,expires lines even for one code"
    )

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

    from central.portal_cli import add_admin_commands

    add_admin_commands(commands)

    from central.calendars.cli import add_calendar_commands

    add_calendar_commands(commands)

    from central.directory_cli import add_directory_commands

    add_directory_commands(commands)

    from central.fleet_cli import add_fleet_commands

    add_fleet_commands(commands)

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


def _synced(reports: Iterable[Any]) -> Iterator[Any]:
    """The sync ``reports`` of the sites synced now; a site another process was syncing
    (``report.skipped``) is said so on stdout and left out."""
    for report in reports:
        if report.skipped:
            print(f"site {report.site_id}: another process is syncing it now; skipped")
            continue
        yield report


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
    """``enroll-code``: one code (printed alone, its scope on stderr) or many (CSV)."""

    def ids(text: str | None) -> list[str]:
        return [part.strip() for part in (text or "").split(",") if part.strip()]

    rooms = ids(args.room) + ids(args.rooms)
    lobbies = ids(args.lobby) + ids(args.lobbies)

    def action() -> int:
        from central.enroll import codes_csv, make_codes

        codes = _with_pool(
            _dsn(args),
            lambda pool: make_codes(
                pool,
                rooms=rooms,
                lobbies=lobbies,
                all_rooms=args.all_rooms,
                all_lobbies=args.all_lobbies,
                site_id=args.site,
                ttl=timedelta(hours=args.hours),
            ),
        )
        single = args.room or args.lobby
        if len(codes) == 1 and single and not args.csv:
            code = codes[0]
            print(code.code)
            print(
                f"for {code.scope_kind} {code.scope_id} at site {code.site_id}, single use, "
                f"valid until {code.expires_at.isoformat(timespec='minutes')}",
                file=sys.stderr,
            )
        else:
            sys.stdout.write(codes_csv(codes))
            print(f"{len(codes)} single-use codes", file=sys.stderr)
        return 0

    if not (rooms or lobbies or args.all_rooms or args.all_lobbies):
        return _fail(
            "say which devices: --room ID, --lobby ID, --rooms A,B, --lobbies A,B, "
            "--all-rooms --site S or --all-lobbies --site S",
            2,
        )
    if (args.all_rooms or args.all_lobbies) and not args.site:
        return _fail("--all-rooms and --all-lobbies need --site SITE", 2)
    if not 0 < args.hours <= 7 * 24:
        return _fail(f"--hours must be more than 0 and at most {7 * 24} (7 days)", 2)
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
        from central.servecheck import check_port, check_tls

        if bool(args.cert) != bool(args.key):
            raise SettingsError("give both --cert and --key for TLS, or neither")
        if args.cert:
            check_tls(args.cert, args.key)  # before the database: files are the usual mistake
        dsn = _dsn(args)
        load_private_key(_key_path(args))  # a bad key file stops us here, not in each worker
        if len(applied_versions(dsn)) < len(migrations()):
            raise SettingsError(
                "the database has no schema or an old one; run tapin central init-db first"
            )
        if args.workers < 1:
            raise SettingsError("--workers must be at least 1")
        check_port(args.host, args.port or (8443 if args.cert else 8080))
        pool = pool_size(args.pool_max if args.pool_max is not None else os.environ.get(POOL_ENV))
        tls = bool(args.cert)
        if not tls:
            print("central: serving plain HTTP; devices need TLS in front", file=sys.stderr)
        # the workers (spawned processes) read their settings from the environment
        key_path = os.path.abspath(_key_path(args))
        os.environ.update({DSN_ENV: dsn, KEY_ENV: key_path, POOL_ENV: str(pool)})
        if args.calendars:
            from central.calendars.settings import CALENDARS_ENV, load_calendar_settings

            load_calendar_settings(args.calendars)  # wrong settings stop us here
            os.environ[CALENDARS_ENV] = os.path.abspath(args.calendars)
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
        hooks: ServeHooks = getattr(args, "serve_hooks", None) or ServeHooks()
        if hooks.log_config is not None:  # timestamped lines, the access log's too
            settings["log_config"] = hooks.log_config()
        if args.workers == 1:
            _run_single(uvicorn.Config("central.asgi:app_from_env", **settings), hooks)
        else:
            _run_workers(uvicorn.Config("central.asgi:app_from_env", **settings), hooks)
        return 0

    return _guarded(action)


def _run_workers(config: Any, hooks: ServeHooks) -> None:
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
        hooks.wrap_supervisor(Multiprocess)(config, sockets=[listener]).run()


def _run_single(config: Any, hooks: ServeHooks) -> None:
    """``uvicorn.run`` for one process (wrapped by ``hooks``: under ``tapin central``
    it tells systemd when it listens). Exits with uvicorn's status 3 when the server
    did not start."""
    import uvicorn

    server = hooks.wrap_server(uvicorn.Server)(config)
    with suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m central COMMAND ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m central", description="Run and operate the reference central API server."
    )
    _add_commands(parser)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
