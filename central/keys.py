"""Central's own X25519 key pair: devices seal their epoch keys to its public half.

The private key lives in one PEM file (PKCS#8), created with mode 0600 and refused when
group or others can read it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central.errors import KeyFileError
from central.secretfiles import too_open

__all__ = ["create_private_key", "load_or_create_private_key", "load_private_key", "public_bytes"]


def public_bytes(private_key: X25519PrivateKey) -> bytes:
    """The raw 32-byte public key devices need."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def load_private_key(path: str | os.PathLike[str]) -> X25519PrivateKey:
    """Read the key at ``path``. Raises :class:`KeyFileError` saying what is wrong."""
    where = str(path)
    try:
        mode = os.stat(where).st_mode
        data = Path(where).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(where, "does not exist (run `init-db` to create it)") from None
    except OSError as exc:
        raise KeyFileError(where, f"cannot be read ({exc.strerror})") from None
    if too_open(mode):
        raise KeyFileError(where, f"permissions {stat.S_IMODE(mode):04o} are too open; use 0600")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(where, "is not a PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(where, "holds a key that is not X25519")
    return key


def create_private_key(path: str | os.PathLike[str]) -> X25519PrivateKey:
    """Generate a key and write it to ``path`` (0600). Refuses to overwrite a file."""
    where = str(path)
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        write_private(Path(where), pem, exclusive=True)
    except FileExistsError:
        raise KeyFileError(where, "already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise KeyFileError(where, f"cannot be created ({exc.strerror})") from None
    return key


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Put ``data`` at ``path`` with mode 0600 from the first byte, atomically and
    durably (temporary file, fsync, rename or with ``exclusive`` link, folder fsync).
    Raises :class:`FileExistsError` (``exclusive``) or :class:`OSError`.

    Central's own copy of :func:`sync.files.write_private`: central shares nothing with
    the devices but the wire contract."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        (os.link if exclusive else os.replace)(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_private_key(path: str | os.PathLike[str]) -> tuple[X25519PrivateKey, bool]:
    """The key at ``path``, created first if missing. Returns ``(key, created)``."""
    if os.path.exists(path):
        return load_private_key(path), False
    return create_private_key(path), True
