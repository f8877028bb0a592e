"""Fixtures for the provisioning tests: a Debian bookworm target over real SSH
(``deploy/testing/target.py``) and the wheels the playbook installs on it.

Both caches live outside the clone (``/var/cache/tapin-ci/``, ``TAPIN_TARGET_CACHE``):
the target's root tarball keyed by its package list, the dependency wheels keyed by
``pyproject.toml``'s dependencies, so a second CI run on one machine downloads nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_harness() -> Any:
    """``deploy/testing/target.py`` (not a package), under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        "tapin_deploy_target", REPO / "deploy" / "testing" / "target.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


target_harness = _load_harness()


def _missing_tools() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, chroot)"
    for tool in ("debootstrap", "unshare", "chroot", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it)"
    if not (Path(sys.executable).parent / "ansible-playbook").exists():
        return "ansible-playbook is not in the venv: pip install -e '.[deploy]'"
    return None


@pytest.fixture(scope="session")
def target_image() -> Path:
    """The cached bookworm tarball (built on first use: about two minutes)."""
    reason = _missing_tools()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the provisioning test must run in CI: {reason}")
        pytest.skip(reason)
    try:
        return target_harness.build_image()
    except target_harness.TargetError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def target(target_image: Path, tmp_path: Path) -> Iterator[Any]:
    """A fresh target from the tarball, its sshd on 127.0.0.1; removed afterwards."""
    machine = target_harness.Target(tmp_path / "target", name="panel-aurora")
    try:
        machine.unpack(target_image).start()
        yield machine
    finally:
        machine.remove()


def _dependencies_key() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    spec = "\n".join([sys.version.split()[0], *sorted(project["dependencies"])])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the app's wheel folder, built now from this tree; the dependency wheels as one
    tar archive, cached). The target's Python (bookworm's 3.11) takes this machine's
    wheels."""
    app = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(app), str(REPO)],
        check=True,
        timeout=300,
        cwd=REPO,
    )
    house = target_harness.CACHE_DIR / f"wheels-{_dependencies_key()}"
    if not house.exists():
        partial = house.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        wheel = next(app.glob("tapin-*.whl"))
        subprocess.run(
            [*pip, "wheel", "--only-binary", ":all:", "--wheel-dir", str(partial), str(wheel)],
            check=True,
            timeout=600,
        )
        for own in partial.glob("tapin-*.whl"):
            own.unlink()
        partial.rename(house)
        for old in target_harness.CACHE_DIR.glob("wheels-*"):  # earlier dependencies
            if old.name != house.name and old.suffix != ".tar":
                shutil.rmtree(old, ignore_errors=True)
            elif old.suffix == ".tar" and old.stem != house.name:
                old.unlink()
    archive = house.with_suffix(".tar")
    if not archive.exists():  # one file to copy to the target, the same every run
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for wheel in sorted(house.glob("*.whl")):
                info = tar.gettarinfo(str(wheel), wheel.name)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mode = 0o644
                with wheel.open("rb") as handle:
                    tar.addfile(info, handle)
        partial.rename(archive)
    return app, archive
