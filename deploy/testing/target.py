"""A Debian bookworm machine that is not this one, for running the playbook for real.

The target is a ``debootstrap --variant=minbase bookworm`` root, built once and kept as a
tarball under ``/var/cache/tapin-ci/`` (keyed by a hash of its package list, so CI never
downloads it twice on one machine). Each run unpacks it into a fresh folder and starts
the target's own ``sshd`` inside its own mount, PID, UTS and IPC namespaces, chrooted
to that folder, listening on ``127.0.0.1:<port>`` with a throwaway key. The target shares
this machine's loopback network, so it reaches a central on 127.0.0.1. There is no
systemd running in it (services are installed as files, not started) and no display,
radio or watchdog device.

Needs root, ``debootstrap``, ``unshare`` (util-linux) and ``ssh-keygen``.

Command line (for trying it by hand)::

    python deploy/testing/target.py build            # the cached tarball, once
    python deploy/testing/target.py up /tmp/target   # unpack + sshd; prints how to connect
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PACKAGES", "Target", "TargetError", "build_image", "free_port", "image_path"]

CACHE_DIR = Path(os.environ.get("TAPIN_TARGET_CACHE", "/var/cache/tapin-ci"))
SUITE = "bookworm"

# What the target needs to be managed (python3, sshd, sudo) and everything the roles
# install with apt, so a run never downloads a package: the roles' apt tasks find them
# present. Keep in step with the roles' defaults (tapin_*_packages).
PACKAGES = (
    "python3",
    "python3-venv",
    "python3-packaging",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "systemd",
    "systemd-sysv",
    "systemd-timesyncd",
    "unattended-upgrades",
    "udev",
    "dbus",
    "bluez",
    "libmtdev1",
    "libegl1",
    "libgles2",
    "libgl1-mesa-dri",
    "libgbm1",
    "libdrm2",
)


class TargetError(RuntimeError):
    """The target could not be built or started; the message says what to fix."""


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (so the target comes from the same)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        with suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if line.startswith("URIs:") and len(words) > 1 and "/debian" in words[1]:
                    if "security" in words[1]:
                        continue
                    return words[1]
                if words[:1] == ["deb"] and "/debian" in line and "security" not in line:
                    return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


def _unmount_under(folder: Path) -> None:
    """Detach every mount of this namespace under ``folder`` (deepest first), so that
    deleting it can never reach into a mounted /proc, /sys or /dev."""
    prefix = str(folder.resolve()) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _remove_tree(folder: Path) -> None:
    _unmount_under(folder)
    shutil.rmtree(folder, ignore_errors=True)


def image_path(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Where the cached tarball for ``packages`` lives."""
    key = hashlib.sha256("\n".join([SUITE, *sorted(packages)]).encode()).hexdigest()[:16]
    return CACHE_DIR / f"bookworm-{key}.tar.gz"


def _run(cmd: list[str], *, timeout: float, what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise TargetError(f"{what} failed ({result.returncode}): {result.stderr[-1500:]}")


def build_image(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Build the cached target tarball unless it exists; return its path.

    Raises TargetError when debootstrap is missing or fails (its error is quoted)."""
    image = image_path(packages)
    if image.exists():
        return image
    if shutil.which("debootstrap") is None:
        raise TargetError("debootstrap is not installed: apt-get install debootstrap")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    root = CACHE_DIR / f"build-{os.getpid()}"
    _remove_tree(root)
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(root),
                _mirror(),
            ],
            timeout=1800,
            what="debootstrap",
        )
        # No services start at install time inside the image, and apt keeps no lists.
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        partial = image.with_suffix(".partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            tar.add(root, arcname=".")
        partial.rename(image)  # atomic: a half-written tarball is never used
        for old in CACHE_DIR.glob("bookworm-*.tar.gz"):  # earlier package lists
            if old != image:
                old.unlink()
    finally:
        _remove_tree(root)
    return image


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_INIT = """set -e
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs -o mode=0755 tmpfs "$ROOT/run"
mkdir -p "$ROOT/run/sshd"
hostname "$NAME"
exec chroot "$ROOT" /usr/sbin/sshd -D -e -p "$PORT" -o ListenAddress=127.0.0.1 \
  -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o UseDNS=no
"""


@dataclass
class Target:
    """One unpacked target with its sshd. ``start()`` then ``stop()`` (or ``with``)."""

    folder: Path
    name: str = "tapin-target"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def key(self) -> Path:
        """The private key that logs in as root on the target."""
        return self.folder / "id_ed25519"

    def unpack(self, image: Path) -> Target:
        """Unpack ``image`` into ``folder/root`` and give root a fresh login key."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(image) as tar:
            tar.extractall(self.root, filter="fully_trusted")
        _run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
            timeout=30,
            what="ssh-keygen",
        )
        ssh = self.root / "root/.ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        os.chmod(ssh / "authorized_keys", 0o600)
        _run(["chroot", str(self.root), "ssh-keygen", "-A"], timeout=60, what="host keys")
        (self.root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n")
        (self.root / "etc/hostname").write_text(self.name + "\n")
        # What Raspberry Pi OS bookworm has and the display role edits.
        boot = self.root / "boot/firmware"
        boot.mkdir(parents=True, exist_ok=True)
        (boot / "cmdline.txt").write_text(
            "console=serial0,115200 console=tty1 root=PARTUUID=0-02 rootfstype=ext4 "
            "fsck.repair=yes rootwait\n"
        )
        (boot / "config.txt").write_text("[all]\ndtoverlay=vc4-kms-v3d\n")
        return self

    def start(self, timeout: float = 30) -> Target:
        """Start the target's sshd in its own namespaces; wait until it answers.

        Raises TargetError when sshd exits or does not answer within ``timeout``."""
        log = open(self.folder / "sshd.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--uts",
                "--ipc",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                f"--mount-proc={self.root}/proc",
                "sh",
                "-c",
                _INIT,
            ],
            env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "ROOT": str(self.root),
                "PORT": str(self.port),
                "NAME": self.name,
            },
            stdout=log,
            stderr=log,
            process_group=0,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TargetError(f"the target's sshd exited: {self.log_tail()}")
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as s:
                if s.recv(4).startswith(b"SSH"):
                    return self
            time.sleep(0.2)
        raise TargetError(f"the target's sshd did not answer in time: {self.log_tail()}")

    def ssh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the target as root, over ssh."""
        return subprocess.run(
            ["ssh", *self.ssh_args(), "root@127.0.0.1", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ssh_args(self) -> list[str]:
        return [
            "-p",
            str(self.port),
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=yes",
        ]

    def log_tail(self) -> str:
        path = self.folder / "sshd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop sshd and everything in the target's PID namespace (its init is killed)."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        self.proc = None

    def remove(self) -> None:
        """Stop, then delete the unpacked root (its mounts died with its namespace)."""
        self.stop()
        _remove_tree(self.folder)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *_: object) -> None:
        self.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="target.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the cached bookworm tarball (once)")
    up = sub.add_parser("up", help="unpack the tarball into DIR and start its sshd")
    up.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        image = build_image()
        if args.command == "build":
            print(image)
            return 0
        target = Target(args.folder).unpack(image).start()
    except TargetError as exc:
        print(f"target.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"ssh {' '.join(target.ssh_args())} root@127.0.0.1   (Ctrl-C stops it)", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill: stop it too
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        target.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
