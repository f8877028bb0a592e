"""The device's identity and credentials, in root-only files under the state directory.

``tapin enroll`` creates them: the device makes its own Ed25519 key pair, proves it holds
it to central with a one-time code, and receives its id and a bearer token. Files:

* ``<state>/credentials/device.key``: the Ed25519 private key (PKCS#8 PEM), mode 0600;
* ``<state>/credentials/identity.json``: device id, token, site, scope, central's URL
  and its X25519 public key (for sealing), mode 0600.

The directory is mode 0700. Nothing here is ever logged (the token ``repr`` is hidden).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sync.files import write_private

__all__ = ["DeviceIdentity", "IdentityError", "load_identity", "new_signing_key", "save_identity"]

_DIR = "credentials"
_IDENTITY = "identity.json"
_KEY = "device.key"


class IdentityError(RuntimeError):
    """The device is not enrolled, or its credential files are unusable."""


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

    def sealing_key(self) -> X25519PublicKey:
        try:
            return X25519PublicKey.from_public_bytes(base64.b64decode(self.central_public_key))
        except ValueError as exc:
            raise IdentityError(f"central's public key in {_IDENTITY} is not valid") from exc


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_identity(state_dir: Path, identity: DeviceIdentity, key: Ed25519PrivateKey) -> Path:
    """Store credentials root-only; returns the credentials directory."""
    folder = state_dir / _DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(folder / _KEY, pem)
    write_private(folder / _IDENTITY, json.dumps(asdict(identity), indent=2).encode())
    return folder


def load_identity(state_dir: Path) -> DeviceIdentity:
    """The enrolled identity. Raises :class:`IdentityError` saying what to do."""
    path = state_dir / _DIR / _IDENTITY
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
