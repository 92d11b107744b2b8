"""The app as several web hosts run it: ``gunicorn -w N`` on PostgreSQL, one Redis holding
the cache and the rate limits for every worker (issue 15, benchmark sections (c) and (e)).

The database is one of its own, created on the server ``--postgres`` names and dropped after;
its data is the SQLite benchmark database's, copied with COPY (the same screenings, so the
same pages are measured; a million RSVPs load in seconds, where demo-data's executemany over
the network takes minutes). Redis keys carry a prefix made for the run, deleted after (never
FLUSHDB: the Redis may be shared)."""

from __future__ import annotations

import secrets
import sqlite3
import statistics
import time
from contextlib import closing, contextmanager
from pathlib import Path


def libpq(uri: str) -> str:
    """A SQLAlchemy URI (postgresql+psycopg://…) as psycopg's conninfo."""
    from sqlalchemy.engine import make_url

    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(server_uri: str):
    """A new database on the server of `server_uri` for the run (its SQLAlchemy URI), dropped
    after, whatever happens."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"screenings_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq(server_uri), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_uri).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(server_uri), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_from_sqlite(sqlite_path: Path, uri: str) -> float:
    """Every table's rows from the SQLite database into `uri`'s (schema already made), by
    COPY, then the id sequences moved past the copied ids and VACUUM (ANALYZE); returns the
    seconds. The VACUUM is what a restore is followed by: without it, autovacuum's pass over
    a million freshly inserted rows (PostgreSQL 13+ vacuums after inserts) starts within its
    minute's nap and runs beside the first pages measured."""
    import psycopg

    from screenings import models  # noqa: F401 every table in the metadata
    from screenings.extensions import db

    started = time.monotonic()
    with (
        closing(sqlite3.connect(sqlite_path)) as source,
        psycopg.connect(libpq(uri)) as target,
    ):
        # Rows arrive in table order, not in the order their foreign keys need: the copy
        # is of a consistent database, so the triggers checking them are skipped.
        target.execute("SET session_replication_role = replica")
        target.execute("SET TIME ZONE 'UTC'")
        for table in db.metadata.sorted_tables:
            rows = source.execute(f'SELECT * FROM "{table.name}"')  # our own tables
            columns = ", ".join(f'"{column[0]}"' for column in rows.description)
            with target.cursor().copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            for column in table.primary_key.columns:
                if column.autoincrement is True or (
                    column.autoincrement == "auto" and column.type.python_type is int
                ):
                    sequence = f"pg_get_serial_sequence('\"{table.name}\"', '{column.name}')"
                    target.execute(
                        f'SELECT setval({sequence}, coalesce(max("{column.name}"), 0) + 1, false) '
                        f'FROM "{table.name}"'
                    )
        target.commit()
        target.autocommit = True
        target.execute("VACUUM (ANALYZE)")
    return time.monotonic() - started


def delete_keys(redis_url: str, token: str) -> int:
    """Delete the run's keys (cache and rate limits: each has the token in it)."""
    import redis

    connection = redis.Redis.from_url(redis_url)
    deleted = 0
    for key in connection.scan_iter(match=f"*{token}*", count=1000):
        deleted += connection.delete(key)
    return deleted


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (of 30 values, p99 is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def cluster_section(args, run_helpers, sqlite_path: Path, bare_load: dict) -> tuple[list, list]:
    """Rows and notes of the PostgreSQL + Redis run: the screening page and the upcoming list
    while RSVPs arrive at the highest --rsvp-rate (10/s by default) beside the bare route
    served the same way (gunicorn -w N), with hit rates; then, for --visibility-rsvps RSVPs,
    the time from each one's commit to the new seat count on every worker."""
    from .writes import RsvpWriter, seen_by_every_worker

    h = run_helpers
    workers = args.workers
    rate = max([rate for rate in args.rsvp_rate if rate > 0] or [10.0])
    token = secrets.token_hex(6)
    prefix = f"screenings-bench-{token}"
    rows: list = []
    notes: list[str] = []
    with scratch_database(args.postgres) as uri:
        app_port, bare_port = h.free_port(), h.free_port()
        env = h.app_env(sqlite_path, app_port)
        env.update(
            FLASK_SQLALCHEMY_DATABASE_URI=uri,
            FLASK_CACHE_REDIS_URL=args.redis,
            FLASK_CACHE_KEY_PREFIX=prefix,
            # Rate limits on, counted in the same Redis, with room for the RSVPs posted from
            # this one address (forms: one POST each).
            FLASK_RATELIMIT_ENABLED="true",
            FLASK_RATELIMIT_STORAGE_URI=args.redis,
            FLASK_RATELIMIT_KEY_PREFIX=f"{prefix}-limits",
            FLASK_RATELIMIT_FORMS="100000 per minute",
        )
        h.create_schema(env)
        copy_seconds = copy_from_sqlite(sqlite_path, uri)
        info = h.sample(sqlite_path)
        app = h.gunicorn("bench.tagged_app:app", app_port, env, workers=workers)
        bare = h.gunicorn("bench.bare_app:app", bare_port, h.plain_env(), workers=workers)
        try:
            base, bare_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}/"
            h.wait_until_up(f"{base}/healthz")
            h.wait_until_up(bare_url)
            sid = info["screening_id"]
            label = f"PostgreSQL + Redis, -w {workers}"
            headers = [f"User-Agent: {h.USER_AGENT}"]
            writer = RsvpWriter(base, [sid, *info["roomy"]], rate)
            writer.start()
            hit_rates = []
            for name, path in (
                (f"{label}: screening page, RSVPs at {rate:g}/s", f"/screenings/{sid}"),
                (f"{label}: upcoming, first page, RSVPs at {rate:g}/s", "/screenings"),
            ):
                if args.warmup:  # each of the workers' first render, and its connections
                    h.wrk(base + path, duration=args.warmup, threads=1, connections=8)
                plain = h.wrk(bare_url, duration=args.duration, **bare_load)
                page = h.wrk(
                    base + path, duration=args.duration, headers=headers, hits=True, **bare_load
                )
                rows.append(h.Row(name, path, "≥ 0.50", plain, page))
                hit_rates.append(f"{name.removeprefix(label + ': ')} {page.hit_rate}")
                print(f"  {name}: {page.rps:.0f} req/s vs bare {plain.rps:.0f}", flush=True)
            writer.stop()
            seconds, stale, reads = [], 0, 0
            for n in range(args.visibility_rsvps):
                roomy = info["roomy"][n % len(info["roomy"])]
                seen = seen_by_every_worker(base, roomy, workers)
                if seen is None:
                    continue
                seconds.append(seen[0])
                stale += seen[1]
                reads += seen[2]
        finally:
            h.stop(app)
            h.stop(bare)
            delete_keys(args.redis, token)
    notes.append(
        f"{label}: the SQLite database copied into PostgreSQL (COPY) in {copy_seconds:.1f} s; "
        f"RSVPs posted through HTTP at {rate:g}/s during its runs: {writer.sent} "
        f"({writer.failed} failed); page cache hit rates: "
        + "; ".join(hit_rates)
        + "; no feed is served or changed in this section (an RSVP raises no feed's version), "
        "so it runs no feed builder and its workers run without FLASK_FEED_BUILDER_RUNS"
    )
    if seconds:
        p50, p99 = percentile(seconds, 0.50), percentile(seconds, 0.99)
        rows.append(
            h.Measure(
                f"{label}: RSVP commit → new seat count on all {workers} workers "
                f"({len(seconds)} RSVPs, {stale} stale of {reads} reads)",
                f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms",
                "p99 < 1000 ms, 0 stale",
                p99 < 1.0 and stale == 0,
            )
        )
        notes.append(
            f"{label}: after each of {len(seconds)} RSVPs, 8 readers read its page until each "
            f"of the {workers} workers (X-Worker) answered the new seat count, timed from the "
            f"POST's answer: mean {statistics.mean(seconds) * 1000:.0f} ms, {stale} answers "
            "with the old count"
        )
    else:
        notes.append(f"{label}: no RSVP was taken for the visibility measure")
    return rows, notes
