"""Printing badges: a real, private CUPS (cupsd on 127.0.0.1 with an ippeveprinter as
the label printer) that prints a rendered badge to a file whose QR code reads back; a
paused, refusing, unknown or unreachable queue as a clear PrinterError; the simulated
printer and the ``[printer]`` table."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from kiosk.badge import Badge, badge_qr_text, render_badge
from tapin.hardware.printer import (
    CupsPrinter,
    PrinterError,
    SimulatedPrinter,
    printer_from_config,
)
from tapin.hardware.qr import read_codes

TOOLS = (
    *("cupsd", "lpadmin", "lp", "lpstat", "cancel", "cupsenable", "cupsdisable"),
    *("cupsaccept", "cupsreject", "ippeveprinter", "dbus-daemon", "pdftoppm"),
)
PACKAGES = "cups-daemon cups-client cups-ipp-utils cups-filters dbus-daemon poppler-utils"
TOKEN = "q3J9xZ0m_Lk2-pW8vB7nT4eR"
# 62 x 100 mm in PostScript points: the only page size the test printer has
PPD = """*PPD-Adobe: "4.3"
*FormatVersion: "4.3"
*FileVersion: "1.0"
*LanguageVersion: English
*LanguageEncoding: ISOLatin1
*PCFileName: "TAPINBDG.PPD"
*Manufacturer: "Tapin"
*Product: "(Badge Test Printer)"
*ModelName: "Tapin Badge Test Printer"
*ShortNickName: "Tapin Badge Test Printer"
*NickName: "Tapin Badge Test Printer"
*PSVersion: "(3010.000) 0"
*LanguageLevel: "3"
*ColorDevice: False
*DefaultColorSpace: Gray
*FileSystem: False
*Throughput: "1"
*LandscapeOrientation: Plus90
*TTRasterizer: Type42
*OpenUI *PageSize: PickOne
*OrderDependency: 10 AnySetup *PageSize
*DefaultPageSize: 62x100mm
*PageSize 62x100mm/62 x 100 mm: "<</PageSize[175.748 283.465]>>setpagedevice"
*CloseUI: *PageSize
*OpenUI *PageRegion: PickOne
*OrderDependency: 10 AnySetup *PageRegion
*DefaultPageRegion: 62x100mm
*PageRegion 62x100mm/62 x 100 mm: "<</PageSize[175.748 283.465]>>setpagedevice"
*CloseUI: *PageRegion
*DefaultImageableArea: 62x100mm
*ImageableArea 62x100mm: "0 0 175.748 283.465"
*DefaultPaperDimension: 62x100mm
*PaperDimension 62x100mm: "175.748 283.465"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@dataclass
class PrivateCups:
    """A cupsd of the test's own with one queue, ``Badges``, on an ippeveprinter."""

    root: Path
    port: int
    printer_port: int
    spool: Path
    processes: list[subprocess.Popen[bytes]]

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, *command: str) -> str:
        """Run a CUPS tool against this server; fails the test when it fails."""
        done = subprocess.run(
            [command[0], "-h", self.server, *command[1:]],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr or done.stdout}"
        return done.stdout

    def printed(self) -> list[Path]:
        return sorted(p for p in self.spool.iterdir() if p.stat().st_size > 0)

    def log(self) -> str:
        logs = [self.root / "log" / name for name in ("error_log", "cupsd.out", "ipp.out")]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())


def _start(
    command: list[str], out: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env
        )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _configure(root: Path, port: int) -> tuple[Path, Path]:
    """cupsd.conf and cups-files.conf with every directory under ``root``."""
    for name in ("conf", "spool", "state", "cache", "log"):
        (root / name).mkdir()
    (root / "spool" / "tmp").mkdir()
    files = root / "conf" / "cups-files.conf"
    user = "" if os.geteuid() != 0 else "User lp\nGroup lp\n"  # cupsd runs filters as lp
    files.write_text(
        f"ServerRoot {root}/conf\nRequestRoot {root}/spool\nTempDir {root}/spool/tmp\n"
        f"StateDir {root}/state\nCacheDir {root}/cache\nErrorLog {root}/log/error_log\n"
        f"AccessLog {root}/log/access_log\nPageLog {root}/log/page_log\n"
        f"ServerBin /usr/lib/cups\nDataDir /usr/share/cups\n{user}"
    )
    conf = root / "conf" / "cupsd.conf"
    allow = "  Order allow,deny\n  Allow 127.0.0.1\n"
    conf.write_text(
        f"LogLevel debug\nListen 127.0.0.1:{port}\nBrowsing No\nBrowseLocalProtocols none\n"
        "DefaultAuthType None\nWebInterface No\nPreserveJobFiles No\nPreserveJobHistory Yes\n"
        f"<Location />\n{allow}</Location>\n<Location /admin>\n{allow}</Location>\n"
        f"<Policy default>\n  <Limit All>\n{allow}  </Limit>\n</Policy>\n"
    )
    return conf, files


@pytest.fixture(scope="module")
def cups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCups]:
    """Start dbus-daemon (ippeveprinter's DNS-SD library needs a bus, even with DNS-SD
    off), ippeveprinter (the label printer: 62x100 mm only, files kept) and cupsd, all
    on loopback and under a temporary folder; add the queue; stop them all after."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"CUPS test tools missing: {', '.join(missing)} (apt install {PACKAGES})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() == 0:
        # as root, cupsd runs its filters as "lp", and lp cannot enter pytest's private
        # /tmp/pytest-of-root: the server's folders go to a folder lp may pass through
        root = Path(tempfile.mkdtemp(prefix="tapin-cups-"))
        root.chmod(0o711)
    else:
        root = tmp_path_factory.mktemp("cups")
    port, printer_port = free_port(), free_port()
    conf, files = _configure(root, port)
    spool = root / "printer"
    spool.mkdir()
    (root / "printer.ppd").write_text(PPD)
    processes: list[subprocess.Popen[bytes]] = []
    server = PrivateCups(root, port, printer_port, spool, processes)
    try:
        bus = root / "bus"
        processes.append(
            _start(
                [
                    "dbus-daemon",
                    "--session",
                    "--nofork",
                    "--nopidfile",
                    f"--address=unix:path={bus}",
                ],
                root / "log" / "dbus.out",
            )
        )
        deadline = time.monotonic() + 10
        while not bus.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
        printer = _start(
            # -n localhost: ippeveprinter listens on 127.0.0.1 and ::1 only (with -n
            # 127.0.0.1 it fails: it also wants an IPv6 listener for the name)
            [
                *("ippeveprinter", "-p", str(printer_port), "-n", "localhost", "-r", "off"),
                *("-d", str(spool), "-k", "-P", str(root / "printer.ppd"), "-c", "/bin/true"),
                "Tapin Badges",
            ],
            root / "log" / "ipp.out",
            env,
        )
        processes.append(printer)
        cupsd = _start(
            ["cupsd", "-f", "-c", str(conf), "-s", str(files)], root / "log" / "cupsd.out"
        )
        processes.append(cupsd)
        if not (wait_for_port(printer_port, printer) and wait_for_port(port, cupsd)):
            pytest.fail(f"the private CUPS did not start:\n{server.log()}")
        uri = f"ipp://localhost:{printer_port}/ipp/print"
        server.run("lpadmin", "-p", "Badges", "-E", "-v", uri, "-m", "everywhere")
        yield server
    finally:
        _stop(processes)
        if os.geteuid() == 0:
            shutil.rmtree(root, ignore_errors=True)


def a_badge() -> tuple[bytes, str]:
    badge = Badge("v-3f2a9c1e", TOKEN, "Åsa Öberg-Nordström", date(2026, 12, 1), "Nordlys")
    return render_badge(badge), badge_qr_text(badge.visitor_id, badge.badge_token)


# the real CUPS ------------------------------------------------------------------------


def test_a_badge_is_printed_through_cups_and_its_code_reads_back(
    cups: PrivateCups, tmp_path: Path
) -> None:
    png, code = a_badge()
    before = len(cups.printed())
    printer = CupsPrinter("Badges", server=cups.server, wait_seconds=30)
    printer.print_png(png)  # returns once CUPS says the job is done
    assert printer.last_job is not None and printer.last_job.startswith("Badges-")
    assert cups.run("lpstat", "-o", "Badges") == ""  # nothing left in the queue
    files = cups.printed()
    assert len(files) == before + 1, cups.log()
    document = files[-1]
    assert document.read_bytes().startswith(b"%PDF")  # CUPS converted the PNG for it
    assert "badge" in document.name  # the job's title: never the visitor's name
    subprocess.run(
        ["pdftoppm", "-r", "150", "-gray", "-png", str(document), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    with Image.open(pages[0]) as page:
        assert abs(page.width - 62 / 25.4 * 150) <= 2  # a 62 x 100 mm page
        assert abs(page.height - 100 / 25.4 * 150) <= 2
    assert read_codes(pages[0].read_bytes()) == [code]


def test_a_paused_queue_is_a_clear_error_and_nothing_is_queued(cups: PrivateCups) -> None:
    png, _ = a_badge()
    cups.run("cupsdisable", "Badges")
    try:
        with pytest.raises(PrinterError) as caught:
            CupsPrinter("Badges", server=cups.server).print_png(png)
    finally:
        cups.run("cupsenable", "Badges")
    assert str(caught.value).startswith("printer Badges: the queue is paused")
    assert "resume it with 'cupsenable Badges'" in str(caught.value)
    assert cups.run("lpstat", "-o", "Badges") == ""


def test_a_queue_that_refuses_jobs_says_how_to_accept_them(cups: PrivateCups) -> None:
    png, _ = a_badge()
    cups.run("cupsreject", "Badges")
    try:
        with pytest.raises(PrinterError, match="refuses jobs: run 'cupsaccept Badges'"):
            CupsPrinter("Badges", server=cups.server).print_png(png)
    finally:
        cups.run("cupsaccept", "Badges")


def test_an_unknown_queue_is_named(cups: PrivateCups) -> None:
    png, _ = a_badge()
    with pytest.raises(PrinterError) as caught:
        CupsPrinter("QL-800", server=cups.server).print_png(png)
    assert str(caught.value) == (
        "printer QL-800: CUPS has no queue named 'QL-800': check the name with 'lpstat -e' "
        "or add the printer in CUPS (http://localhost:631)"
    )


def test_a_label_the_printer_does_not_have_is_reported_with_cups_reason(
    cups: PrivateCups,
) -> None:
    png, _ = a_badge()
    before = len(cups.printed())
    printer = CupsPrinter("Badges", server=cups.server, media="na_letter_8.5x11in")
    with pytest.raises(PrinterError, match=r"the badge was not printed: .*supplied options"):
        printer.print_png(png)
    assert len(cups.printed()) == before


def test_a_printer_that_does_not_answer_is_given_up_and_the_job_cancelled(
    cups: PrivateCups,
) -> None:
    png, _ = a_badge()
    nowhere = free_port()  # nothing listens there: the backend keeps retrying
    cups.run("lpadmin", "-p", "Unplugged", "-E", "-v", f"ipp://localhost:{nowhere}/ipp/print")
    printer = CupsPrinter("Unplugged", server=cups.server, wait_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(PrinterError, match=r"not printed within 1\.5 s, so it was cancelled"):
        printer.print_png(png)
    assert 1.5 <= time.monotonic() - started < 15
    assert printer.last_job is not None
    assert cups.run("lpstat", "-o", "Unplugged") == ""  # no badge comes out later


def test_cups_not_running_is_a_clear_error() -> None:
    png, _ = a_badge()
    if shutil.which("lpstat") is None:
        pytest.skip(f"CUPS client tools missing (apt install {PACKAGES})")
    server = f"127.0.0.1:{free_port()}"
    with pytest.raises(PrinterError) as caught:
        CupsPrinter("Badges", server=server, timeout=20).print_png(png)
    assert f"CUPS at {server} is not running" in str(caught.value)


# without CUPS ---------------------------------------------------------------------------


def test_no_lp_command_says_what_to_install(tmp_path: Path) -> None:
    png, _ = a_badge()
    with pytest.raises(PrinterError, match="the lp command is missing: install CUPS"):
        CupsPrinter("Badges", search_path=str(tmp_path)).print_png(png)


def test_without_lpstat_the_job_is_handed_over_and_not_watched(tmp_path: Path) -> None:
    # a device with only lp (no lpstat to ask): the badge goes to CUPS, nothing waits
    got = tmp_path / "got.png"
    lp = tmp_path / "lp"
    lp.write_text(f'#!/bin/sh\ncat > {got}\necho "request id is QL-800-7 (1 file(s))"\n')
    lp.chmod(0o755)
    png, _ = a_badge()
    printer = CupsPrinter("QL-800", search_path=str(tmp_path), wait_seconds=30)
    started = time.monotonic()
    printer.print_png(png)
    assert time.monotonic() - started < 5
    assert printer.last_job == "QL-800-7"
    assert got.read_bytes() == png  # the PNG went on stdin, unchanged


@pytest.mark.parametrize("queue", ["", "-x", "a b", "Badges;rm", "a/b", "x" * 200, "Ö"])
def test_a_queue_name_cups_cannot_have_is_refused(queue: str) -> None:
    with pytest.raises(ValueError, match="CUPS queue name"):
        CupsPrinter(queue)


def test_only_png_and_a_few_copies_are_printed() -> None:
    printer = SimulatedPrinter()
    png, _ = a_badge()
    for bad in (b"", b"GIF89a", "png"):
        with pytest.raises(ValueError, match="PNG bytes"):
            printer.print_png(bad)  # type: ignore[arg-type]
    for copies in (0, 11, True, 1.0):
        with pytest.raises(ValueError, match="copies must be 1 to 10"):
            printer.print_png(png, copies=copies)  # type: ignore[arg-type]
    assert printer.jobs == 0


def test_the_simulated_printer_writes_private_files_and_can_fail(tmp_path: Path) -> None:
    png, code = a_badge()
    printer = SimulatedPrinter(tmp_path / "badges")
    printer.print_png(png, copies=2)
    assert printer.jobs == 1 and printer.printed == [png, png]
    assert [p.name for p in printer.files] == ["badge-0001.png", "badge-0002.png"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in printer.files)
    assert read_codes(printer.files[0].read_bytes()) == [code]
    printer.failure = "out of labels: load a new roll"
    with pytest.raises(PrinterError, match=r"^printer simulated: out of labels: load a new roll$"):
        printer.print_png(png)
    assert printer.jobs == 1
    printer.failure = None
    printer.print_png(png)
    assert printer.jobs == 2


def test_a_folder_that_cannot_be_written_is_a_printer_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    png, _ = a_badge()
    with pytest.raises(PrinterError, match="cannot write"):
        SimulatedPrinter(tmp_path / "file" / "badges").print_png(png)


# the [printer] table ------------------------------------------------------------------


def test_no_printer_configured_is_none() -> None:
    assert printer_from_config(None) is None
    assert printer_from_config({}) is None
    assert printer_from_config({"kind": "none", "queue": "QL-800"}) is None


def test_a_cups_printer_from_the_table() -> None:
    printer = printer_from_config(
        {"kind": "cups", "queue": "QL-800", "media": "62x100", "server": "localhost:631", "wait": 5}
    )
    assert isinstance(printer, CupsPrinter)
    assert (printer.queue, printer.media, printer.server) == ("QL-800", "62x100", "localhost:631")
    assert printer.wait_seconds == 5.0
    assert printer.command()[1:] == [
        "-h", "localhost:631", "-d", "QL-800", "-t", "badge",
        "-o", "media=62x100", "-o", "fit-to-page", "-",
    ]  # fmt: skip
    default = printer_from_config({"kind": "cups", "queue": "QL-800"})
    assert isinstance(default, CupsPrinter) and default.server is None
    assert default.command(copies=2)[1:5] == ["-d", "QL-800", "-n", "2"]


def test_a_simulated_printer_from_the_table(tmp_path: Path) -> None:
    printer = printer_from_config({"kind": "simulated", "folder": str(tmp_path)})
    assert isinstance(printer, SimulatedPrinter) and printer.folder == tmp_path


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "laser"}, "printer.kind: must be one of none, cups, simulated"),
        ({"kind": "cups"}, 'printer.queue: is required when printer.kind is "cups"'),
        ({"kind": "cups", "queue": "a b"}, "printer.queue: must be a CUPS queue name"),
        ({"kind": "cups", "queue": "Q", "media": "62 x 100"}, "printer.media: must be"),
        ({"kind": "cups", "queue": "Q", "server": "http://x"}, "printer.server: must be"),
        ({"kind": "cups", "queue": "Q", "server": "/run/../etc"}, "printer.server: must be"),
        ({"kind": "cups", "queue": "Q", "wait": -1}, "printer.wait: must be seconds"),
        ({"kind": "cups", "queue": "Q", "wait": "5"}, "printer.wait: must be seconds"),
        ({"kind": "simulated", "folder": ""}, "printer.folder: must be a folder path"),
        ({"kind": "cups", "queue": "Q", "colour": "red"}, "printer.colour: unknown key"),
    ],
)
def test_a_bad_table_names_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        printer_from_config(table)
    assert str(caught.value).startswith(message)
