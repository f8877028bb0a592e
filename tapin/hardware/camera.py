"""Taking one photo, for issue reports: a camera interface, a V4L2 backend, a simulation.

:meth:`Camera.capture` blocks (a real camera takes up to seconds): call it from a worker
thread (``await asyncio.to_thread(camera.capture)``), never on the UI's event loop.

:class:`V4L2Camera` runs ``ffmpeg`` (or ``fswebcam``) once per photo, so a device with no
camera pays nothing and nothing stays open between photos. :class:`SimulatedCamera`
draws a small test pattern, for the demo and the tests. The photo never touches the
disk here: the bytes go to the caller, who seals them into the queue.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tapin.ui.screenshot import png_bytes

__all__ = ["Camera", "CameraError", "SimulatedCamera", "V4L2Camera"]

JPEG_START = b"\xff\xd8\xff"
DEFAULT_DEVICE = "/dev/video0"


class CameraError(RuntimeError):
    """No photo: no camera, no capture tool, or the capture failed. The message says
    which device and what to do, in words a technician can act on."""

    def __init__(self, device: str, problem: str) -> None:
        super().__init__(f"camera {device}: {problem}")
        self.device = device
        self.problem = problem


class Camera(Protocol):
    def capture(self) -> bytes:
        """One photo as JPEG or PNG bytes. Blocks; raises :class:`CameraError`."""
        ...


_BARS = (
    (235, 235, 235),
    (235, 235, 16),
    (16, 235, 235),
    (16, 235, 16),
    (235, 16, 235),
    (235, 16, 16),
    (16, 16, 235),
)


class SimulatedCamera:
    """A camera that always works: a PNG test pattern (colour bars over a grey ramp)
    whose last row encodes how many photos were taken, so two photos differ."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        if width < len(_BARS) or height < 4:
            raise ValueError(f"a {width}x{height} pattern is too small")
        self.width = width
        self.height = height
        self.taken = 0

    def capture(self) -> bytes:
        self.taken += 1
        w, h = self.width, self.height
        bars_height = h * 2 // 3
        rows = []
        bar_row = bytearray()
        for x in range(w):
            bar_row += bytes((*_BARS[x * len(_BARS) // w], 255))
        ramp_row = bytearray()
        for x in range(w):
            level = x * 255 // (w - 1)
            ramp_row += bytes((level, level, level, 255))
        rows += [bytes(bar_row)] * bars_height
        rows += [bytes(ramp_row)] * (h - bars_height - 1)
        high, middle, low = (self.taken % (1 << 24)).to_bytes(3, "big")
        rows.append(bytes((high, middle, low, 255)) * w)
        return png_bytes(w, h, b"".join(rows))


class V4L2Camera:
    """A USB or CSI camera through Video4Linux, one frame per :meth:`capture`.

    Uses ``ffmpeg`` if installed, else ``fswebcam``; the photo is a JPEG at most
    ``width`` pixels wide (small enough for the queue's photo limit).
    """

    def __init__(
        self,
        device: str | Path = DEFAULT_DEVICE,
        *,
        timeout: float = 10.0,
        width: int = 640,
        tools: Sequence[str] = ("ffmpeg", "fswebcam"),
        search_path: str | None = None,
    ) -> None:
        self.device = str(device)
        self.timeout = timeout
        self.width = width
        self.tools = tuple(tools)
        self.search_path = search_path
        """Where to look for the tools (``PATH`` syntax); ``None``: the process's PATH."""

    def _command(self) -> list[str]:
        for tool in self.tools:
            found = shutil.which(tool, path=self.search_path)
            if found is None:
                continue
            if Path(found).name.startswith("fswebcam"):
                size = f"{self.width}x{self.width * 3 // 4}"
                # fswebcam writes its JPEG to stdout when the file name is "-"
                return [found, "-q", "-d", self.device, "-r", size, "--no-banner", "-"]
            return [
                found,
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-f",
                "v4l2",
                "-i",
                self.device,
                "-frames:v",
                "1",
                "-vf",
                f"scale='min({self.width},iw)':-2",
                "-q:v",
                "5",
                "-f",
                "image2pipe",
                "-c:v",
                "mjpeg",
                "-",
            ]
        names = " or ".join(self.tools) or "a capture tool"
        raise CameraError(self.device, f"no capture tool: install {names} on this device")

    def capture(self) -> bytes:
        """Raises :class:`CameraError` when there is no camera at ``device``, no
        capture tool, or no photo within ``timeout`` seconds."""
        if not Path(self.device).exists():
            raise CameraError(self.device, "no camera found (is one connected and enabled?)")
        command = self._command()
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CameraError(
                self.device, f"no photo within {self.timeout:g} s (is the camera busy?)"
            ) from None
        except OSError as exc:
            raise CameraError(self.device, f"could not run {command[0]}: {exc.strerror}") from None
        if done.returncode != 0 or not done.stdout.startswith(JPEG_START):
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            why = lines[-1][:200] if lines else f"{Path(command[0]).name} gave no photo"
            raise CameraError(self.device, f"the capture failed: {why}")
        return done.stdout
