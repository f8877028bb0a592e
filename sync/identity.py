"""The device's identity and credentials, in root-only files under the state directory.

``tapin enroll`` creates them: the device makes its own Ed25519 key pair, proves it holds
it to central with a one-time code, and receives its id and a bearer token. Files:

* ``<state>/credentials/device.key``: the Ed25519 private key (PKCS#8 PEM), mode 0600;
* ``<state>/credentials/identity.json``: device id, token, site, scope, central's URL
  and its X25519 public key (for sealing), mode 0600;
* ``<state>/credentials/ca.pem``: a copy of the organisation's CA (when enrolled with
  one), mode 0600: the device trusts what it copied, not a path that may change;
* ``<state>/credentials/enroll.key``: the key of an enrollment in progress, kept until
  the identity is stored, so a failed attempt is repeated with the same key (central
  then gives the same device a fresh token: :mod:`central.enroll`).

The directory is mode 0700; looser permissions are refused, as central refuses its key
file's. Nothing here is ever logged (the token ``repr`` is hidden).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sync.files import write_private

__all__ = [
    "DeviceIdentity",
    "IdentityError",
    "TrustError",
    "clear_rotation",
    "load_identity",
    "load_rotation",
    "load_signing_key",
    "new_signing_key",
    "pending_key",
    "prepare_credentials",
    "read_ca",
    "save_identity",
    "save_rotation",
    "trust_file",
]

_DIR = "credentials"
_IDENTITY = "identity.json"
_KEY = "device.key"
_CA = "ca.pem"
_PENDING = "enroll.key"


class IdentityError(RuntimeError):
    """The device is not enrolled, or its credential files are unusable."""


class TrustError(IdentityError):
    """The organisation's CA the device trusts is missing or damaged."""


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    token: str = field(repr=False)
    site_id: str
    scope_kind: str
    scope_id: str
    central_url: str
    central_public_key: str
    """Central's X25519 public key, raw bytes in base64."""
    ca_file: str | None = None
    """Where the CA was, for devices enrolled before it was copied (see ``trust``)."""
    trust: str | None = None
    """The CA's copy in the credentials folder (``ca.pem``); ``None``: ``ca_file``, or
    the system's store."""

    def sealing_key(self) -> X25519PublicKey:
        try:
            return X25519PublicKey.from_public_bytes(base64.b64decode(self.central_public_key))
        except ValueError as exc:
            raise IdentityError(f"central's public key in {_IDENTITY} is not valid") from exc


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def read_ca(path: Path) -> bytes:
    """The PEM bytes of a CA certificate file a technician named.

    Raises :class:`IdentityError` for a missing, unreadable or non-PEM file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(f"{path}: no such CA file") from None
    except OSError as exc:
        raise IdentityError(f"{path}: cannot read the CA file ({exc.strerror})") from None
    _check_pem(path, data, "is not a PEM CA certificate (-----BEGIN CERTIFICATE-----)")
    return data


def _check_pem(path: Path, data: bytes, problem: str) -> None:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise IdentityError(f"{path} {problem}")


def prepare_credentials(state_dir: Path) -> Path:
    """Make sure the credentials can be stored before central is asked: the state
    directory is a writable directory and ``credentials/`` exists, mode 0700. Returns
    that folder.

    Raises :class:`IdentityError` naming the path and what to fix."""
    if state_dir.exists() and not state_dir.is_dir():
        raise IdentityError(
            f"the state directory {state_dir} is a file; remove it or set paths.state_dir "
            "to a directory"
        )
    folder = state_dir / _DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except FileExistsError:
        raise IdentityError(f"{folder} is a file; remove it") from None
    except OSError as exc:
        raise IdentityError(
            f"cannot create {folder} ({exc.strerror}); run as root or as the tapin user, "
            "or fix paths.state_dir"
        ) from None
    for name in (_IDENTITY, _KEY, _CA):
        if (folder / name).is_dir():
            raise IdentityError(f"{folder / name} is a directory; remove it")
    return folder


def pending_key(state_dir: Path) -> Ed25519PrivateKey:
    """The key of the enrollment in progress: the one kept from a failed attempt, or a
    new one stored now (so the folder is proven writable before central is asked).

    Raises :class:`IdentityError` when it cannot be written."""
    path = state_dir / _DIR / _PENDING
    with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, Ed25519PrivateKey):
            return key
    key = new_signing_key()
    try:
        write_private(path, _pem(key))
    except OSError as exc:
        raise IdentityError(
            f"cannot write {path} ({exc.strerror}); free some space or fix the permissions "
            "of the state directory"
        ) from None
    return key


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def save_identity(
    state_dir: Path,
    identity: DeviceIdentity,
    key: Ed25519PrivateKey,
    *,
    ca_pem: bytes | None = None,
) -> Path:
    """Store credentials root-only (the CA's copy first, the identity last, then the
    enrollment's pending key goes); returns the credentials directory.

    Raises :class:`OSError` when a file cannot be written."""
    folder = state_dir / _DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if ca_pem is not None:
        write_private(folder / _CA, ca_pem)
    write_private(folder / _KEY, _pem(key))
    write_private(folder / _IDENTITY, json.dumps(asdict(identity), indent=2).encode())
    with contextlib.suppress(FileNotFoundError):
        (folder / _PENDING).unlink()
    return folder


def trust_file(
    state_dir: Path, identity: DeviceIdentity, fallback: Path | None = None
) -> str | None:
    """The CA file to verify central against: the copy made at enrollment, else the path
    of an older enrollment or ``fallback`` (the config's ``ca_file``); ``None``: the
    system's store.

    Raises :class:`TrustError` when that file is missing or not a PEM certificate."""
    if identity.trust:
        path = state_dir / _DIR / identity.trust
    elif identity.ca_file or fallback:
        path = Path(identity.ca_file or str(fallback))
    else:
        return None
    fix = (
        f"re-enroll, or copy the organisation's CA certificate (PEM) to {path}, then restart tapin"
    )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TrustError(f"the trusted CA file {path} is missing: {fix}") from None
    except OSError as exc:
        raise TrustError(
            f"the trusted CA file {path} cannot be read ({exc.strerror}): {fix}"
        ) from None
    try:
        _check_pem(path, data, "")
    except IdentityError:
        raise TrustError(f"the trusted CA file {path} is damaged (not PEM): {fix}") from None
    return str(path)


def _check_private(path: Path, wanted: int) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading it says what is wrong
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            f"{path}: permissions {mode:04o} are too open (others could read the device's "
            f"credentials); run chmod {wanted:o} {path}"
        )


def load_identity(state_dir: Path) -> DeviceIdentity:
    """The enrolled identity. Raises :class:`IdentityError` saying what to do."""
    path = state_dir / _DIR / _IDENTITY
    if path.exists():
        _check_private(state_dir / _DIR, 0o700)
        _check_private(path, 0o600)
        _check_private(state_dir / _DIR / _KEY, 0o600)
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IdentityError(
            f"this device is not enrolled (no {path}); run 'tapin enroll --server URL --code CODE'"
        ) from None
    except PermissionError:
        raise IdentityError(f"cannot read {path}: run as root or as the tapin user") from None
    except (OSError, ValueError) as exc:
        raise IdentityError(f"{path} is damaged ({exc}); enroll the device again") from None
    try:
        identity = DeviceIdentity(
            **{k: raw[k] for k in DeviceIdentity.__dataclass_fields__ if k in raw}
        )
    except TypeError:
        raise IdentityError(f"{path} lacks fields; enroll the device again") from None
    for name in ("device_id", "token", "central_url", "central_public_key"):
        if not isinstance(getattr(identity, name), str):
            raise IdentityError(f"{path}: {name} is missing; enroll the device again")
    return identity


# key rotation (the rotate_keys command: tapin.device.commands) ---------------------------

_ROTATION = "rotation.json"


def load_signing_key(state_dir: Path) -> Ed25519PrivateKey:
    """The device's Ed25519 key (``device.key``). Raises :class:`IdentityError`."""
    path = state_dir / _DIR / _KEY
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise IdentityError(f"{path} is missing; enroll the device again") from None
    except (OSError, ValueError, TypeError):
        raise IdentityError(f"{path} is damaged; enroll the device again") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} is not an Ed25519 key; enroll the device again")
    return key


def save_rotation(state_dir: Path, token: str, key: Ed25519PrivateKey) -> None:
    """Keep a rotation's new token and key (one file, atomically) until central has
    switched to them and the identity holds them. Raises :class:`OSError`."""
    body = {"token": token, "key": _pem(key).decode("ascii")}
    write_private(state_dir / _DIR / _ROTATION, json.dumps(body).encode())


def load_rotation(state_dir: Path) -> tuple[str, Ed25519PrivateKey] | None:
    """The new token and key of a rotation under way, or ``None`` (none, or unusable)."""
    try:
        raw = json.loads((state_dir / _DIR / _ROTATION).read_text(encoding="utf-8"))
        key = serialization.load_pem_private_key(raw["key"].encode("ascii"), password=None)
        token = raw["token"]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(key, Ed25519PrivateKey) or not isinstance(token, str):
        return None
    return token, key


def clear_rotation(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / _DIR / _ROTATION).unlink()
