"""What ``tapin central serve`` checks before uvicorn starts, so a technician's mistake
is one line naming what to fix (exit 2), not a traceback from a worker: the TLS
certificate and key (missing, not PEM, swapped, not a pair) and the port (in use).
"""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from central.errors import SettingsError

__all__ = ["check_port", "check_tls"]


def _read(flag: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{flag} {path}: no such file") from None
    except OSError as exc:
        raise SettingsError(f"{flag} {path}: cannot be read ({exc.strerror})") from None


def _is_key(data: bytes) -> bool:
    try:
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return False
    return True


def _is_cert(data: bytes) -> bool:
    try:
        return bool(x509.load_pem_x509_certificates(data))
    except ValueError:
        return False


def check_tls(cert: str, key: str) -> None:
    """Raises :class:`SettingsError` unless ``cert`` is a PEM certificate chain and
    ``key`` its unencrypted PEM private key."""
    cert_data, key_data = _read("--cert", cert), _read("--key", key)
    if not _is_cert(cert_data):
        if _is_key(cert_data) and _is_cert(key_data):
            raise SettingsError(
                f"--cert {cert} holds a private key and --key {key} a certificate: they are swapped"
            )
        raise SettingsError(f"--cert {cert}: not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if not _is_key(key_data):
        raise SettingsError(
            f"--key {key}: not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError:
        raise SettingsError(
            f"--key {key} is not the private key of the certificate in --cert {cert}"
        ) from None


def check_port(host: str, port: int) -> None:
    """Raises :class:`SettingsError` when ``host:port`` cannot be bound (in use, not an
    address of this machine, or a privileged port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SettingsError(f"--host {host}: not an address here ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SettingsError(
                    f"port {port} on {host} is in use (another central?); stop it or pass --port"
                ) from None
            if exc.errno == errno.EACCES:
                raise SettingsError(
                    f"port {port} needs privileges; use a port above 1023 or a proxy"
                ) from None
            raise SettingsError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
