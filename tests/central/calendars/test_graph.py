"""Central ↔ Microsoft Graph (the local HTTPS stand-in in graph_server.py), seen where a
user sees it: the panel's calendar snapshot from a real central on PostgreSQL, and the
room mailbox's calendar."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.calendars.base import AuthFailed, SyncState, booking_uid
from central.calendars.graph import MAX_RETRIES, GraphConnector, connector_for
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site, window_for
from central.calendars.writeback import drain_writebacks
from tests.central.calendars.graph_server import (
    CLIENT_ID,
    SECRET,
    TENANT,
    GraphStandIn,
    graph_server,
    parse_query,
    when,
)
from tests.central.conftest import NOW, TODAY, ZONE, Device, World, at

ROOM = "room-two@contoso.com"


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphStandIn]:
    with graph_server(tmp_path / "pki") as running:
        yield running


@pytest.fixture
def site(graph: GraphStandIn) -> SiteCalendars:
    return SiteCalendars(
        site_id="alpha",
        connector="graph",
        url=graph.graph_url,
        user=CLIENT_ID,
        password=SECRET,
        rooms={"r2": ROOM},
        tenant=TENANT,
        authority=graph.authority,
        ca_file=graph.ca_file,
    )


class Sleeps(list[float]):
    """Records each throttling wait (and waits it, briefly)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _connector(graph: GraphStandIn, sleeps: Sleeps | None = None, **kwargs: Any) -> GraphConnector:
    return GraphConnector(
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=kwargs.pop("secret", SECRET),
        graph_url=graph.graph_url,
        authority=graph.authority,
        ca_file=graph.ca_file,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **kwargs,
    )


@pytest.fixture
def connector(graph: GraphStandIn) -> Iterator[GraphConnector]:
    made = _connector(graph)
    yield made
    made.close()


async def _calendar(world: World, panel: Device) -> list[dict[str, Any]]:
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r2"}, headers=panel.headers
    )
    assert response.status_code == 200, response.text
    meetings: list[dict[str, Any]] = response.json()["meetings"]
    return meetings


def _times(meeting: dict[str, Any]) -> tuple[str, str]:
    return meeting["start"][11:16], meeting["end"][11:16]


def _person(address: str) -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": address}}


def _series(graph: GraphStandIn) -> None:
    """A weekly series as calendarView expands it: last week's, today's moved to 14:00
    (an exception), next week's cancelled, the week after's as planned."""
    week = timedelta(days=7)
    for n in (-1, 0, 1, 2):
        start = at(12) + n * week
        moved = n == 0
        graph.add_event(
            ROOM,
            "Weekly (moved)" if moved else "Weekly",
            at(14) if moved else start,
            at(15) if moved else start + timedelta(hours=1),
            type="exception" if moved else "occurrence",
            seriesMasterId="AAMkSeriesMaster1",
            originalStart=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            isCancelled=n == 1,
        )


async def test_events_made_in_outlook_reach_the_panel_after_one_sync(
    world: World, graph: GraphStandIn, site: SiteCalendars, connector: GraphConnector
) -> None:
    panel = await world.enroll(room="r2")
    graph.add_event(
        ROOM,
        "Standup",
        at(10),
        at(10, 30),
        organizer=_person("VERA@example.com"),
        attendees=[_person("ivan@example.com"), _person("vera@example.com"), _person(ROOM)],
    )
    _series(graph)
    private = graph.add_event(ROOM, "Secret merger", at(16), at(17), sensitivity="private")
    moving = graph.add_event(ROOM, "Will move", at(17), at(17, 30))
    cancelling = graph.add_event(ROOM, "Will be cancelled", at(18), at(18, 30))

    report = await sync_site(world.pool, site, connector, NOW)
    assert (report.rooms, report.failed, report.full) == (1, {}, 1)
    shown = await _calendar(world, panel)
    assert [_times(m) for m in shown] == [
        ("10:00", "10:30"),
        ("14:00", "15:00"),
        ("16:00", "17:00"),
        ("17:00", "17:30"),
        ("18:00", "18:30"),
    ]
    by_subject = {m["subject"]: m for m in shown if m["subject"]}
    assert by_subject["Standup"]["organiser_id"] == "p-vis"  # by email, case aside
    assert by_subject["Standup"]["attendee_ids"] == ["p-vis"]  # invisible and room: nobody
    assert "Weekly (moved)" in by_subject and "Weekly" not in by_subject
    [secret] = [m for m in shown if m["private"]]
    assert secret["subject"] is None and secret["organiser_id"] is None
    week = timedelta(days=7)
    on = "room_id = 'r2' AND lower(during) = %s"
    assert await world.count("meetings", on, at(12, day=TODAY + week)) == 0  # cancelled
    assert await world.count("meetings", on, at(12, day=TODAY + 2 * week)) == 1

    graph.update_event(ROOM, moving, subject="Moved", start=when(at(19)), end=when(at(19, 30)))
    graph.update_event(ROOM, cancelling, isCancelled=True)
    graph.delete_event(ROOM, private)
    before = len(graph.graph_requests())
    again = await sync_site(world.pool, site, connector, NOW)
    assert (again.full, again.failed, again.requests) == (0, {}, 1)
    [(method, path)] = graph.graph_requests()[before:]  # the delta link, nothing else
    assert method == "GET" and "calendarView/delta" in path and parse_query(path)["$deltatoken"]
    assert [(m["subject"], *_times(m)) for m in await _calendar(world, panel)] == [
        ("Standup", "10:00", "10:30"),
        ("Weekly (moved)", "14:00", "15:00"),
        ("Moved", "19:00", "19:30"),
    ]
    quiet = await sync_site(world.pool, site, connector, NOW)
    assert (quiet.changed, quiet.removed, quiet.requests) == (0, 0, 1)


async def test_pages_are_followed_and_an_expired_delta_link_reads_it_all(
    world: World, graph: GraphStandIn, site: SiteCalendars
) -> None:
    panel = await world.enroll(room="r2")
    for hour in range(10, 15):
        graph.add_event(ROOM, f"At {hour}", at(hour), at(hour, 30))
    connector = _connector(graph, page_size=2)
    try:
        report = await sync_site(world.pool, site, connector, NOW)
        assert (report.requests, report.failed) == (3, {})  # 2 + 2 + 1 per page
        assert sum("$skiptoken" in p for _, p in graph.graph_requests()) == 2
        assert [m["subject"] for m in await _calendar(world, panel)] == [
            f"At {h}" for h in range(10, 15)
        ]
        graph.forget_delta_links = True
        graph.add_event(ROOM, "At 16", at(16), at(16, 30))
        again = await sync_site(world.pool, site, connector, NOW)
        assert (again.full, again.failed) == (1, {})
        assert len(await _calendar(world, panel)) == 6
    finally:
        connector.close()


async def test_throttling_is_waited_out_as_graph_asks_within_bounds(
    world: World, graph: GraphStandIn, site: SiteCalendars
) -> None:
    await world.enroll(room="r2")
    graph.add_event(ROOM, "Standup", at(10), at(10, 30))
    sleeps = Sleeps()
    connector = _connector(graph, sleeps)
    try:
        graph.throttle = [2]
        report = await sync_site(world.pool, site, connector, NOW)
        assert (report.rooms, report.failed, sleeps) == (1, {}, [2.0])
        assert report.requests == 2  # the 429 and the retry

        graph.throttle = [120]  # longer than we wait: this sync fails, the next one reads
        later = await sync_site(world.pool, site, connector, NOW)
        assert "throttling (429)" in later.failed["r2"] and sleeps == [2.0]

        graph.throttle = [1] * (MAX_RETRIES + 1)  # never answered: bounded
        bounded = await sync_site(world.pool, site, connector, NOW)
        assert "throttling" in bounded.failed["r2"] and len(sleeps) == 1 + MAX_RETRIES
        assert (await sync_site(world.pool, site, connector, NOW)).failed == {}
    finally:
        connector.close()


async def test_an_expired_token_is_acquired_again_once_and_secrets_are_never_logged(
    world: World,
    graph: GraphStandIn,
    site: SiteCalendars,
    connector: GraphConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await world.enroll(room="r2")
    graph.add_event(ROOM, "Standup", at(10), at(10, 30))
    await sync_site(world.pool, site, connector, NOW)
    await sync_site(world.pool, site, connector, NOW)
    assert graph.tokens_issued == 1  # cached in memory between syncs
    assert graph.token_requests[0]["grant_type"] == "client_credentials"

    graph.expire_tokens()
    graph.add_event(ROOM, "Retro", at(11), at(11, 30))
    report = await sync_site(world.pool, site, connector, NOW)
    assert (report.failed, report.changed, graph.tokens_issued) == ({}, 1, 2)

    wrong = _connector(graph, secret="not-the-secret")
    try:
        refused = await sync_site(world.pool, site, wrong, NOW)
    finally:
        wrong.close()
    assert refused.failed["r2"] == (
        "Microsoft sign-in refused the app's credentials (invalid_client)"
    )
    with pytest.raises(AuthFailed):
        wrong.fetch(ROOM, SyncState(), window_for(ZONE, NOW))
    assert SECRET not in caplog.text and "not-the-secret" not in caplog.text
    assert "tok-" not in caplog.text and SECRET not in repr(site) + repr(connector)


async def test_a_panel_booking_becomes_an_event_in_the_room_mailbox_and_follows_it(
    world: World, graph: GraphStandIn, site: SiteCalendars, connector: GraphConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    booking = {"booking_id": "bk-1", "booked_by": "p-vis", "subject": "Quick sync"}
    [result] = await world.send(
        panel, panel.event("booking.create", "room:r2", booking, at(11), at(11, 30))
    )
    assert result["outcome"] == "applied"
    writers = {"alpha": connector}
    assert (await drain_writebacks(world.pool, writers, {"r2": "alpha"})).written == 1
    [event] = graph.find(ROOM, transactionId=booking_uid("bk-1"))
    assert (event["start"], event["end"]) == (when(at(11)), when(at(11, 30)))
    assert event["subject"] == "Quick sync"
    assert event["organizer"]["emailAddress"]["address"] == "vera@example.com"

    # reading the mailbox back does not make central's own event a second meeting
    await sync_site(world.pool, site, connector, NOW)
    assert [(m["id"], m["source"]) for m in await _calendar(world, panel)] == [("bk-1", "device")]

    extend = panel.event("booking.extend", "room:r2", {"booking_id": "bk-1"}, None, at(12))
    assert [r["outcome"] for r in await world.send(panel, extend)] == ["applied"]
    assert (await drain_writebacks(world.pool, writers, {"r2": "alpha"})).written == 1
    [event] = graph.find(ROOM, transactionId=booking_uid("bk-1"))
    assert event["end"] == when(at(12))
    patches = [p for m, p in graph.graph_requests() if m == "PATCH"]
    assert len(patches) == 1

    later = {"booking_id": "bk-2"}
    await world.send(panel, panel.event("booking.create", "room:r2", later, at(15), at(15, 30)))
    await drain_writebacks(world.pool, writers, {"r2": "alpha"})
    assert graph.find(ROOM, transactionId=booking_uid("bk-2"))
    await world.send(panel, panel.event("booking.end", "room:r2", later, None, at(14)))
    assert (await drain_writebacks(world.pool, writers, {"r2": "alpha"})).deleted == 1
    assert [e["transactionId"] for e in graph.find(ROOM)] == [booking_uid("bk-1")]


async def test_an_event_already_in_outlook_wins_over_a_panel_booking(
    world: World, graph: GraphStandIn, site: SiteCalendars, connector: GraphConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    graph.add_event(ROOM, "Board", at(15), at(16))
    event = panel.event("booking.create", "room:r2", {"booking_id": "bk-b"}, at(15, 30), at(16))
    assert [r["outcome"] for r in await world.send(panel, event)] == ["applied"]
    report = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert report.withdrawn == 1
    assert {m["id"]: m["status"] for m in await _calendar(world, panel)} == {"bk-b": "released"}
    assert [e["subject"] for e in graph.find(ROOM)] == ["Board"]
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT outcome, reason FROM calendar_writebacks")
        assert await cur.fetchone() == (
            "withdrawn",
            "the room was booked in the calendar from 15:00 to 16:00",
        )


def test_the_settings_file_names_a_graph_site_by_its_app_and_mailboxes(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    from central.calendars.settings import load_calendar_settings, make_connector
    from central.errors import SettingsError

    path = tmp_path / "calendars.toml"

    def load(text: str) -> Any:
        path.write_text(text)
        path.chmod(0o600)
        return load_calendar_settings(str(path), env={"GRAPH_SECRET": SECRET})

    good = (
        f'[sites.alpha]\nconnector = "graph"\ntenant = "{TENANT}"\nclient_id = "{CLIENT_ID}"\n'
        'client_secret_env = "GRAPH_SECRET"\n'
        f'authority = "{graph.authority}"\ngraph_url = "{graph.graph_url}"\n'
        f'ca_file = "{graph.ca_file}"\ndirectory = "graph"\nvisible_group = "g1"\n'
        f'[sites.alpha.rooms]\nr2 = "{ROOM.upper()}"\n'
    )
    site = load(good).sites["alpha"]
    assert (site.rooms, site.password, site.directory, site.visible_group) == (
        {"r2": ROOM},
        SECRET,
        "graph",
        "g1",
    )
    made = make_connector(site)
    assert isinstance(made, GraphConnector) and SECRET not in repr(site)
    made.close()
    assert isinstance(connector_for(site), GraphConnector)
    with pytest.raises(SettingsError, match="room mailbox address") as bad:
        load(good.replace(f'r2 = "{ROOM.upper()}"', 'r2 = "room-two/"'))
    assert SECRET not in str(bad.value)
    with pytest.raises(SettingsError, match=r"client_secret .* or certificate_file"):
        load(good.replace('client_secret_env = "GRAPH_SECRET"\n', ""))
    with pytest.raises(SettingsError, match="visible_group"):
        load(good.replace('directory = "graph"', 'directory = "csv"\ndirectory_csv = "x.csv"'))


def _certificate(tmp_path: Path) -> tuple[str, Path]:
    """A self-signed RSA certificate: (its PEM, a 0600 file with key + certificate)."""
    from datetime import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tapin central")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "graph-app.pem"
    path.write_text(key_pem + cert_pem)
    path.chmod(0o600)
    return cert_pem, path


async def test_a_certificate_signs_the_app_in_instead_of_a_secret(
    world: World, graph: GraphStandIn, site: SiteCalendars, tmp_path: Path
) -> None:
    from dataclasses import replace

    panel = await world.enroll(room="r2")
    graph.certificate, pem = _certificate(tmp_path)
    graph.add_event(ROOM, "Standup", at(10), at(10, 30))
    with_certificate = replace(site, password=None, certificate_file=str(pem))
    connector = connector_for(with_certificate)
    try:
        report = await sync_site(world.pool, with_certificate, connector, NOW)
    finally:
        connector.close()
    assert report.failed == {} and [m["subject"] for m in await _calendar(world, panel)] == [
        "Standup"
    ]
    [sent] = graph.token_requests
    assert "client_secret" not in sent and sent["client_assertion_type"].endswith("jwt-bearer")
    graph.certificate, _ = _certificate(tmp_path / "other")  # another app's: refused
    other = connector_for(with_certificate)
    try:
        refused = await sync_site(world.pool, with_certificate, other, NOW)
    finally:
        other.close()
    assert "invalid_client" in refused.failed["r2"]
