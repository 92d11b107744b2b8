"""Load that writes: RSVPs through HTTP (CSRF and all) at a steady rate, screening changes
that force a feed rebuild, and how soon a committed RSVP shows on every worker."""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

USER_AGENT = "screenings-bench"
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
ATTR = re.compile(r'(\w+)="([^"]*)"')
SEATS = re.compile(r'class="seats-left">(\d+)<')


def _opener():
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    return opener


def post_rsvp(base: str, screening_id: int, email: str) -> bool:
    """As a visitor: open the screening page, then post the RSVP form with its hidden fields."""
    opener = _opener()
    url = f"{base}/screenings/{screening_id}"
    page = opener.open(url, timeout=30).read().decode()
    fields = {}
    for tag in HIDDEN.findall(page):
        attrs = dict(ATTR.findall(tag))
        if "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    fields.update(name="Bench Visitor", email=email, party_size="1", consent="y")
    try:
        with opener.open(url, data=urllib.parse.urlencode(fields).encode(), timeout=30) as done:
            done.read()
            return done.status == 200
    except urllib.error.HTTPError:
        return False


def seats_left(base: str, screening_id: int) -> int | None:
    request = urllib.request.Request(
        f"{base}/screenings/{screening_id}", headers={"User-Agent": USER_AGENT}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found = SEATS.search(response.read().decode())
    return int(found.group(1)) if found else None


class RsvpWriter(threading.Thread):
    """RSVPs at `rate` per second on random screenings of `screening_ids`, until stopped."""

    def __init__(self, base: str, screening_ids: list[int], rate: float) -> None:
        super().__init__(daemon=True)
        self.base, self.ids, self.rate = base, screening_ids, rate
        self.stopped = threading.Event()
        self.sent = self.failed = 0

    def run(self) -> None:
        rng = random.Random(7)
        next_at = time.monotonic()
        while not self.stopped.is_set():
            email = f"bench-{rng.randrange(10**12)}@example.org"
            try:
                ok = post_rsvp(self.base, rng.choice(self.ids), email)
            except OSError:
                ok = False
            self.sent += ok
            self.failed += not ok
            next_at += 1 / self.rate
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


class ScreeningChanger(threading.Thread):
    """Change one listed screening's venue every `interval` seconds (a calendar change: every
    feed is rebuilt), through the app's own session so the change is counted as any other."""

    def __init__(self, database_uri: str, screening_id: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.uri, self.screening_id, self.interval = database_uri, screening_id, interval
        self.stopped = threading.Event()
        self.ready = threading.Event()  # its app is made: the changes start
        self.changes: list[float] = []  # monotonic time of each commit
        self.failures = 0

    def run(self) -> None:
        from sqlalchemy.exc import OperationalError

        from screenings import create_app
        from screenings.extensions import db
        from screenings.models import Screening

        app = create_app({"SQLALCHEMY_DATABASE_URI": self.uri, "OUTBOX_DELIVER_ON_COMMIT": False})
        self.ready.set()
        n = 0
        while not self.stopped.wait(self.interval):
            n += 1
            try:
                with app.app_context():
                    screening = db.session.get(Screening, self.screening_id)
                    # A name never used before: each commit is a change (a second changer's
                    # "Bench Hall 1" after the first's "Bench Hall 1" would be none).
                    screening.venue_name = f"Bench Hall {n}-{time.time_ns()}"
                    db.session.commit()
            except OperationalError:  # SQLite: "database is locked" by a long read
                self.failures += 1
                continue
            self.changes.append(time.monotonic())

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


def time_to_new_feed(
    base: str, headers: dict, after: float, old_etag: str, timeout: float = 120
) -> float:
    """Seconds from `after` (a commit) until /calendar.ics carries an ETag other than
    `old_etag` (read before the commit: a build made right after it is not missed)."""
    request = urllib.request.Request(f"{base}/calendar.ics", headers=headers)
    while time.monotonic() - after < timeout:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            if response.headers["ETag"] != old_etag:
                return time.monotonic() - after
        time.sleep(0.05)
    return float("inf")


def visibility(base: str, screening_id: int, rounds: int = 20, reads: int = 8) -> tuple[int, int]:
    """Post an RSVP, then read the page `reads` times at once (the workers in turn): how many
    reads after the commit still showed the old seat count, of how many."""
    stale = total = 0
    for n in range(rounds):
        before = seats_left(base, screening_id)
        if before is None or before == 0:
            break
        if not post_rsvp(base, screening_id, f"bench-visible-{n}-{time.time_ns()}@example.org"):
            continue
        for _ in range(reads):
            total += 1
            stale += seats_left(base, screening_id) != before - 1
    return stale, total


def _seats_and_worker(base: str, screening_id: int) -> tuple[int | None, str]:
    """The seats left on the screening's page and the worker that answered (X-Worker)."""
    request = urllib.request.Request(
        f"{base}/screenings/{screening_id}", headers={"User-Agent": USER_AGENT}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found = SEATS.search(response.read().decode())
        worker = response.headers.get("X-Worker", "")
    return (int(found.group(1)) if found else None), worker


def seen_by_every_worker(
    base: str, screening_id: int, workers: int, *, readers: int = 8, timeout: float = 10.0
) -> tuple[float, int, int] | None:
    """Post an RSVP, then read its page from `readers` threads at once until each of the
    `workers` has answered with the new seat count. Returns (seconds from the POST's answer
    (the commit is before it) to the last worker's first new answer, stale answers, answers),
    or None if the RSVP was not taken. Every read starts after the POST's answer, so an old
    count is a stale answer; a worker not seen by `timeout` makes the seconds infinite."""
    before, _worker = _seats_and_worker(base, screening_id)
    if not before:
        return None
    if not post_rsvp(base, screening_id, f"bench-workers-{time.time_ns()}@example.org"):
        return None
    committed = time.monotonic()
    first_new: dict[str, float] = {}
    counts = {"stale": 0, "reads": 0}
    lock, done = threading.Lock(), threading.Event()

    def read() -> None:
        while not done.is_set() and time.monotonic() - committed < timeout:
            seats, worker = _seats_and_worker(base, screening_id)
            with lock:
                counts["reads"] += 1
                if seats != before - 1:
                    counts["stale"] += 1
                    continue
                first_new.setdefault(worker, time.monotonic() - committed)
                if len(first_new) >= workers:
                    done.set()

    threads = [threading.Thread(target=read, daemon=True) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 30)
    seconds = max(first_new.values()) if len(first_new) >= workers else float("inf")
    return seconds, counts["stale"], counts["reads"]
