"""One look at the device's link to central, step by step, for ``tapin doctor`` and
``tapin status``: the name resolves, something listens, the TLS certificate is trusted,
central answers, and central accepts this device's credentials.

Each step that fails stops the probe and says which it was, so a certificate problem
is never reported as the network, nor a revoked device as an outage. The last step is
an authenticated cheap request (``GET /v1/commands``, read-only: nothing is
acknowledged and no command is acted on; only their number is kept). Nothing here logs
or keeps what central sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

__all__ = ["LINK_OK", "REVOKED", "STAGES", "Probe", "probe_central"]

LINK_OK = "ok"
REVOKED = (
    "this device was revoked at central: enroll it again with a new code "
    "('tapin central enroll-code' at central, then 'tapin enroll --force' here)"
)
STAGES = (
    "url",
    "dns",
    "network",
    "ca",
    "certificate",
    "tls",
    "server",
    "revoked",
    "not_authorised",
    "refused",
    LINK_OK,
)
"""Where a probe stopped (``ok``: every step passed). Before ``server``: central was
not reached; ``ca``/``certificate``/``tls``: reached, but TLS failed."""


@dataclass(frozen=True, slots=True)
class Probe:
    stage: str
    """One of :data:`STAGES`."""
    words: str
    """What was found, in plain words, naming what to fix."""
    url: str
    tls: bool = True
    """``False`` for plain ``http://`` (localhost only)."""
    clock_offset_seconds: float | None = None
    """Central's clock minus ours, from its ``Date`` header (``None``: no answer)."""
    certificate_expires: datetime | None = None
    commands_waiting: int | None = None

    @property
    def reached(self) -> bool:
        """Central answered over HTTP (whatever it said)."""
        return self.stage in ("server", "revoked", "not_authorised", "refused", LINK_OK)

    @property
    def tls_checked(self) -> bool:
        return self.stage not in ("url", "dns", "network")


def _expiry(peer: object) -> datetime | None:
    if not isinstance(peer, dict) or not isinstance(peer.get("notAfter"), str):
        return None
    try:
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(peer["notAfter"]), UTC)
    except ValueError:
        return None


async def _tcp(host: str, port: int, timeout: float) -> str | None:
    """``None`` when something listens at ``host:port``, else the stage and words."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, TimeoutError) as exc:
        why = "no answer from DNS" if isinstance(exc, TimeoutError) else exc.strerror
        return (
            f"dns|central's name {host!r} does not resolve ({why}): check the network "
            "connection and DNS (/etc/resolv.conf), and the URL"
        )
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return (
            f"network|no answer from {host}:{port} within {timeout:g} s: a network or "
            "firewall problem (is the device on the right network?)"
        )
    except ConnectionRefusedError:
        return (
            f"network|nothing listens at {host}:{port} (connection refused): central is "
            "down, or the URL's port is wrong"
        )
    except OSError as exc:
        return f"network|cannot connect to {host}:{port} ({exc.strerror or exc}): check the network"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def _handshake(
    host: str, port: int, ca_file: str | None, timeout: float
) -> tuple[str | None, datetime | None]:
    """TLS to ``host:port`` as the device does it: the failure (stage|words) or ``None``,
    and when central's certificate expires."""
    from sync.client import tls_context

    where = f"the CA file {ca_file}" if ca_file else "the system's CA store"
    try:
        context = tls_context(ca_file)
    except (OSError, ssl.SSLError) as exc:
        return f"ca|{where} cannot be used ({exc}): re-enroll, or fix [central] ca_file", None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        return (
            f"certificate|central's certificate is not trusted ({exc.verify_message}): a "
            f"certificate problem, not the network. Check that it is signed by {where} "
            f"and names {host!r}, and that this device's clock is right",
            None,
        )
    except ssl.SSLError as exc:
        return f"tls|the TLS handshake with {host}:{port} failed ({exc.reason or exc})", None
    except TimeoutError:
        return (
            f"network|{host}:{port} accepted the connection but not TLS within {timeout:g} s",
            None,
        )
    except OSError as exc:
        return f"network|the connection to {host}:{port} broke ({exc.strerror or exc})", None
    expires = _expiry(writer.get_extra_info("peercert"))
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return None, expires


async def probe_central(
    url: str, *, token: str | None, ca_file: str | None, timeout: float = 5.0
) -> Probe:
    """Look at the link to central at ``url`` step by step (see the module docstring).
    Never raises for anything the network or central does."""
    from sync.client import CentralClient, CentralError, NotAuthorised, Refused, ServerTrouble

    parts = urlsplit(url)
    host = parts.hostname
    secure = parts.scheme == "https"
    if not host or parts.scheme not in ("https", "http"):
        return Probe("url", f"central's URL {url!r} is not an https:// URL with a host", url)
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        return Probe("url", f"central's URL {url!r} has a bad port", url)
    failed = await _tcp(host, port, timeout)
    expires = None
    if failed is None and secure:
        failed, expires = await _handshake(host, port, ca_file, timeout)
    if failed is not None:
        stage, _, words = failed.partition("|")
        return Probe(stage, words, url, tls=secure)
    offset: float | None = None

    def done(stage: str, words: str, waiting: int | None = None) -> Probe:
        return Probe(stage, words, url, secure, offset, expires, waiting)

    async with CentralClient(url, token=token, ca_file=ca_file, timeout=timeout) as client:
        try:
            await client.health()
            if client.clock_offset is not None:
                offset = round(client.clock_offset.total_seconds(), 1)
            if token is None:
                return done(LINK_OK, "central answers")
            waiting = len(await client.commands())
        except NotAuthorised as exc:
            if "revoked" in str(exc):
                return done("revoked", REVOKED)
            return done("not_authorised", str(exc))
        except Refused as exc:
            return done("refused", str(exc))
        except ServerTrouble as exc:
            return done("server", f"central answers but is not well: {exc}")
        except CentralError as exc:
            return done("network", str(exc))
    return done(LINK_OK, "central answers and accepts this device", waiting)
