"""Running calendar sync as technicians and ``serve`` do: the settings file, the command,
the ETag fallback, the schedule inside ``serve``, and credentials that never show."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from central import SettingsError
from central.asgi import DSN_ENV, KEY_ENV, app_from_env
from central.calendars.base import booking_uid
from central.calendars.caldav import CalDavConnector
from central.calendars.outbox import enqueue_writebacks
from central.calendars.settings import CALENDARS_ENV, SiteCalendars, load_calendar_settings
from central.calendars.sync import sync_site
from central.db import open_pool
from central.keys import load_or_create_private_key
from tests.central.calendars.conftest import ics, vevent
from tests.central.calendars.radicale import PASSWORD, USER, Radicale
from tests.central.conftest import NOW, World, at, seed_world


def _settings_file(tmp_path: Path, server: Radicale, calendar: Any, password: str) -> Path:
    path = tmp_path / "calendars.toml"
    path.write_text(
        f'[sites.alpha]\nurl = "{server.url}"\nuser = "{USER}"\npassword = "{password}"\n'
        f'[sites.alpha.rooms]\nr2 = "{calendar.url}"\n'
    )
    path.chmod(0o600)
    return path


def _sync_once(settings: Path, dsn: str) -> int:
    from central.cli import main

    return main(["calendar", "sync", "--once", "--calendars", str(settings), "--dsn", dsn])


async def test_sync_once_reports_what_it_did_and_never_shows_the_password(
    world: World,
    db: str,
    server: Radicale,
    calendar: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    good = _settings_file(tmp_path, server, calendar, PASSWORD)
    assert await asyncio.to_thread(_sync_once, good, db) == 0
    done = capsys.readouterr()
    assert "site alpha: 1 rooms synced (1 read in full), 1 events changed" in done.out
    assert "requests" in done.out
    assert await world.count("meetings", "room_id = 'r2'") == 1

    wrong = "wr0ng-but-secret"
    bad = _settings_file(tmp_path, server, calendar, wrong)
    assert await asyncio.to_thread(_sync_once, bad, db) == 1
    refused = capsys.readouterr()
    assert "room r2: calendar sync: the calendar server refused the credentials" in refused.out

    bad.chmod(0o644)
    assert await asyncio.to_thread(_sync_once, bad, db) == 2
    loose = capsys.readouterr()
    assert loose.err.strip().splitlines() == [
        f"central: calendar settings file {bad}: permissions 0644 are too open "
        "(it holds secrets); use 0600"
    ]
    everything = done.out + done.err + refused.out + refused.err + loose.out + caplog.text
    assert caplog.records and PASSWORD not in everything and wrong not in everything


async def test_the_password_is_not_in_central_s_own_log(
    world: World, site: SiteCalendars, calendar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    connector = CalDavConnector(site.url, site.user, site.password)
    await sync_site(world.pool, site, connector, NOW)
    wrong = CalDavConnector(site.url, site.user, "not-the-password-either")
    report = await sync_site(world.pool, site, wrong, NOW)
    assert report.failed
    assert caplog.records
    assert PASSWORD not in caplog.text and "not-the-password-either" not in caplog.text
    assert PASSWORD not in repr(site) and PASSWORD not in repr(connector)


def test_settings_are_checked_in_words(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"

    def refused(text: str, env: dict[str, str] | None = None) -> str:
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(SettingsError) as caught:
            load_calendar_settings(str(path), env or {})
        return caught.value.detail

    rooms = '[sites.a.rooms]\nr = "room/"\n'
    assert "https://" in refused('[sites.a]\nurl = "http://example.org/"\n' + rooms)
    assert "rooms" in refused('[sites.a]\nurl = "https://example.org/"\n')
    assert "on the server of" in refused(
        '[sites.a]\nurl = "https://a.org/"\n[sites.a.rooms]\nr = "https://b.org/c/"\n'
    )
    assert "$PW is not set" in refused(
        '[sites.a]\nurl = "https://x.org/"\nuser = "u"\npassword_env = "PW"\n' + rooms
    )
    path.write_text(
        '[sites.a]\nurl = "https://x.org/d/"\nuser = "u"\npassword_env = "PW"\n' + rooms
    )
    settings = load_calendar_settings(str(path), {"PW": "from-the-secret-store"})
    site = settings.sites["a"]
    assert (site.password, site.rooms) == ("from-the-secret-store", {"r": "https://x.org/d/room/"})
    assert "from-the-secret-store" not in repr(settings)


async def test_the_ctag_and_etag_fallback_reads_only_what_changed(
    world: World, site: SiteCalendars, calendar: Any
) -> None:
    connector = CalDavConnector(site.url, site.user, site.password, sync_collection=False)
    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    calendar.save_event(ics(vevent("two", at(12), at(13), "Lunch talk")))
    first = await sync_site(world.pool, site, connector, NOW)
    assert (first.changed, first.full) == (2, 1)
    quiet = await sync_site(world.pool, site, connector, NOW)
    assert (quiet.changed, quiet.requests) == (0, 1)  # the ctag alone
    calendar.event_by_uid("two").delete()
    gone = await sync_site(world.pool, site, connector, NOW)
    assert (gone.removed, gone.changed) == (1, 0)
    assert await world.count("meetings", "room_id = 'r2'") == 1


async def test_an_expired_sync_token_or_a_wrong_calendar_url(
    world: World, site: SiteCalendars, calendar: Any, connector: CalDavConnector
) -> None:
    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    await sync_site(world.pool, site, connector, NOW)
    async with world.pool.connection() as conn:
        await conn.execute(
            "UPDATE room_calendars SET sync_token = %s", ["http://radicale.org/ns/sync/" + "0" * 64]
        )
    expired = await sync_site(world.pool, site, connector, NOW)
    assert (expired.failed, expired.full, expired.rooms) == ({}, 1, 1)
    assert await world.count("meetings", "room_id = 'r2'") == 1

    wrong = replace(site, rooms={"r2": site.url + "tapin/no-such-calendar/"})
    missing = await sync_site(world.pool, wrong, connector, NOW)
    assert missing.failed == {"r2": "calendar sync: no such calendar on the server"}
    again = await sync_site(world.pool, site, connector, NOW)
    assert again.failed == {}
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT sync_token FROM room_calendars")
        row = await cur.fetchone()
    assert row is not None and not row[0].startswith("ctag:")  # RFC 6578 still in use


async def test_serve_syncs_and_writes_back_on_its_schedule(
    db: str,
    server: Radicale,
    calendar: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app every ``serve`` worker runs (``app_from_env``), with the settings file."""
    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    async with open_pool(db, min_size=1, max_size=1) as pool:
        await seed_world(pool)
    load_or_create_private_key(tmp_path / "central.key")
    monkeypatch.setenv(DSN_ENV, db)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "central.key"))
    monkeypatch.setenv(CALENDARS_ENV, str(_settings_file(tmp_path, server, calendar, PASSWORD)))
    app = app_from_env(gc_tuning=False)
    async with app.router.lifespan_context(app):
        pool = app.state.central.pool
        jobs = {job.id for job in app.state.calendar_scheduler.get_jobs()}
        assert jobs == {"calendar-sync-alpha", "calendar-writeback", "retention"}
        assert await _eventually(pool, "SELECT count(*) FROM meetings WHERE room_id = 'r2'")
        async with pool.connection() as conn:  # a booking as the applier makes it
            await conn.execute(
                "INSERT INTO bookings (id, site_id, resource, during)"
                " VALUES ('bk-s', 'alpha', 'room:r2', tstzrange(%s, %s))",
                [at(13), at(14)],
            )
            await enqueue_writebacks(conn, ["bk-s"])
        assert await _eventually(
            pool, "SELECT count(*) FROM calendar_writebacks WHERE outcome = 'written'"
        )
    assert calendar.event_by_uid(booking_uid("bk-s"))


async def _eventually(pool: Any, sql: str) -> int:
    """The count ``sql`` gives once it is not 0 (a loaded machine: up to 30 s)."""
    for _ in range(300):
        async with pool.connection() as conn:
            cur = await conn.execute(sql)
            row = await cur.fetchone()
        if row and row[0]:
            return int(row[0])
        await asyncio.sleep(0.1)
    return 0
