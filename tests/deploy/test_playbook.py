"""The playbook, run for real: ``ansible-playbook`` over SSH against a Debian bookworm
target that is not this machine (a debootstrap'd root in its own namespaces, see
``deploy/testing/target.py``), enrolling against a real central; then again, changing
nothing. Hardware that cannot exist there (display, radio, watchdog) is checked as the
files and units the roles install; services are not started (no systemd runs in the
target: ``tapin_manage_services: false``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "deploy" / "ansible"

pytestmark = [pytest.mark.deploy, pytest.mark.pg, pytest.mark.slow]


def _inventory(path: Path, target: Any, central: Any, wheels: tuple[Path, Path]) -> Path:
    app_wheels, wheelhouse = wheels
    panel = {
        "ansible_host": "127.0.0.1",
        "ansible_port": target.port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(target.key),
        "ansible_ssh_common_args": (
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        ),
        "tapin_room": "aurora",
        "tapin_rotation": 90,
        "tapin_presence": True,
    }
    inventory = {
        "all": {
            "vars": {
                "tapin_manage_services": False,
                "tapin_apt_update": False,
                "tapin_central_url": central.url,
                "tapin_ca_src": str(central.pki.ca_file),
                "tapin_wheel_dir": str(app_wheels),
                "tapin_wheelhouse": str(wheelhouse),
                "tapin_site_locale": "sv_SE",
                "tapin_screen_settings": {"office_hours": "07:30-18:00"},
                # the code comes from central's database, on the control node
                "tapin_enroll_code_host": "localhost",
                "tapin_enroll_code_bin": str(Path(sys.executable).parent / "tapin"),
                "tapin_enroll_code_become": False,
                "tapin_enroll_code_env": central.env,
            },
            "children": {
                "central": {"hosts": {}},
                "panels": {
                    "hosts": {"panel-aurora": panel},
                    "vars": {"tapin_device_role": "panel", "tapin_display": True},
                },
                "kiosks": {"hosts": {}},
                "sensors": {"hosts": {}},
            },
        }
    }
    path.write_text(json.dumps(inventory, indent=2))  # JSON is YAML
    return path


def _play(inventory: Path, log: Path, *extra: str, ok: bool = True) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "site.yml",
            *extra,
        ],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
            "ANSIBLE_LOCAL_TEMP": str(log.parent / "ansible-local"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        },
        check=False,
    )
    log.write_text(result.stdout + result.stderr)
    assert (result.returncode == 0) == ok, (
        f"ansible-playbook {' '.join(extra)} exited {result.returncode}:\n"
        + result.stdout[-6000:]
        + result.stderr[-2000:]
    )
    return result.stdout, time.monotonic() - started


def _recap(output: str, host: str) -> dict[str, int]:
    match = re.search(rf"^{re.escape(host)}\s+:\s+(.*)$", output, re.MULTILINE)
    assert match, f"no PLAY RECAP line for {host}:\n{output[-2000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _owner(root: Path, path: Path) -> tuple[str, str, int]:
    """(user, group, mode) of ``path`` by the target's own passwd and group files."""
    info = path.stat()
    users = {int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/passwd").open())}
    groups = {int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/group").open())}
    return users[info.st_uid], groups[info.st_gid], info.st_mode & 0o7777


def test_site_yml_provisions_and_enrolls_a_panel_then_changes_nothing(
    target: Any, central: Any, wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path / "hosts.yml", target, central, wheels)
    first, first_s = _play(inventory, tmp_path / "first.log")
    recap = _recap(first, "panel-aurora")
    assert recap["failed"] == 0 and recap["unreachable"] == 0 and recap["changed"] > 10

    # enrolled at central, for the room the inventory names
    with psycopg.connect(central.dsn) as conn:
        rows = conn.execute(
            "SELECT id, scope_kind, scope_id, role FROM devices WHERE revoked_at IS NULL"
        ).fetchall()
    assert [(kind, scope, role) for _, kind, scope, role in rows] == [("room", "aurora", "panel")]
    root = target.root
    identity = json.loads((root / "var/lib/tapin/state/credentials/identity.json").read_text())
    assert identity["device_id"] == rows[0][0]
    assert _owner(root, root / "var/lib/tapin/state")[::2] == ("tapin", 0o700)
    assert _owner(root, root / "var/lib/tapin/state/credentials/identity.json")[::2] == (
        "tapin",
        0o600,
    )

    # the configuration from the inventory, checked by the installed app itself
    config = root / "etc/tapin/tapin.toml"
    assert _owner(root, config) == ("root", "tapin", 0o640)
    text = config.read_text()
    assert 'room = "aurora"' in text and "scan = true" in text
    assert f'url = "{central.url}"' in text and 'office_hours = "07:30-18:00"' in text
    check = target.ssh("/opt/tapin/venv/bin/tapin config check --config /etc/tapin/tapin.toml")
    assert check.returncode == 0, check.stderr
    status = target.ssh(
        "runuser -u tapin -- /opt/tapin/venv/bin/tapin status --json --config /etc/tapin/tapin.toml"
    )
    assert json.loads(status.stdout)["central_reachable"] is True, status.stderr
    assert {"video", "render", "input", "bluetooth"} <= set(
        target.ssh("id -nG tapin").stdout.split()
    )

    # base: journald in memory, security upgrades, watchdog, time sync
    journald = (root / "etc/systemd/journald.conf.d/tapin.conf").read_text()
    assert "Storage=volatile" in journald and "RuntimeMaxUse=" in journald
    assert not (root / "var/log/journal").exists()
    assert (
        "Debian-Security" in (root / "etc/apt/apt.conf.d/52tapin-unattended-upgrades").read_text()
    )
    assert 'Unattended-Upgrade "1"' in (root / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert (
        "RuntimeWatchdogSec=15s"
        in (root / "etc/systemd/system.conf.d/tapin-watchdog.conf").read_text()
    )
    assert "dtparam=watchdog=on" in (root / "boot/firmware/config.txt").read_text()
    assert (root / "etc/systemd/timesyncd.conf.d/tapin.conf").exists()

    # display: no desktop, KMS/DRM full-screen, rotation, no blanking, backlight
    assert os.readlink(root / "etc/systemd/system/default.target").endswith("multi-user.target")
    assert os.readlink(root / "etc/systemd/system/getty@tty1.service") == "/dev/null"
    env = (root / "etc/tapin/display.env").read_text()
    assert "SDL_VIDEODRIVER=kmsdrm" in env and "KCFG_GRAPHICS_ROTATION=90" in env
    assert "KCFG_GRAPHICS_SHOW_CURSOR=0" in env
    dropin = root / "etc/systemd/system/tapin-panel.service.d/10-display.conf"
    assert "EnvironmentFile=/etc/tapin/display.env" in dropin.read_text()
    cmdline = (root / "boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("consoleblank=0") == 1 and cmdline.endswith("logo.nologo\n")
    assert "bl_power" in (root / "etc/udev/rules.d/90-tapin-backlight.rules").read_text()

    # bluetooth (presence is on): BlueZ and the D-Bus policy for the tapin user
    policy = (root / "etc/dbus-1/system.d/tapin-bluetooth.conf").read_text()
    assert '<policy user="tapin">' in policy and 'send_destination="org.bluez"' in policy

    # the unit, when deploy/systemd has one
    if (REPO / "deploy/systemd/tapin-panel.service").exists():
        assert (root / "etc/systemd/system/tapin-panel.service").read_bytes() == (
            REPO / "deploy/systemd/tapin-panel.service"
        ).read_bytes()

    # a second run changes nothing and leaves the enrolled device alone
    second, second_s = _play(inventory, tmp_path / "second.log")
    assert _recap(second, "panel-aurora")["changed"] == 0, second[-5000:]
    with psycopg.connect(central.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (1,)

    # --check --diff runs and, on a provisioned device, would change nothing
    checked, check_s = _play(inventory, tmp_path / "check.log", "--check", "--diff")
    assert _recap(checked, "panel-aurora")["changed"] == 0, checked[-5000:]

    # a failed health check stops the roll: central down, two panels one at a time (a
    # second name for the same target), only the health check run; the second is never
    # touched
    central.stop()
    doc = json.loads(inventory.read_text())
    panels = doc["all"]["children"]["panels"]["hosts"]
    panels["panel-b"] = dict(panels["panel-aurora"])
    inventory.write_text(json.dumps(doc))
    stopped, stop_s = _play(
        inventory,
        tmp_path / "roll.log",
        "--start-at-task",
        "Health check",
        "-e",
        "tapin_serial=1",
        "-e",
        "tapin_health_retries=1",
        ok=False,
    )
    assert _recap(stopped, "panel-aurora")["failed"] == 1
    assert "[panel-b]" not in stopped, stopped[-3000:]
    print(
        f"\nplaybook: first run {first_s:.0f} s, second {second_s:.0f} s, "
        f"check {check_s:.0f} s, stopped roll {stop_s:.0f} s"
    )
