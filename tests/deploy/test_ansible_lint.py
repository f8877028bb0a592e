"""deploy/ansible stays clean under ``ansible-lint`` at profile production (its
settings: ``deploy/ansible/.ansible-lint``), and the playbook parses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSIBLE = Path(__file__).resolve().parents[2] / "deploy" / "ansible"
BIN = Path(sys.executable).parent


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not in the venv: pip install -e '.[deploy]'")
        pytest.skip(f"{name} is not in the venv: pip install -e '.[deploy]'")
    return path


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "NO_COLOR": "1"},
    )


def test_ansible_lint_production_profile_passes() -> None:
    result = _run(str(_tool("ansible-lint")), "--offline", "--nocolor", "--profile", "production")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stderr + result.stdout


def test_site_yml_parses_with_the_example_inventory() -> None:
    result = _run(
        str(_tool("ansible-playbook")),
        "-i",
        "inventories/example/hosts.yml",
        "--syntax-check",
        "site.yml",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
