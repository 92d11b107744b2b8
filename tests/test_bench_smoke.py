"""The benchmark harness end to end, tiny: a small database and one-second wrk runs."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDS_WRK = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)"
)
SMOKE_OPTIONS = ("--outbox", "100", "--warmup", "0")


def run_bench(tmp_path, *options: str) -> str:
    """`python -m bench.run` on 150 screenings with one-second runs; the table it wrote."""
    output = tmp_path / "benchmark.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            *("--screenings", "150", "--rsvps", "600", "--duration", "1", "--connections", "4"),
            *options,
            *("--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return output.read_text()


@pytest.fixture(scope="session")
def smoke_table(tmp_path_factory, worker_id) -> str:
    """The table of one smoke run on SQLite (every page, RSVPs at 1/s and 10/s, the cold
    pages, 100 messages through the outbox), for the two tests below: it also serves the app
    as the Procfile does (workers with FLASK_FEED_BUILDER_RUNS=true beside `flask feeds build
    --watch 5`), which is what the second one reads. A run of its own cost that one 33 s.

    Under xdist the two may land on different workers: the first to ask runs it under a lock
    in the folder the run's workers share, and the other waits for it and reads its table
    (xdist's `loadgroup` would keep them together, but it cannot rename a pytest 9 item)."""
    if worker_id == "master":
        return run_bench(tmp_path_factory.mktemp("bench"), *SMOKE_OPTIONS)
    shared = tmp_path_factory.getbasetemp().parent  # this run's, one per `pytest -n` run
    table = shared / "bench-smoke-sqlite.md"
    with (shared / "bench-smoke-sqlite.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not table.exists():
            table.write_text(run_bench(tmp_path_factory.mktemp("bench"), *SMOKE_OPTIONS))
    return table.read_text()


@NEEDS_WRK
def test_benchmark_prints_the_table(smoke_table):
    table = smoke_table
    for row in (
        "| screening .ics |",
        "| upcoming, first page |",
        "| screening page + RSVP form |",
        "| world map |",
        "| producer dashboard |",
        "| /calendar.ics (gzip) |",
        "| /calendar.ics, 304 |",
        "| worker peak RSS (VmHWM) |",
    ):
        assert row in table, table
    # The 100 queued by the harness, and whatever the demo data left queued (producer alerts).
    delivered = re.search(r"\| outbox deliver \(([\d,]+) sent, ([\d,]+) received\) \|", table)
    assert delivered, table
    assert delivered.group(1) == delivered.group(2)
    assert int(delivered.group(1).replace(",", "")) >= 100
    assert "| screening page, RSVPs at 1/s |" in table, table
    assert "| screening page, RSVPs at 10/s |" in table, table
    hit_rates = r"Page cache hit rates .*screening page, RSVPs at 10/s \d+\.\d %"
    assert re.search(hit_rates, table), table
    # The feed measured while screenings change: at least one change in a one-second run.
    rebuilds = r"\| /calendar\.ics while [1-9]\d* changes? force rebuilds \(in the builder\) \|"
    assert re.search(rebuilds, table), table
    assert "Machine:" in table
    assert "errors)" not in table, table


@NEEDS_WRK
def test_benchmark_serves_the_app_as_the_procfile_does_with_the_feed_builder(smoke_table):
    """As the Procfile: workers with FLASK_FEED_BUILDER_RUNS=true, which never rebuild a stale
    feed, and `flask feeds build --watch 5` beside them, which built every feed before the
    pages were measured and the new feed after each change; its peak RSS reported."""
    table = smoke_table
    assert "the app's workers with FLASK_FEED_BUILDER_RUNS=true" in table, table
    first = re.search(
        r"`flask feeds build --watch 5` beside them, .* first pass, .*: (\d+) feeds", table
    )
    assert first, table
    assert int(first[1]) > 0, table  # a new database: every feed built by the builder
    assert "| /calendar.ics (gzip) |" in table, table
    peak = re.search(
        r"\| feed builder peak RSS \(VmHWM\), `flask feeds build --watch 5` \| (\d+) MB \|", table
    )
    assert peak, table
    assert int(peak[1]) > 0, table  # read while it ran
    caught_up = re.search(r"The feed builder after those \d+ changes?: .* built (\d+) feeds", table)
    assert caught_up, table
    assert int(caught_up[1]) > 0, table
    served = re.search(
        r"the new feed is served ([\d.]+) s after the commit, built by the feed builder .*; all "
        r"(\d+) feeds were new ([\d.]+) s after the commit",
        table,
    )
    assert served, table
    # At most the builder's 5 s between passes and a tiny database's first feed (a loaded
    # machine's margin); the workers served the last build meanwhile.
    assert float(served[1]) < 30, table
    assert int(served[2]) > 0, table
    assert "errors)" not in table, table


def _redis_url() -> str | None:
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


@NEEDS_WRK
def test_benchmark_on_postgresql_with_redis_prints_its_numbers(tmp_path):
    """Sections (c) and (e): gunicorn -w 4 on a PostgreSQL database of its own, one Redis;
    the SQLite pages skipped (--only nothing), the tiny database copied over."""
    server = os.environ.get("TEST_POSTGRES_URI", "")
    if not server:
        pytest.skip("no PostgreSQL configured: set TEST_POSTGRES_URI (the CI run does)")
    redis_url = _redis_url()
    if redis_url is None:
        pytest.skip("no Redis on 127.0.0.1:6379 (or TEST_REDIS_URL)")
    table = run_bench(
        tmp_path,
        *("--outbox", "0", "--warmup", "1", "--only", "nothing", "--rsvp-rate", "0", "--no-cold"),
        *("--postgres", server, "--redis", redis_url, "--visibility-rsvps", "5"),
    )
    label = re.escape("PostgreSQL + Redis, -w 4")
    for page in ("screening page", "upcoming, first page"):
        row = re.search(
            rf"\| {label}: {page}, RSVPs at 10/s \| ([\d,]+) \| [\d.]+ \| [\d.]+ \| ([\d,]+) \| "
            r"(\d+\.\d\d) \|",
            table,
        )
        assert row, table
        assert int(row[1].replace(",", "")) > 0, table  # the page's req/s
        assert int(row[2].replace(",", "")) > 0, table  # the bare route's, -w 4 too
    assert re.search(r"hit rates: screening page, RSVPs at 10/s \d+\.\d %", table), table
    seen = re.search(
        rf"\| {label}: RSVP commit → new seat count on all 4 workers \((\d+) RSVPs, "
        r"(\d+) stale of (\d+) reads\) \| p50 (\d+) ms, p99 (\d+) ms \|",
        table,
    )
    assert seen, table
    assert int(seen[1]) >= 3, table  # most of the RSVPs taken and timed
    assert int(seen[3]) >= 4 * int(seen[1]), table  # each worker answered each time
    assert seen[2] == "0", table  # exact invalidation: no stale answer on any worker
    assert "errors)" not in table, table
