"""Printing visitor badges: a printer interface, a CUPS backend, a simulation.

:meth:`Printer.print_png` blocks (it runs a command and talks to the print spooler):
call it from a worker thread (``await asyncio.to_thread(printer.print_png, png)``),
never on the UI's event loop. No printer means no badge, and the visitor's sign-in goes
on: :func:`printer_from_config` gives ``None`` when none is configured.

:class:`CupsPrinter` hands the PNG to CUPS with ``lp`` (data on stdin, nothing written
to disk by Tapin), after asking ``lpstat`` whether the queue is paused or out of labels,
so a badge is not left waiting in a stopped queue; then it waits for the job to end. The
stock Tapin lays badges out for is Brother's DK-11202 (62 mm x 100 mm die-cut labels,
QL-700/800/810W/820NWB at 300 dpi); the CUPS media name is configurable (``lpoptions -p
<queue> -l`` lists the names a queue knows). Note that CUPS itself keeps spooled files
and job history unless ``cupsd.conf`` says ``PreserveJobFiles No`` (badges carry names;
job history is only titles and sizes: Tapin titles every job "badge").

:class:`SimulatedPrinter` keeps the PNGs (and, given a folder, writes them there), and
can be told to fail, for the demo and the tests.

The ``[printer]`` table of the device configuration::

    [printer]
    kind = "cups"               # "none" (the default), "cups" or "simulated"
    queue = "QL-800"            # the CUPS queue (lpstat -e lists them)
    media = "62x100mm"          # the CUPS media name of the label stock
    server = "localhost:631"    # optional: the CUPS server (default: the system's)
    wait = 20                   # optional: seconds to wait for the badge (0: do not wait)
    folder = "/tmp/badges"      # "simulated" only: where the PNGs go (default: memory)

:meth:`CupsPrinter.print_png` waits (``wait`` seconds) until CUPS reports the job done,
so "your badge is printing" is true: a job CUPS or the printer gave up on is a
:class:`PrinterError` with CUPS's reason, and a job still waiting when time is up is
cancelled (no badge comes out minutes later for someone who has left) and reported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEFAULT_MEDIA",
    "DEFAULT_WAIT",
    "KEYS",
    "PRINTER_KINDS",
    "CupsPrinter",
    "Printer",
    "PrinterError",
    "SimulatedPrinter",
    "build_printer",
    "printer_from_config",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MEDIA = "62x100mm"
"""Brother DK-11202, 62 mm x 100 mm (the size :mod:`kiosk.badge` draws)."""
MAX_COPIES = 10
PRINTER_KINDS = ("none", "cups", "simulated")
_QUEUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,126}")
_MEDIA = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_SERVER = re.compile(r"(/[A-Za-z0-9_./-]{1,200}|[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?)")
_JOB = re.compile(r"request id is (\S+)")
DEFAULT_WAIT = 20.0
"""Seconds :meth:`CupsPrinter.print_png` waits for the badge to be printed."""
_ENV_C = {"LC_ALL": "C", "LANG": "C"}  # untranslated messages from the CUPS tools

_STATE_REASONS = (
    ("media-empty", "out of labels: load a new roll"),
    ("media-needed", "out of labels: load a new roll"),
    ("media-jam", "the labels are jammed: open the printer and clear the jam"),
    ("cover-open", "the printer's cover is open: close it"),
    ("door-open", "the printer's cover is open: close it"),
    ("cups-missing-filter", "the queue's driver is missing: reinstall the printer driver"),
    ("offline", "the printer is offline: check its power and its cable"),
)
"""``printer-state-reasons`` (from ``lpstat -l``) that stop a badge, and what to do."""


class PrinterError(RuntimeError):
    """No badge: no printer, queue paused, out of labels, or the print failed. The
    message names the printer and what to do, in words a technician can act on."""

    def __init__(self, printer: str, problem: str) -> None:
        super().__init__(f"printer {printer}: {problem}")
        self.printer = printer
        self.problem = problem


class Printer(Protocol):
    def print_png(self, png: bytes, *, copies: int = 1) -> None:
        """Print a PNG (a badge) ``copies`` times. Blocks; raises :class:`PrinterError`,
        or :class:`ValueError` when ``png`` is not a PNG or ``copies`` not 1..10."""
        ...


def _check_job(png: bytes, copies: int) -> None:
    if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == PNG_SIGNATURE:
        raise ValueError("print_png needs PNG bytes")
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"copies must be 1 to {MAX_COPIES}, got {copies!r}")


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""


class CupsPrinter:
    """A label printer behind a CUPS queue, printed to with ``lp``.

    ``server``: the CUPS server (``host:port`` or a socket path, passed to the tools as
    ``-h``); ``None``: the system's (``CUPS_SERVER`` or ``/etc/cups/client.conf``, usually
    the local cupsd). ``wait_seconds``: how long :meth:`print_png` waits for the job to
    be printed (``0``: return once CUPS took it). ``search_path``: where to look for
    ``lp``, ``lpstat`` and ``cancel`` (``PATH`` syntax); ``None``: the process's PATH.
    Raises :class:`ValueError` for a queue, media or server name CUPS cannot have.
    """

    POLL = 0.2
    """Seconds between two looks at the job while waiting for it."""

    def __init__(
        self,
        queue: str,
        *,
        media: str = DEFAULT_MEDIA,
        server: str | None = None,
        timeout: float = 30.0,
        wait_seconds: float = DEFAULT_WAIT,
        search_path: str | None = None,
    ) -> None:
        self.queue = _queue(queue)
        self.media = _media(media)
        self.server = _server(server) if server is not None else None
        if not 0 <= wait_seconds <= 600 or not timeout > 0:
            raise ValueError("wait_seconds must be 0 to 600 and timeout above 0")
        self.timeout = timeout
        self.wait_seconds = wait_seconds
        self.search_path = search_path
        self.last_job: str | None = None
        """The CUPS job id of the last badge (``Badges-12``)."""

    def _tool(self, name: str) -> str:
        found = shutil.which(name, path=self.search_path)
        if found is None:
            raise PrinterError(
                self.queue,
                f"the {name} command is missing: install CUPS on this device "
                "(apt install cups cups-client) and add the label printer to it",
            )
        return found

    def _host(self) -> list[str]:
        return ["-h", self.server] if self.server else []

    def command(self, copies: int = 1) -> list[str]:
        """The ``lp`` command line that prints from stdin. Raises :class:`PrinterError`
        when ``lp`` is not installed."""
        lp = self._tool("lp")
        given = ["-n", str(copies)] if copies != 1 else []
        return [
            lp,
            *self._host(),
            "-d",
            self.queue,
            *given,
            "-t",
            "badge",  # the job's title: never the visitor's name
            "-o",
            f"media={self.media}",
            "-o",
            "fit-to-page",
            "-",
        ]

    def _run(self, command: list[str], data: bytes | None) -> subprocess.CompletedProcess[bytes]:
        name = Path(command[0]).name
        try:
            return subprocess.run(
                command,
                input=data if data is not None else b"",
                capture_output=True,
                timeout=self.timeout,
                check=False,
                env={**os.environ, **_ENV_C},
            )
        except subprocess.TimeoutExpired:
            raise PrinterError(
                self.queue, f"{name} gave no answer within {self.timeout:g} s (is CUPS running?)"
            ) from None
        except OSError as exc:
            raise PrinterError(self.queue, f"could not run {name}: {exc.strerror}") from None

    def _scheduler_down(self) -> bool:
        """Whether ``lpstat -r`` says CUPS is not running (the tools then report every
        queue as unknown)."""
        lpstat = shutil.which("lpstat", path=self.search_path)
        if lpstat is None:
            return False
        done = self._run([lpstat, *self._host(), "-r"], None)
        return b"not running" in done.stdout + done.stderr

    def _explain(self, message: str) -> str:
        lower = message.lower()
        unknown = ("does not exist", "invalid destination", "unknown dest")
        if any(words in lower for words in unknown) and self._scheduler_down():
            lower = "scheduler is not running"
        if any(words in lower for words in unknown):
            return (
                f"CUPS has no queue named {self.queue!r}: check the name with 'lpstat -e' "
                "or add the printer in CUPS (http://localhost:631)"
            )
        if "not accepting" in lower:
            return f"the queue refuses jobs: run 'cupsaccept {self.queue}' ({message})"
        if "scheduler" in lower or "unable to connect" in lower or "connection refused" in lower:
            where = f"at {self.server} " if self.server else ""
            return f"CUPS {where}is not running: start it with 'sudo systemctl start cups'"
        return message

    def _lpstat(self, *args: str) -> list[str]:
        done = self._run([self._tool("lpstat"), *self._host(), *args], None)
        if done.returncode != 0:
            why = _last_line(done.stderr) or _last_line(done.stdout) or "lpstat failed"
            raise PrinterError(self.queue, self._explain(why))
        return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines()]

    def check(self) -> None:
        """Ask ``lpstat`` whether the queue can print now. Raises :class:`PrinterError`
        when the queue is unknown, paused, out of labels, jammed, open or offline, or
        CUPS does not answer; does nothing when ``lpstat`` is not installed (``lp``
        then reports what it can)."""
        if shutil.which("lpstat", path=self.search_path) is None:
            return
        lines = self._lpstat("-l", "-p", self.queue)
        if any(line.startswith("printer ") and " disabled " in f"{line} " for line in lines):
            problem = f"the queue is paused: resume it with 'cupsenable {self.queue}'"
            reason = next((line for line in lines[1:2] if line and not line.endswith(":")), "")
            raise PrinterError(self.queue, f"{problem} ({reason})" if reason else problem)
        alerts = " ".join(line for line in lines if line.startswith("Alerts:"))
        for reason, problem in _STATE_REASONS:
            if reason in alerts:
                raise PrinterError(self.queue, problem)

    def print_png(self, png: bytes, *, copies: int = 1) -> None:
        """Print and, unless ``wait_seconds`` is 0, wait until the job is done.

        Raises :class:`PrinterError` when ``lp`` is missing, the queue is unknown,
        paused, out of labels or refuses the job, when CUPS or the printer gave the job
        up (the message says why), or when it is not printed within ``wait_seconds``
        (the job is then cancelled, so no badge comes out late)."""
        _check_job(png, copies)
        command = self.command(copies)
        self.check()
        done = self._run(command, bytes(png))
        if done.returncode != 0:
            why = _last_line(done.stderr) or _last_line(done.stdout)
            raise PrinterError(
                self.queue, self._explain(why or f"lp failed (exit status {done.returncode})")
            )
        found = _JOB.search(done.stdout.decode("utf-8", "replace"))
        self.last_job = found.group(1) if found else None
        watchable = shutil.which("lpstat", path=self.search_path) is not None
        if self.last_job is not None and self.wait_seconds > 0 and watchable:
            self.wait(self.last_job)

    def pending(self, job: str) -> bool:
        """Whether ``job`` is still waiting or printing. Raises :class:`PrinterError`."""
        return any(line.split(" ", 1)[0] == job for line in self._lpstat("-o", self.queue))

    def wait(self, job: str) -> None:
        """Wait up to ``wait_seconds`` for ``job`` to leave the queue, then look at how
        it ended. Raises :class:`PrinterError` when it did not end in time (it is then
        cancelled) or ended with a problem (CUPS keeps the reason as the job's status)."""
        deadline = time.monotonic() + self.wait_seconds
        while self.pending(job):
            if time.monotonic() >= deadline:
                self._cancel(job)
                self.check()  # the queue stopped meanwhile: its reason says more
                raise PrinterError(
                    self.queue,
                    f"the badge was not printed within {self.wait_seconds:g} s, so it was "
                    "cancelled: check that the printer is on, connected and has labels",
                )
            time.sleep(self.POLL)
        status = self._status(job)  # CUPS clears it when a job prints, keeps it when not
        if status:
            raise PrinterError(self.queue, f"the badge was not printed: {status}")

    def _status(self, job: str) -> str:
        """The status CUPS kept for a finished job: empty when it printed."""
        lines = self._lpstat("-W", "completed", "-l", "-o", self.queue)
        for number, line in enumerate(lines):
            if line.split(" ", 1)[0] != job:
                continue
            for detail in lines[number + 1 : number + 4]:
                if detail.startswith("Status:"):
                    return detail.removeprefix("Status:").strip()[:300]
            return ""
        return ""  # no job history kept (PreserveJobHistory No): nothing says it failed

    def _cancel(self, job: str) -> None:
        cancel = shutil.which("cancel", path=self.search_path)
        if cancel is not None:
            self._run([cancel, *self._host(), job], None)


class SimulatedPrinter:
    """A printer that keeps what it was given: ``printed`` (the last few PNGs, one per
    copy) and, with ``folder``, files ``badge-0001.png``… there (owner-only). Set
    ``failure`` to a problem and every print raises :class:`PrinterError` with it until
    it is ``None`` again; ``delay`` seconds per print imitate a real printer."""

    KEEP = 20

    def __init__(
        self, folder: Path | str | None = None, *, failure: str | None = None, delay: float = 0.0
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.failure = failure
        self.delay = delay
        self.printed: list[bytes] = []
        self.jobs = 0
        self.files: list[Path] = []
        self._lock = threading.Lock()

    def print_png(self, png: bytes, *, copies: int = 1) -> None:
        """Raises :class:`PrinterError` when told to fail, or when ``folder`` cannot be
        written."""
        _check_job(png, copies)
        if self.delay:
            time.sleep(self.delay)
        if self.failure:
            raise PrinterError("simulated", self.failure)
        with self._lock:
            self.jobs += 1
            for _ in range(copies):
                self.printed.append(bytes(png))
                if self.folder is not None:
                    self.files.append(self._write(bytes(png)))
            del self.printed[: -self.KEEP]

    def _write(self, png: bytes) -> Path:
        assert self.folder is not None
        path = self.folder / f"badge-{len(self.files) + 1:04d}.png"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(png)
        except OSError as exc:
            raise PrinterError("simulated", f"cannot write {path}: {exc.strerror}") from None
        return path


def _kind(value: Any) -> str:
    if value not in PRINTER_KINDS:
        raise ValueError(f"must be one of {', '.join(PRINTER_KINDS)}, got {value!r}")
    return str(value)


def _queue(value: Any) -> str:
    if not isinstance(value, str) or not _QUEUE.fullmatch(value):
        raise ValueError(f'must be a CUPS queue name such as "QL-800" (lpstat -e), got {value!r}')
    return value


def _media(value: Any) -> str:
    if not isinstance(value, str) or not _MEDIA.fullmatch(value):
        raise ValueError(f'must be a CUPS media name such as "62x100mm", got {value!r}')
    return value


def _server(value: Any) -> str:
    if not isinstance(value, str) or not _SERVER.fullmatch(value) or ".." in value:
        raise ValueError(
            f'must be a CUPS server such as "localhost:631" or "/run/cups/cups.sock", got {value!r}'
        )
    return value


def _wait(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise ValueError(f"must be seconds from 0 to 600, got {value!r}")
    return float(value)


def _folder(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a folder path, got {value!r}")
    return Path(value)


KEYS: Mapping[str, Callable[[Any], Any]] = {
    "kind": _kind,
    "queue": _queue,
    "media": _media,
    "server": _server,
    "wait": _wait,
    "folder": _folder,
}
"""The ``[printer]`` keys and their checks (each raises :class:`ValueError`)."""


def printer_from_config(table: Mapping[str, Any] | None) -> Printer | None:
    """The printer a ``[printer]`` table describes, or ``None`` for no printer (no
    table, or ``kind = "none"``): the kiosk then signs visitors in without a badge.

    Raises :class:`ValueError` naming the key (``printer.queue: …``) for an unknown key,
    a bad value, or ``kind = "cups"`` without a ``queue``. Touches no device."""
    if not table:
        return None
    values: dict[str, Any] = {}
    for key, value in table.items():
        checker = KEYS.get(key)
        if checker is None:
            raise ValueError(f"printer.{key}: unknown key; known: {', '.join(KEYS)}")
        try:
            values[key] = checker(value)
        except ValueError as exc:
            raise ValueError(f"printer.{key}: {exc}") from None
    return build_printer(values)


def build_printer(values: Mapping[str, Any]) -> Printer | None:
    """The printer of ``[printer]`` values already checked by :data:`KEYS` (the device
    configuration checks them when it is read); ``None`` for ``kind = "none"``. Raises
    :class:`ValueError` for ``kind = "cups"`` without a ``queue``. Touches no device."""
    kind = values.get("kind", "none")
    if kind == "cups":
        if "queue" not in values:
            raise ValueError('printer.queue: is required when printer.kind is "cups"')
        return CupsPrinter(
            values["queue"],
            media=values.get("media", DEFAULT_MEDIA),
            server=values.get("server"),
            wait_seconds=values.get("wait", DEFAULT_WAIT),
        )
    if kind == "simulated":
        return SimulatedPrinter(values.get("folder"))
    return None
