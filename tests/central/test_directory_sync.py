"""Directory sync into a real central on PostgreSQL: people from Microsoft Graph's
``/users/delta`` (the local HTTPS stand-in) and from a CSV export, seen in the device
snapshots; people who vanish become inactive, never shown, and are purged a year later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from central.calendars.graph import GraphConnector
from central.cli import main
from central.directory_sync import read_csv, sync_directory
from central.errors import SettingsError
from central.retention import run_retention
from tests.central.calendars.graph_server import (
    CLIENT_ID,
    SECRET,
    TENANT,
    GraphStandIn,
    graph_server,
)
from tests.central.conftest import NOW, Device, World, at


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphStandIn]:
    with graph_server(tmp_path / "pki") as running:
        yield running


@pytest.fixture
def connector(graph: GraphStandIn) -> Iterator[GraphConnector]:
    made = GraphConnector(
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        graph_url=graph.graph_url,
        authority=graph.authority,
        ca_file=graph.ca_file,
        page_size=2,
    )
    yield made
    made.close()


async def _people(world: World, device: Device) -> dict[str, dict[str, Any]]:
    response = await world.client.get("/v1/snapshot/directory", headers=device.headers)
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["people"]}


async def _inactive(world: World) -> dict[str, bool]:
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT name, inactive_since IS NOT NULL FROM people WHERE source IS NOT NULL"
        )
        return dict(await cur.fetchall())


def _users(graph: GraphStandIn) -> None:
    graph.set_user(
        "u-vera",
        displayName="Vera Visible",
        mail="Vera@example.com",
        jobTitle="Staff engineer",
        department="Platform",
        businessPhones=["+46 8 123 45"],
        accountEnabled=True,
    )
    graph.set_user("u-nina", displayName="Nina New", mail="nina@example.com", jobTitle="Designer")
    graph.set_user("u-olle", displayName="Olle Other", mail="olle@example.com")
    graph.set_user(
        "u-room", displayName="Room Two", mail="room-two@contoso.com", accountEnabled=False
    )
    graph.set_user("u-guest", displayName="Gus Guest", mail="gus@partner.example", userType="Guest")
    graph.groups["g-visible"] = {"u-vera", "u-nina"}


async def test_people_come_from_graph_and_who_vanishes_is_never_shown_again(
    world: World,
    graph: GraphStandIn,
    connector: GraphConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    panel = await world.enroll(room="r1")
    _users(graph)

    first = await sync_directory(
        world.pool, "alpha", "graph", NOW, connector=connector, visible_group="g-visible"
    )
    assert (first.added, first.updated, first.full, first.failed) == (2, 1, True, None)
    shown = await _people(world, panel)
    # Vera was in central already (by email): adopted, same id, filled from Graph
    assert shown["Vera Visible"]["id"] == "p-vis"
    assert (shown["Vera Visible"]["title"], shown["Vera Visible"]["phone"]) == (
        "Staff engineer",
        "+46 8 123 45",
    )
    assert "Nina New" in shown and "Olle Other" not in shown  # not in the visible group
    assert not {"Room Two", "Gus Guest"} & set(shown)  # a room mailbox and a guest: nobody
    assert first.requests == 4  # users in pages of two (3) + the group (1)

    graph.set_user("u-nina", jobTitle="Design lead")  # delta: only what changed
    graph.remove_user("u-olle")
    before = len(graph.graph_requests())
    again = await sync_directory(
        world.pool, "alpha", "graph", NOW, connector=connector, visible_group="g-visible"
    )
    assert (again.full, again.inactivated) == (False, 1)
    users = [p for _, p in graph.graph_requests()[before:] if "/users/" in p]
    assert len(users) == 1 and "$deltatoken" in users[0]
    nina = (await _people(world, panel))["Nina New"]
    assert (nina["title"], nina["name"]) == ("Design lead", "Nina New")

    graph.set_user("u-nina", accountEnabled=False)  # left the company
    await sync_directory(
        world.pool, "alpha", "graph", NOW, connector=connector, visible_group="g-visible"
    )
    assert "Nina New" not in await _people(world, panel)
    assert await _inactive(world) == {
        "Vera Visible": False,
        "Nina New": True,
        "Olle Other": True,
    }
    assert SECRET not in caplog.text and "tok-" not in caplog.text


async def test_an_inactive_organiser_is_nobody_and_retention_purges_after_a_year(
    world: World,
) -> None:
    panel = await world.enroll(room="r1")
    async with world.pool.connection() as conn:
        await conn.execute(
            "UPDATE people SET source = 'csv', source_id = email, inactive_since = %s"
            " WHERE id = 'p-vis'",
            [NOW - timedelta(days=300)],
        )
    calendar = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r1"}, headers=panel.headers
    )
    roadmap = [m for m in calendar.json()["meetings"] if m["subject"] == "Roadmap"]
    assert roadmap[0]["organiser_id"] is None and roadmap[0]["attendee_ids"] == []
    assert "Vera Visible" not in await _people(world, panel)

    kept = await run_retention(world.pool, at(9))
    assert await world.count("people", "id = 'p-vis'") == 1 and kept["people"] == 0
    purged = await run_retention(world.pool, at(9) + timedelta(days=66))
    assert purged["people"] == 1 and await world.count("people", "id = 'p-vis'") == 0


GOOGLE_EXPORT = (
    "First Name [Required],Last Name [Required],Email Address [Required],"
    "Employee Title,Department,Work Phone,Status [READ ONLY]\n"
    "Vera,Visible,vera@example.com,Engineer,R&D,+46 1,Active\n"
    "Siri,Suspended,siri@example.com,,,,Suspended\n"
    "Karl,Csv,karl@example.com,Chef,Kitchen,,Active\n"
)


async def test_a_csv_export_from_the_google_admin_console_is_the_directory(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str
) -> None:
    panel = await world.enroll(room="r1")
    export = tmp_path / "users.csv"
    export.write_text(GOOGLE_EXPORT, "utf-8")
    argv = ["directory", "sync", "--once", "--site", "alpha", "--csv", str(export), "--dsn", db]
    assert await asyncio.to_thread(main, argv) == 0
    assert "1 added, 1 updated" in capsys.readouterr().out  # Siri was never here: nobody
    shown = await _people(world, panel)
    assert (shown["Karl Csv"]["title"], shown["Vera Visible"]["department"]) == ("Chef", "R&D")
    assert "Siri Suspended" not in shown

    export.write_text(GOOGLE_EXPORT.replace("Karl,Csv,karl@example.com,Chef,Kitchen,,Active\n", ""))
    report = await sync_directory(world.pool, "alpha", "csv", NOW, csv_path=str(export))
    assert report.inactivated == 1 and "Karl Csv" not in await _people(world, panel)

    export.write_text("Email,Name\nbroken-line,\n")
    with pytest.raises(SettingsError, match=r"users.csv line 2: needs an email and a name"):
        read_csv(str(export))
    argv = ["directory", "sync", "--once", "--csv", str(export), "--dsn", db]
    assert await asyncio.to_thread(main, argv) == 2
    assert "needs --site" in capsys.readouterr().err


async def test_serve_syncs_the_directory_and_the_room_mailbox_on_its_schedule(
    db: str, graph: GraphStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app every ``serve`` worker runs, with a Microsoft 365 site in the settings."""
    from central.asgi import DSN_ENV, KEY_ENV, app_from_env
    from central.calendars.settings import CALENDARS_ENV
    from central.db import open_pool
    from central.keys import load_or_create_private_key
    from tests.central.conftest import seed_world

    _users(graph)
    graph.add_event("room-two@contoso.com", "Planning", at(10), at(11))
    settings = tmp_path / "calendars.toml"
    settings.write_text(
        f'[sites.alpha]\nconnector = "graph"\ntenant = "{TENANT}"\nclient_id = "{CLIENT_ID}"\n'
        f'client_secret = "{SECRET}"\nauthority = "{graph.authority}"\n'
        f'graph_url = "{graph.graph_url}"\nca_file = "{graph.ca_file}"\nwriteback = false\n'
        'directory = "graph"\n[sites.alpha.rooms]\nr2 = "room-two@contoso.com"\n'
    )
    settings.chmod(0o600)
    async with open_pool(db, min_size=1, max_size=1) as pool:
        await seed_world(pool)
    load_or_create_private_key(tmp_path / "central.key")
    monkeypatch.setenv(DSN_ENV, db)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "central.key"))
    monkeypatch.setenv(CALENDARS_ENV, str(settings))
    app = app_from_env(gc_tuning=False)
    async with app.router.lifespan_context(app):
        pool = app.state.central.pool
        jobs = {job.id for job in app.state.calendar_scheduler.get_jobs()}
        assert jobs == {"calendar-sync-alpha", "directory-sync-alpha", "retention"}
        for _ in range(300):  # a loaded machine: up to 30 s
            meetings = await world_count(pool, "meetings WHERE room_id = 'r2'")
            people = await world_count(pool, "people WHERE source = 'graph'")
            if meetings and people:
                break
            await asyncio.sleep(0.1)
    assert (meetings, people) == (1, 3)  # Vera (adopted), Nina, Olle


async def world_count(pool: Any, what: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM {what}")
        row = await cur.fetchone()
    return int(row[0]) if row else 0
