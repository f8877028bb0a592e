"""Private files: mode 0600 from the first byte, atomic, durable, never half-written."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from sync.files import write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_private_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "identity.json"
    old = os.umask(0)  # even a careless umask does not open it up
    try:
        write_private(path, b"first")
        assert _mode(path) == 0o600 and path.read_bytes() == b"first"
        write_private(path, b"second, longer")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"second, longer" and _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.json"]


def test_exclusive_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "central.key"
    write_private(path, b"key one", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(path, b"key two", exclusive=True)
    assert path.read_bytes() == b"key one"
    assert [p.name for p in tmp_path.iterdir()] == ["central.key"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "status.json"
    write_private(path, b"old")

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sync.files.os.replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_private(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_readers_see_old_or_new_never_a_part(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    a, b = b"a" * 200_000, b"b" * 300_000
    write_private(path, a)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen.add(data[:1] + bytes([len(data) > 250_000]) + bytes([len(set(data))]))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(50):
            write_private(path, a if i % 2 else b)
    finally:
        stop.set()
        reader.join()
    # every read was a whole file: all a's (short) or all b's (long)
    assert seen <= {b"a\x00\x01", b"b\x01\x01"} and seen


def test_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "nowhere" / "x", b"data")
