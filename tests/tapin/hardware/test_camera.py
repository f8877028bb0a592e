"""The camera: a simulated one that gives a valid PNG, and the V4L2 backend's failures
(no device, no tool, a tool that fails or hangs) as clear CameraErrors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tapin.hardware import Camera, CameraError, SimulatedCamera, V4L2Camera
from tapin.ui.screenshot import png_bytes

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Check signature, chunk CRCs and row filters; return width, height, RGB bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == height * (1 + width * 3)
    rows = [raw[y * (1 + width * 3) : (y + 1) * (1 + width * 3)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows)


def test_simulated_camera_gives_a_valid_png_test_pattern() -> None:
    camera: Camera = SimulatedCamera()
    photo = camera.capture()
    width, height, rgb = read_png(photo)
    assert (width, height) == (160, 120)
    assert rgb[:3] == bytes((235, 235, 235))  # first colour bar
    assert len(set(rgb)) > 10  # a pattern, not a flat colour
    assert camera.capture() != photo  # each photo is a new one
    assert len(photo) < 64 * 1024


def test_png_bytes_refuses_a_size_mismatch() -> None:
    with pytest.raises(ValueError, match="2x2"):
        png_bytes(2, 2, b"\x00" * 15)
    assert read_png(png_bytes(1, 1, b"\x01\x02\x03\xff"))[2] == b"\x01\x02\x03"


def test_no_device_on_this_machine_names_the_device() -> None:
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera")
    with pytest.raises(CameraError) as caught:
        V4L2Camera().capture()
    assert "/dev/video0" in str(caught.value)
    assert caught.value.device == "/dev/video0"
    assert "Traceback" not in str(caught.value)
    assert isinstance(caught.value, RuntimeError)


def fake_tool(directory: Path, name: str, script: str) -> str:
    directory.mkdir(exist_ok=True)
    tool = directory / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return str(directory)


def test_no_capture_tool_says_what_to_install(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    camera = V4L2Camera(device, search_path=str(tmp_path / "empty"))
    with pytest.raises(CameraError, match="install ffmpeg or fswebcam") as caught:
        camera.capture()
    assert str(device) in str(caught.value)


def test_ffmpeg_is_asked_for_one_v4l2_frame_as_jpeg_on_stdout(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    args_file = tmp_path / "args"
    jpeg_file = tmp_path / "photo.jpg"
    jpeg_file.write_bytes(JPEG)
    tools = fake_tool(tmp_path / "bin", "ffmpeg", f'echo "$@" > {args_file}\ncat {jpeg_file}\n')
    photo = V4L2Camera(device, search_path=tools).capture()
    assert photo == JPEG
    args = args_file.read_text()
    assert f"-f v4l2 -i {device} -frames:v 1" in args
    assert args.rstrip().endswith("-")


def test_fswebcam_when_there_is_no_ffmpeg(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    jpeg_file = tmp_path / "photo.jpg"
    jpeg_file.write_bytes(JPEG)
    tools = fake_tool(tmp_path / "bin", "fswebcam", f'[ "$3" = "{device}" ] && cat {jpeg_file}\n')
    assert V4L2Camera(device, search_path=tools).capture() == JPEG


def test_a_failing_tool_gives_its_last_error_line(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    tools = fake_tool(
        tmp_path / "bin", "ffmpeg", "echo noise >&2\necho 'Device or resource busy' >&2\nexit 1\n"
    )
    with pytest.raises(CameraError, match="Device or resource busy") as caught:
        V4L2Camera(device, search_path=tools).capture()
    assert str(device) in str(caught.value)


def test_a_tool_that_prints_no_jpeg_is_a_failure(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    tools = fake_tool(tmp_path / "bin", "ffmpeg", "echo not a photo\n")
    with pytest.raises(CameraError, match="ffmpeg gave no photo"):
        V4L2Camera(device, search_path=tools).capture()


def test_a_hanging_tool_times_out(tmp_path: Path) -> None:
    device = tmp_path / "video0"
    device.touch()
    tools = fake_tool(tmp_path / "bin", "ffmpeg", "exec sleep 30\n")
    with pytest.raises(CameraError, match=r"no photo within 0\.3 s"):
        V4L2Camera(device, search_path=tools, timeout=0.3).capture()
