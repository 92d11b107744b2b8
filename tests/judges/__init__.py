"""Strict outside judges of what calendar.py writes: libical, a CalDAV server (Radicale) and
khal (a terminal calendar that imports files as a user would).

Test modules make fixtures of them: ``libical_judge = pytest.fixture(scope="session",
name="libical")(build_libical)``, and the same for ``run_caldav`` and ``find_khal``.

libical is the C library behind Evolution and many CalDAV servers; `icalcheck.c` beside this
file is compiled against it once per run (Debian's libical-dev; `make test` installs it). A
CalDAV server accepts an object on PUT only if it parses, and a time-range REPORT finds an
event only at the instant its server reads. Where a judge can't be had, the tests that need it
skip and say why; nothing here passes by default.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from icalendar import Calendar

SOURCE = Path(__file__).with_name("icalcheck.c")
KHAL_RUN = Path(__file__).with_name("khal_run.py")


class Libical:
    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def check(self, ics: bytes) -> tuple[list[str], dict[str, tuple[int, int]]]:
        """libical's errors (parse and iTIP restriction), and each VEVENT's UID -> (start,
        end) as UNIX times, resolved through the object's own VTIMEZONEs."""
        out = subprocess.run(
            [self.binary, "check"], input=ics, capture_output=True, check=False, timeout=30
        ).stdout.decode()
        errors = [line[6:] for line in out.splitlines() if line.startswith("ERROR ")]
        events = {}
        for line in out.splitlines():
            if line.startswith("EVENT "):
                _, uid, start, end = line.split(" ")
                events[uid] = (int(start), int(end))
        return errors, events

    def offsets(self, vtimezone: bytes, tzid: str, instants: list[datetime]) -> list[int]:
        """The UTC offset (seconds) that the VTIMEZONE alone gives at each instant."""
        calendar = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + vtimezone
        calendar += b"END:VCALENDAR\r\n\n--\n"
        calendar += "\n".join(str(int(i.timestamp())) for i in instants).encode()
        result = subprocess.run(
            [self.binary, "offsets", tzid], input=calendar, capture_output=True, timeout=60
        )
        assert result.returncode == 0, result
        return [int(value) for value in result.stdout.split()]


def build_libical(tmp_path_factory) -> Libical:
    """icalcheck compiled against libical, or a skip saying what is missing."""
    gcc, pkg_config = shutil.which("gcc"), shutil.which("pkg-config")
    if not gcc or not pkg_config:
        pytest.skip("libical judge needs gcc and pkg-config (apt-get install gcc pkg-config)")
    flags = subprocess.run([pkg_config, "--cflags", "--libs", "libical"], capture_output=True)
    if flags.returncode != 0:
        pytest.skip("libical not installed (apt-get install libical-dev; make test does it)")
    binary = tmp_path_factory.mktemp("libical") / "icalcheck"
    subprocess.run([gcc, "-O2", "-o", binary, SOURCE, *flags.stdout.decode().split()], check=True)
    return Libical(binary)


def split_events(ics: bytes) -> dict[str, bytes]:
    """One calendar object per VEVENT (with the VTIMEZONEs), as CalDAV stores them."""
    calendar = Calendar.from_ical(ics)
    timezones = calendar.walk("VTIMEZONE")
    objects = {}
    for event in calendar.walk("VEVENT"):
        one = Calendar()
        for name in ("PRODID", "VERSION", "CALSCALE"):
            one.add(name, calendar[name])
        for timezone in timezones:
            one.add_component(timezone)
        one.add_component(event)
        objects[str(event["UID"])] = one.to_ical()
    return objects


class CalDAV:
    """A Radicale server on loopback with one calendar at /test/screenings/."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.calendar = f"{base}/test/screenings/"

    def _request(self, method: str, url: str, body: bytes = b"", **headers) -> tuple[int, bytes]:
        headers.setdefault("Authorization", "Basic dGVzdDp0ZXN0")  # test:test
        request = Request(url, data=body or None, method=method, headers=headers)
        try:
            with urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except HTTPError as error:
            return error.code, error.read()

    def put(self, name: str, ics: bytes) -> int:
        status, _ = self._request(
            "PUT", f"{self.calendar}{name}.ics", ics, **{"Content-Type": "text/calendar"}
        )
        return status

    def delete(self, name: str) -> None:
        self._request("DELETE", f"{self.calendar}{name}.ics")

    def get(self, name: str) -> bytes:
        status, body = self._request("GET", f"{self.calendar}{name}.ics")
        assert status == 200, (status, body)
        return body

    def found_between(self, start: datetime, end: datetime) -> set[str]:
        """The names of the objects a time-range REPORT finds (RFC 4791 9.9)."""
        fmt = "%Y%m%dT%H%M%SZ"
        query = f"""<?xml version="1.0" encoding="utf-8" ?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start.astimezone(UTC):{fmt}}" end="{end.astimezone(UTC):{fmt}}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
        status, body = self._request(
            "REPORT",
            self.calendar,
            query.encode(),
            Depth="1",
            **{"Content-Type": "application/xml"},
        )
        assert status == 207, (status, body)
        text = body.decode()
        names = set()
        for piece in text.split("<D:href>" if "<D:href>" in text else "<href>")[1:]:
            href = piece.split("<", 1)[0]
            if href.endswith(".ics"):
                names.add(href.rsplit("/", 1)[1].removesuffix(".ics"))
        return names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_caldav(tmp_path_factory):
    """Radicale (PyPI) serving on loopback for the session, or a skip saying why."""
    pytest.importorskip("radicale", reason="Radicale not installed (pip install radicale)")
    folder = tmp_path_factory.mktemp("radicale")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--auth-type",
            "none",
            "--rights-type",
            "owner_only",
            "--storage-filesystem-folder",
            str(folder),
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = CalDAV(f"http://127.0.0.1:{port}")
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("Radicale did not start")
        status, body = server._request(
            "MKCALENDAR", server.calendar, b"", **{"Content-Type": "application/xml"}
        )
        assert status == 201, (status, body)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


# khal's own settings for a throwaway calendar per object: every time read and written in UTC,
# with seconds, so what it lists is the instant it understood.
_KHAL_CONFIG = """[calendars]
{calendars}
[locale]
local_timezone = UTC
default_timezone = UTC
timeformat = %H:%M:%S
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M:%S
longdatetimeformat = %Y-%m-%d %H:%M:%S
[sqlite]
path = {folder}/khal.db
"""


class Khal:
    """khal (PyPI): ``khal import --batch`` into a calendar of its own, then ``khal list``,
    run by khal_run.py beside this file in one process of this interpreter."""

    def _run(self, folder: Path, commands: list[list[str]]) -> list[str]:
        config = ["-c", str(folder / "config")]
        environment = {
            "HOME": str(folder),
            "XDG_CONFIG_HOME": str(folder),
            "XDG_DATA_HOME": str(folder),
            "XDG_CACHE_HOME": str(folder),
            "TZ": "UTC",
            "LANG": "C.UTF-8",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [sys.executable, str(KHAL_RUN)],
            input=json.dumps([config + command for command in commands]).encode(),
            capture_output=True,
            env=environment,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, (commands, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def read_back(
        self, folder: Path, objects: dict[str, bytes], first: datetime, last: datetime
    ) -> dict[str, dict[str, tuple[datetime, datetime, str]]]:
        """Import each object into its own calendar; for each, UID -> (start, end, STATUS)
        of the events khal lists between the days of ``first`` and ``last`` (UTC)."""
        names = {f"object{index}": kind for index, kind in enumerate(objects)}
        calendars = ""
        commands = []
        for name, kind in names.items():
            (folder / name).mkdir()
            calendars += f"[[{name}]]\npath = {folder / name}\ntype = calendar\n"
            path = folder / f"{name}.ics"
            path.write_bytes(objects[kind])
            commands.append(["import", "--batch", "--include-calendar", name, str(path)])
        (folder / "config").write_text(_KHAL_CONFIG.format(calendars=calendars, folder=folder))
        # Not --once: that lists one event per UID across all the calendars.
        commands.append(
            [
                "list",
                "--day-format",
                "",
                "--format",
                "{calendar}|{uid}|{start}|{end}|{status}",
                f"{first.astimezone(UTC) - timedelta(days=1):%Y-%m-%d}",
                f"{last.astimezone(UTC) + timedelta(days=2):%Y-%m-%d}",
            ]
        )
        listed = self._run(folder, commands)[-1]
        found: dict[str, dict[str, tuple[datetime, datetime, str]]] = {k: {} for k in objects}
        for line in listed.splitlines():
            if "|" not in line:
                continue
            name, uid, start, end, status = line.split("|")
            found[names[name]][uid] = (_khal_time(start), _khal_time(end), status.strip())
        return found


def _khal_time(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def find_khal(tmp_path_factory) -> Khal:
    """khal importable by this interpreter (a dev dependency), or a skip saying why."""
    pytest.importorskip("khal.cli", reason="khal not installed (pip install khal; a dev extra)")
    return Khal()
