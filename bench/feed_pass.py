"""The feed builder's CPU per change, in process, on a copy of a big database.

    python -m bench.feed_pass /path/to/copy/screenings.db [--changes 3] [--profile]

Runs what `flask feeds build --watch` runs: one FeedPasses kept between passes. A first pass
(timed), then for each change: one listed screening's venue_name edited through the ORM and
committed (the change counters move), one pass, its CPU (`time.process_time`) and wall time
and how many feeds it built. With --profile, one more change's pass under cProfile (the top
functions by cumulative time). The built feeds go to a folder beside the database. Never
point it at a database you want to keep as it is: it commits changes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import time
from pathlib import Path

from .run import app_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    env = app_env(options.database.resolve(), 8000)
    import os  # the app reads FLASK_* when it is made

    os.environ.update(env)
    os.environ["FLASK_FEED_BUILDER_NICE"] = "0"
    from screenings import create_app
    from screenings.extensions import db
    from screenings.models import Screening, utcnow
    from screenings.services import feeds, visibility

    collecting = {"s": 0.0, "n": 0, "since": 0.0}

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            collecting["since"] = time.process_time()
        else:
            collecting["s"] += time.process_time() - collecting["since"]
            collecting["n"] += info["generation"] == 2

    gc.callbacks.append(timed)
    app = create_app()
    with app.app_context():
        passes = feeds.FeedPasses()
        cpu, wall = time.process_time(), time.perf_counter()
        built = passes.run()
        gc.freeze()  # as `flask feeds build` does after each pass
        print(
            f"first pass: {built} feeds built, {time.process_time() - cpu:.2f} s CPU, "
            f"{time.perf_counter() - wall:.2f} s wall"
        )
        ids = db.session.scalars(
            feeds._feed_rows(include_private=False)
            .where(visibility.listed_clause(), Screening.starts_at >= utcnow())
            .with_only_columns(Screening.id)
            .order_by(Screening.id)
            .limit(50)
        ).all()

        def change(n: int) -> None:
            screening = db.session.get(Screening, ids[n * 7 % len(ids)])
            screening.venue_name = f"Bench Hall {time.time_ns()}"
            db.session.commit()
            db.session.remove()

        for n in range(options.changes):
            change(n)
            collecting.update(s=0.0, n=0)
            cpu, wall = time.process_time(), time.perf_counter()
            built = passes.run()
            gc.freeze()
            print(
                f"change {n + 1}: {built} feeds built, {time.process_time() - cpu:.2f} s CPU, "
                f"{time.perf_counter() - wall:.2f} s wall (garbage collector: "
                f"{collecting['s']:.2f} s, {collecting['n']} full passes)"
            )
            db.session.remove()
        if options.profile:
            change(options.changes)
            profile = cProfile.Profile()
            cpu = time.process_time()
            profile.enable()
            built = passes.run()
            profile.disable()
            print(f"profiled pass: {built} feeds built, {time.process_time() - cpu:.2f} s CPU")
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        size = feeds.latest_feed("screenings-en", "Screenings", feeds.Filters())
        print(f"all-screenings feed (en), gzipped: {len(size.read()):,} bytes")


if __name__ == "__main__":
    main()
