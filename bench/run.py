"""Benchmark Screenings against a bare Flask route, side by side, on a big demo database.

    python -m bench.run                      # 100,000 screenings, 1,000,000 RSVPs (make bench)
    python -m bench.run --screenings 200 --rsvps 1000 --duration 1 --outbox 200   # a smoke run

It builds the database with ``flask demo-data``, starts the app and a bare Flask app each under
``gunicorn -w 2`` on loopback ports, and drives them alternately with wrk (bare, page, bare,
page, …): every page's ratio is taken against the bare run right before it, so load from
elsewhere on the machine hits both sides. Then it times ``flask outbox deliver`` for queued
messages to a local aiosmtpd server and reads the peak RSS (VmHWM) of the app's workers.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USER_AGENT = "screenings-bench"
# Calendar clients (Google, Apple, Thunderbird, Outlook) ask for gzip; the feed is kept gzipped.
GZIP = "Accept-Encoding: gzip"  # the login's session protection ties the cookie to it
PRODUCER = ("bench@example.org", "bench-password-" + "x" * 12)


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    hits: int | None = None  # sampled answers with X-Cache: hit (wrk with hits=True)
    misses: int | None = None

    @property
    def hit_rate(self) -> str:
        counted = (self.hits or 0) + (self.misses or 0)
        return f"{100 * (self.hits or 0) / counted:.1f} %" if counted else "—"


@dataclass
class Row:
    name: str
    path: str
    target: str
    bare: Result
    page: Result

    @property
    def ratio(self) -> float:
        return self.page.rps / self.bare.rps if self.bare.rps else 0.0


@dataclass
class Measure:
    """A row that is no wrk run (a delay, a count): its value in words, and whether it met
    its target."""

    name: str
    value: str
    target: str
    met: bool | None  # None: no target, for information


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(database: Path, port: int, smtp_port: int = 25) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FLASK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        FLASK_SECRET_KEY="bench-" + "s" * 40,
        FLASK_RATELIMIT_ENABLED="false",
        FLASK_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        FLASK_MAIL_SERVER="127.0.0.1",
        FLASK_MAIL_PORT=str(smtp_port),
        FLASK_MAIL_DEFAULT_SENDER="Screenings <screenings@example.org>",
        # Built feeds (without Redis) beside the database, removed with it, never in instance/.
        FLASK_FEED_FILES_DIR=str(database.parent / "feeds"),
    )
    return env


def flask(env: dict[str, str], *args: str) -> str:
    command = [str(BIN / "flask"), "--app", "screenings", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def web_env(env: dict[str, str]) -> dict[str, str]:
    """The app's web workers as the Procfile's `web` (and `flask laptop`) runs them: a
    `flask feeds build --watch` process builds the feeds beside them."""
    return {**env, "FLASK_FEED_BUILDER_RUNS": "true"}


def plain_env() -> dict[str, str]:
    """The environment of the bare app: this one's."""
    return dict(os.environ)


def gunicorn(target: str, port: int, env: dict[str, str], workers: int = 2) -> subprocess.Popen:
    command = [
        str(BIN / "gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--no-control-socket",
        "--timeout",
        "300",  # a feed's first build over every zone may take longer than the default 30 s
        target,
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# What `flask feeds build --watch` prints after its first pass and each pass that built a feed.
PASS_LINE = re.compile(r"(\d+) feeds built in ([\d.]+) s\.")


@dataclass
class Pass:
    ended: float  # time.monotonic() when its line was read
    built: int
    seconds: float

    @property
    def started(self) -> float:
        return self.ended - self.seconds


class FeedBuilder:
    """The Procfile's ``feeds`` process, ``flask feeds build --watch N``, beside the app's
    workers (which run with FLASK_FEED_BUILDER_RUNS=true, as the Procfile's ``web``): its
    passes are read from its output as they end."""

    def __init__(self, env: dict[str, str], watch: float) -> None:
        self.watch = watch
        command = [str(BIN / "flask"), "--app", "screenings", "feeds", "build"]
        self.command = [*command, "--watch", f"{watch:g}"]
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.passes: list[Pass] = []
        self.output: list[str] = []
        self._seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            ended = time.monotonic()
            found = PASS_LINE.search(line)
            with self._seen:
                self.output.append(line)
                if found:
                    self.passes.append(Pass(ended, int(found[1]), float(found[2])))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for_pass(self, after: float | None = None, timeout: float = 1800) -> Pass:
        """Its first pass (after=None), or the first that built feeds and started after
        `after` (a commit's time.monotonic()), once it has ended."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for done in self.passes:
                    if after is None or (done.built and done.started > after):
                        return done
                if self.process.poll() is not None:
                    raise SystemExit(
                        f"{' '.join(self.command)} stopped (exit status "
                        f"{self.process.returncode}):\n" + "".join(self.output[-30:])
                    )
                if time.monotonic() > deadline:
                    raise SystemExit(f"{' '.join(self.command)}: no pass ended in {timeout:g} s")
                self._seen.wait(1)

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.process.pid) if self.process.poll() is None else 0.0


def worker_pids(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- load -------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


class HitSampler(threading.Thread):
    """The page cache's answers (X-Cache: hit or miss) to requests sent beside a wrk run, one
    every `every` seconds, with wrk's headers and no cookie, as wrk's are: a sample of the hit
    rate. Counting them in wrk itself needs a Lua response hook, for which wrk copies every
    body into Lua: it halved wrk's rate on the 167 KB map page, which then measured the
    harness, not the app (the bare route's runs have no hook)."""

    def __init__(self, url: str, headers: Sequence[str], every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.request = urllib.request.Request(
            url, headers=dict(header.split(": ", 1) for header in headers)
        )
        self.every, self.hits, self.misses = every, 0, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                with urllib.request.urlopen(self.request, timeout=10) as answer:
                    answer.read()
                    seen = answer.headers.get("X-Cache")
            except OSError:  # an error is wrk's to count
                continue
            self.hits += seen == "hit"
            self.misses += seen == "miss"

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def wrk(
    url: str, *, duration: float, threads: int, connections: int, headers=(), hits: bool = False
) -> Result:
    """wrk against url; with hits, also the X-Cache answers to requests sampled beside it
    (HitSampler)."""
    seconds = max(1, round(duration))
    command = ["wrk", "--latency", "--timeout", "10s", f"-t{threads}", f"-c{connections}"]
    command.append(f"-d{seconds}s")
    for header in headers:
        command += ["-H", header]
    sampler = HitSampler(url, headers) if hits else None
    if sampler:
        sampler.start()
    try:
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    finally:
        if sampler:
            sampler.stop()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    if sampler:
        return Result(rps, p50, p99, requests, count, sampler.hits, sampler.misses)
    return Result(rps, p50, p99, requests, count)


# -- the app's side ---------------------------------------------------------------------------


def create_schema(env: dict[str, str]) -> None:
    """The schema from the models, in the database env's app uses."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from screenings import create_app; from screenings.extensions import db\n"
            "app = create_app()\nwith app.app_context(): db.create_all()",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )


def build_database(database: Path, screenings: int, rsvps: int, env: dict[str, str]) -> float:
    """Schema from the models, demo data through the CLI; returns demo-data's seconds."""
    create_schema(env)
    started = time.monotonic()
    flask(env, "demo-data", "--screenings", str(screenings), "--rsvps", str(rsvps))
    seconds = time.monotonic() - started
    flask(env, "producer", "create", PRODUCER[0], "--password", PRODUCER[1])
    return seconds


def sample(database: Path) -> dict:
    """A screening that takes RSVPs and how many pages the upcoming list has."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        listed = (
            "status = 'approved' AND is_public = 1 AND starts_at >= ?",
            (now,),
        )
        count = connection.execute(
            f"SELECT count(*) FROM screenings WHERE {listed[0]}", listed[1]
        ).fetchone()[0]
        screening_id = connection.execute(
            f"SELECT id FROM screenings WHERE {listed[0]} AND rsvps_enabled = 1 "
            "ORDER BY seats_taken DESC, id LIMIT 1",
            listed[1],
        ).fetchone()[0]
        # Screenings with room, for the RSVPs posted while pages are measured.
        roomy = [
            row[0]
            for row in connection.execute(
                f"SELECT id FROM screenings WHERE {listed[0]} AND rsvps_enabled = 1 "
                "ORDER BY capacity - seats_taken DESC, id LIMIT 200",
                listed[1],
            )
        ]
    return {
        "screening_id": screening_id,
        "roomy": roomy,
        "upcoming": count,
        "pages": max(1, (count + 19) // 20),
    }


def log_in(base: str) -> str:
    """The producer's session cookie, as a Cookie header value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(f"{base}/producer/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"csrf_token": token, "email": PRODUCER[0], "password": PRODUCER[1], "next": ""}
    ).encode()
    opener.open(f"{base}/producer/login", data=data).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    request = urllib.request.Request(
        f"{base}/producer/", headers={"Cookie": cookie, "User-Agent": USER_AGENT}
    )
    with urllib.request.urlopen(request) as response:
        if response.status != 200 or "/producer/login" in response.url:
            raise SystemExit("could not log in as the benchmark producer")
    return cookie


def get(url: str, headers: list[str]) -> urllib.request.addinfourl:
    pairs = dict(header.split(": ", 1) for header in headers)
    return urllib.request.urlopen(urllib.request.Request(url, headers=pairs), timeout=600)


def etag_of(url: str, headers: list[str]) -> str:
    with get(url, headers) as response:
        response.read()
        return response.headers["ETag"]


def warm_feed(url: str, headers: list[str]) -> None:
    """Have the feed built before measuring: concurrent requests, all awaited. A request
    that waited FEED_WAIT_SECONDS for another worker's first build (503, Retry-After) asks
    again: without Redis one worker builds for the host."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_n: int) -> None:
        for _attempt in range(20):
            try:
                with get(url, [h for h in headers if not h.startswith("If-None-Match")]) as r:
                    r.read()
                    return
            except urllib.error.HTTPError as error:
                if error.code != 503:
                    raise
                time.sleep(1)
        raise SystemExit(f"{url} was not built in time")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(fetch, range(6)))


# -- outbox -----------------------------------------------------------------------------------


def queue_messages(env: dict[str, str], count: int) -> None:
    """Queue ``count`` realistic RSVP confirmations (one composed, copied with new ids)."""
    code = f"from bench.outbox_queue import queue; queue({count})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def time_outbox(database: Path, count: int) -> tuple[float, int, int]:
    """(messages per second, sent, received) for `flask outbox deliver` of ``count`` messages."""
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = app_env(database, 5000, smtp_port=port)
        queue_messages(env, count)
        started = time.monotonic()
        output = flask(env, "outbox", "deliver")
        seconds = time.monotonic() - started
    finally:
        controller.stop()
    sent = int(re.search(r"sent (\d+)", output).group(1))
    return sent / seconds, sent, handler.count


# -- the run ----------------------------------------------------------------------------------


def pages(info: dict) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(name, path, target, extra headers) of every page measured."""
    sid = info["screening_id"]
    deep = max(1, int(info["pages"] * 0.9))
    return [
        ("screening .ics", f"/screenings/{sid}.ics", "≥ 0.60", ()),
        ("upcoming, first page", "/screenings", "≥ 0.40", ()),
        # The list pages by cursor: the old ?page= link is a 303 to the cursor page, which is
        # what is measured ("@follow"), not the redirect.
        (f"upcoming, page {deep}", f"/screenings?page={deep}", "≥ 0.40", ("@follow",)),
        ("screening page + RSVP form", f"/screenings/{sid}", "≥ 0.40", ()),
        ("world map", "/map", "≥ 0.40", ()),
        ("producer dashboard", "/producer/", "≥ 0.25", ("@cookie",)),
        ("/calendar.ics (gzip)", "/calendar.ics", "p99 < 250 ms", (GZIP,)),
        ("/calendar.ics, 304", "/calendar.ics", "≥ 0.80", (GZIP, "@etag")),
        ("/calendar.ics without gzip", "/calendar.ics", "(none)", ()),
    ]


def run(args: argparse.Namespace) -> str:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="screenings-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bench.db"
    app_port, bare_port = free_port(), free_port()
    env = app_env(database, app_port)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    if database.exists() and args.reuse:
        demo_seconds = None
    else:
        database.unlink(missing_ok=True)
        print(f"Building {args.screenings:,} screenings and {args.rsvps:,} RSVPs…", flush=True)
        demo_seconds = build_database(database, args.screenings, args.rsvps, env)
    info = sample(database)

    # As the Procfile runs it: `feeds` builds every stale feed, `web` only serves them.
    builder = FeedBuilder(env, args.feed_watch)
    app = gunicorn("wsgi:app", app_port, web_env(env))
    bare = gunicorn("bench.bare_app:app", bare_port, plain_env())
    rows: list[Row | Measure] = []
    try:
        app_base, bare_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}/"
        wait_until_up(f"{app_base}/healthz")
        wait_until_up(bare_url)
        cookie = log_in(app_base)
        # Its first pass builds every feed in every language: measured before any page.
        print("Waiting for the feed builder's first pass…", flush=True)
        first_pass = builder.wait_for_pass()
        load = {"threads": args.threads, "connections": args.connections}
        for name, path, target, extra in pages(info):
            if args.only and not any(word in name for word in args.only):
                continue
            url = app_base + path
            headers = [f"User-Agent: {USER_AGENT}"]
            if "@cookie" in extra:
                headers.append(f"Cookie: {cookie}")
            headers += [header for header in extra if not header.startswith("@")]
            if "@follow" in extra:
                with get(url, headers) as response:
                    url = response.url
            if "@etag" in extra:
                headers.append(f"If-None-Match: {etag_of(url, headers)}")
            if path == "/calendar.ics":
                warm_feed(url, headers)
            # Warm both workers' caches (a feed's first build is not what a visitor waits for).
            if args.warmup:
                wrk(url, duration=args.warmup, threads=1, connections=4, headers=headers)
            base = wrk(bare_url, duration=args.duration, **load)
            result = wrk(url, duration=args.duration, headers=headers, **load)
            rows.append(Row(name, path, target, base, result))
            print(f"  {name}: {result.rps:.0f} req/s vs bare {base.rps:.0f}", flush=True)
        notes = under_writes(args, info, app_base, bare_url, f"sqlite:///{database}", rows, builder)
        rss = [peak_rss_mb(pid) for pid in worker_pids(app.pid)]
        if args.cold:
            rows += cold_pages(args, info, database, bare_url)
        builder_rss = builder.peak_rss_mb()
        builder_alive = builder.process.poll() is None
    finally:
        stop(app)
        stop(bare)
        stop(builder.process)
    if not builder_alive:
        raise SystemExit("the feed builder stopped during the run:\n" + "".join(builder.output))
    if args.postgres:
        from .cluster import cluster_section

        load = {"threads": args.threads, "connections": args.connections}
        cluster_rows, cluster_notes = cluster_section(args, sys.modules[__name__], database, load)
        rows += cluster_rows
        notes += cluster_notes
    outbox_rate, sent, received = time_outbox(database, args.outbox) if args.outbox else (0.0, 0, 0)

    say(f"Screenings benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say()
    say(
        f"Data: {args.screenings:,} screenings, {args.rsvps:,} RSVPs "
        f"({info['upcoming']:,} upcoming listed, {info['pages']:,} pages)"
        + (f"; demo-data took {demo_seconds:.0f} s" if demo_seconds is not None else "")
    )
    say(
        f"Load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s per run, "
        "bare route and page alternately; gunicorn -w 2 (sync workers) for both"
    )
    say(
        "Served as the Procfile's web and feeds: the app's workers with "
        f"FLASK_FEED_BUILDER_RUNS=true (they serve a stale feed's last build, never rebuild it) "
        f"and `flask feeds build --watch {args.feed_watch:g}` beside them, started with them "
        f"after the data was built; its first pass, waited for before any page: "
        f"{first_pass.built:,} feeds in {first_pass.seconds:.1f} s"
    )
    say()
    say("| page | req/s | p50 ms | p99 ms | bare req/s | ratio | target | met |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for row in rows:
        if isinstance(row, Measure):
            met = "—" if row.met is None else "yes" if row.met else "NO"
            say(f"| {row.name} | {row.value} | | | | | {row.target} | {met} |")
            continue
        if row.target.startswith("p99"):
            met = row.page.p99_ms < 250
        elif row.target == "(none)":
            met = None
        else:
            met = row.ratio >= float(row.target.split()[-1])
        if row.page.errors and met is not None:
            met = False
        errors = f" ({row.page.errors} errors)" if row.page.errors else ""
        say(
            f"| {row.name}{errors} | {row.page.rps:,.0f} | {row.page.p50_ms:.1f} | "
            f"{row.page.p99_ms:.1f} | {row.bare.rps:,.0f} | {row.ratio:.2f} | {row.target} | "
            f"{'—' if met is None else 'yes' if met else 'NO'} |"
        )
    if args.outbox:
        met = "yes" if outbox_rate >= 300 and sent == received >= args.outbox else "NO"
        say(
            f"| outbox deliver ({sent:,} sent, {received:,} received) | {outbox_rate:,.0f} msg/s "
            f"| | | | | ≥ 300 msg/s | {met} |"
        )
    peak = max(rss) if rss else 0.0
    say(
        f"| worker peak RSS (VmHWM) | {', '.join(f'{r:.0f}' for r in rss)} MB | | | | | "
        f"< 150 MB | {'yes' if rss and peak < 150 else 'NO'} |"
    )
    say(
        f"| feed builder peak RSS (VmHWM), `flask feeds build --watch {args.feed_watch:g}` | "
        f"{builder_rss:.0f} MB | | | | | (none) | — |"
    )
    if notes:
        say()
    for note in notes:
        say(f"- {note}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return "\n".join(lines)


def under_writes(args, info, app_base, bare_url, database_uri, rows, builder) -> list[str]:
    """Pages while RSVPs arrive over HTTP; the feed while changes force rebuilds (by the
    feed builder); how soon a change's new feed is served; how soon a committed RSVP shows
    on every worker. Adds rows; returns notes for under the table."""
    from .writes import RsvpWriter, ScreeningChanger, time_to_new_feed, visibility

    rates = [rate for rate in args.rsvp_rate if rate > 0]
    if not rates:
        return []
    load = {"threads": args.threads, "connections": args.connections}
    headers = [f"User-Agent: {USER_AGENT}"]
    sid = info["screening_id"]
    ids = [sid, *info["roomy"]]
    notes, hit_rates = [], []
    for rate in rates:
        writer = RsvpWriter(app_base, ids, rate)
        writer.start()
        for name, path in (
            (f"screening page, RSVPs at {rate:g}/s", f"/screenings/{sid}"),
            (f"upcoming, first page, RSVPs at {rate:g}/s", "/screenings"),
            (f"world map, RSVPs at {rate:g}/s", "/map"),
        ):
            base = wrk(bare_url, duration=args.duration, **load)
            result = wrk(
                app_base + path, duration=args.duration, headers=headers, hits=True, **load
            )
            rows.append(Row(name, path, "≥ 0.50", base, result))
            hit_rates.append(f"{name} {result.hit_rate}")
            print(f"  {name}: {result.rps:.0f} req/s vs bare {base.rps:.0f}", flush=True)
        writer.stop()
        notes.append(
            f"RSVPs posted through HTTP at {rate:g}/s during those runs: {writer.sent} "
            f"({writer.failed} failed)"
        )
    notes.append(
        "Page cache hit rates (X-Cache answers to requests sent beside wrk, one every 20 ms): "
        + "; ".join(hit_rates)
    )

    changer = ScreeningChanger(database_uri, info["roomy"][-1], max(0.3, args.duration / 3))
    changer.start()
    changer.ready.wait(60)  # its app made before the runs, so short runs see changes too
    feed_headers = [*headers, GZIP]
    base = wrk(bare_url, duration=args.duration, **load)
    result = wrk(app_base + "/calendar.ics", duration=args.duration, headers=feed_headers, **load)
    changer.stop()
    name = f"/calendar.ics while {len(changer.changes)} changes force rebuilds (in the builder)"
    if changer.failures:
        notes.append(f"screening changes refused during feed rebuilds: {changer.failures}")
    rows.append(Row(name, "/calendar.ics", "p99 < 250 ms", base, result))
    print(f"  {name}: p99 {result.p99_ms:.0f} ms", flush=True)
    if changer.changes:  # the builder done with them: the next change finds it idle
        caught_up = builder.wait_for_pass(after=changer.changes[-1], timeout=600)
        notes.append(
            f"The feed builder after those {len(changer.changes)} changes: its pass that "
            f"started after the last one built {caught_up.built:,} feeds in "
            f"{caught_up.seconds:.1f} s, ending {caught_up.ended - changer.changes[-1]:.1f} s "
            "after that change"
        )
    time.sleep(1)
    pairs = dict(header.split(": ", 1) for header in feed_headers)
    old_etag = etag_of(app_base + "/calendar.ics", feed_headers)  # before the change
    changer = ScreeningChanger(database_uri, info["roomy"][-1], 0.01)
    changer.start()
    deadline = time.monotonic() + 120
    while not changer.changes and time.monotonic() < deadline:
        time.sleep(0.01)
    changer.stop()
    said = "/calendar.ics after one screening's change:"
    if not changer.changes:
        notes.append(f"{said} the change was not committed")
    elif (seconds := time_to_new_feed(app_base, pairs, changer.changes[0], old_etag)) == math.inf:
        notes.append(f"{said} NO new feed served within 120 s of the commit")
    else:
        committed = changer.changes[0]
        rebuilt = builder.wait_for_pass(after=committed, timeout=600)
        notes.append(
            f"{said} the new feed is served {seconds:.1f} s after the commit, built by the feed "
            f"builder (it looks every {builder.watch:g} s and builds this feed first, only the "
            "changed events made anew; the workers serve the last build meanwhile); all "
            f"{rebuilt.built:,} feeds were new {rebuilt.ended - committed:.1f} s after the "
            f"commit (that pass: {rebuilt.seconds:.1f} s)"
        )
    stale, total = visibility(app_base, info["roomy"][0])
    notes.append(
        f"RSVP commit → seat count on every worker: {stale} stale answers of {total} reads "
        "made right after each of 20 RSVPs (exact invalidation: the target is 0)"
    )
    return notes


def cold_pages(args, info, database: Path, bare_url: str) -> list[Row]:
    """The cached pages with the page cache off (FLASK_PAGE_CACHE_ENABLED=false): what the
    first visitor after a change, or a logged-in producer, gets."""
    port = free_port()
    env = {**web_env(app_env(database, port)), "FLASK_PAGE_CACHE_ENABLED": "false"}
    app = gunicorn("wsgi:app", port, env)
    rows = []
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base_url}/healthz")
        cookie = log_in(base_url)
        load = {"threads": args.threads, "connections": args.connections}
        sid = info["screening_id"]
        for name, path, target, extra in (
            ("cold: screening page", f"/screenings/{sid}", "≥ 0.15", ()),
            ("cold: upcoming, first page", "/screenings", "≥ 0.15", ()),
            ("cold: producer dashboard", "/producer/", "≥ 0.08", (f"Cookie: {cookie}",)),
            ("cold: screening .ics", f"/screenings/{sid}.ics", "≥ 0.30", ()),
            ("cold: world map", "/map", "(none)", ()),
        ):
            headers = [f"User-Agent: {USER_AGENT}", *extra]
            base = wrk(bare_url, duration=args.duration, **load)
            result = wrk(base_url + path, duration=args.duration, headers=headers, **load)
            rows.append(Row(name, path, target, base, result))
            print(f"  {name}: {result.rps:.0f} req/s vs bare {base.rps:.0f}", flush=True)
    finally:
        stop(app)
    return rows


def machine() -> str:
    """The machine, for the committed results: CPU model, cores, memory, software."""
    model = cores = "?"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = re.search(r"Model name:\s+(.*)", lscpu).group(1).strip()
        cores = re.search(r"^CPU\(s\):\s+(\d+)", lscpu, re.M).group(1)
    memory = "?"
    with contextlib.suppress(OSError):
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return (
        f"Machine: {model}, {cores} CPUs, {memory} RAM; Linux {platform.release()}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenings", type=int, default=100_000)
    parser.add_argument("--rsvps", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=7, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per page")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--outbox", type=int, default=10_000, help="messages to deliver")
    parser.add_argument("--workdir", help="keep the database here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse the workdir's database")
    parser.add_argument(
        "--only", action="append", help="measure only the pages whose name contains this"
    )
    parser.add_argument("--output", help="also write the results (markdown) to this file")
    parser.add_argument(
        "--rsvp-rate",
        type=float,
        nargs="+",
        default=[1, 10],
        help="RSVPs/s under writes, one run each (0 skips that part)",
    )
    parser.add_argument(
        "--no-cold", dest="cold", action="store_false", help="skip the page-cache-off runs"
    )
    parser.add_argument(
        "--postgres",
        metavar="URI",
        help="also run the app on PostgreSQL with Redis, -w --workers: a database of its own "
        "is made on this URI's server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) "
        "and dropped after",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="the Redis of the --postgres run (redis://127.0.0.1:6379/0)"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of that run")
    parser.add_argument(
        "--feed-watch",
        type=float,
        default=5,
        help="seconds the feed builder (flask feeds build --watch) waits between passes "
        "(5, as the Procfile's feeds)",
    )
    parser.add_argument(
        "--visibility-rsvps",
        type=int,
        default=30,
        help="RSVPs timed until every worker of that run serves their seat count",
    )
    args = parser.parse_args(argv)
    if bool(args.postgres) != bool(args.redis):
        parser.error("--postgres and --redis go together")
    started = time.monotonic()
    table = run(args)
    footer = f"{machine()}\nTotal time: {time.monotonic() - started:.0f} s"
    print(footer)
    if args.output:
        Path(args.output).write_text(
            "# Benchmark results\n\nProduced by `make bench` (`python -m bench.run`); "
            "see bench/README.md.\n\n" + table + "\n\n" + footer.replace("\n", "  \n") + "\n"
        )


if __name__ == "__main__":
    main()
