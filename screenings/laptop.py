"""`flask laptop` (what `make run` starts): every process the programme needs, supervised.

The web server alone serves pages, but e-mail is retried by the delivery worker, the
reminders, report requests, privacy purge and digests come from the periodic jobs, and the
calendar feeds are rebuilt by the feed builder; on a laptop the mail goes to a local
catcher, readable at /dev/mail. When an IMAP mailbox is configured (FLASK_INBOUND_IMAP_HOST)
`flask mail poll` reads the replies and bounces from it. This starts them together,
prefixes their output with their names, and stops them all on Ctrl-C or as soon as one of
them stops.
"""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404: our own commands, no shell
import sys
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import IO

STOP_GRACE_SECONDS = 5.0


def commands(port: int, mail_port: int, *, poll: bool = False) -> dict[str, list[str]]:
    """Each process by name: the mail catcher first, so nothing is sent before it listens;
    with ``poll`` (an IMAP mailbox is configured) the inbound poller too."""
    flask = [sys.executable, "-m", "flask", "--app", "screenings"]
    found = {
        "mail": [*flask, "mail-catcher", "--host", "127.0.0.1", "--port", str(mail_port)],
        "worker": [*flask, "outbox", "run"],
        "jobs": [*flask, "jobs", "run"],
        "feeds": [*flask, "feeds", "build", "--watch", "5"],
        "web": [*flask, "run", "--host", "127.0.0.1", "--port", str(port)],
    }
    if poll:
        found["inbox"] = [*flask, "mail", "poll"]
    return found


def environment(port: int, mail_port: int, mail_dir: str, base: Mapping[str, str]) -> dict:
    """The children's settings: mail to the local catcher, links to this web server."""
    env = dict(base)
    env.update(
        {
            "FLASK_MAIL_SERVER": "127.0.0.1",
            "FLASK_MAIL_PORT": str(mail_port),
            "FLASK_MAIL_USE_TLS": "false",
            "FLASK_MAIL_USE_SSL": "false",
            "FLASK_DEV_MAIL_DIR": mail_dir,
            "FLASK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # The "feeds" process builds stale feeds; the web server only serves them.
            "FLASK_FEED_BUILDER_RUNS": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _relay(name: str, stream: IO[str]) -> None:
    for line in iter(stream.readline, ""):
        sys.stdout.write(f"{name:>6} | {line}")
        sys.stdout.flush()


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    """Ask every child to stop (SIGINT, as Ctrl-C would), then kill what is left."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_together(*, port: int, mail_port: int, mail_dir: str, poll: bool = False) -> int:
    """Start every process, wait until Ctrl-C/SIGTERM or until one exits; the exit status."""
    env = environment(port, mail_port, mail_dir, os.environ)
    processes: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for name, command in commands(port, mail_port, poll=poll).items():
            # A session of its own: Ctrl-C reaches this supervisor only, which stops each
            # child in turn instead of four tracebacks at once.
            process = subprocess.Popen(  # noqa: S603 # nosec B603: a fixed argument list, no shell
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            processes[name] = process
            threading.Thread(target=_relay, args=(name, process.stdout), daemon=True).start()
        print(
            f"Screenings on http://127.0.0.1:{port}/ · caught e-mail at "
            f"http://127.0.0.1:{port}/dev/mail · Ctrl-C stops everything",
            flush=True,
        )
        while not stopping.is_set():
            ended = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            if ended:
                name, status = next(iter(ended.items()))
                print(f"{name} stopped (exit status {status}); stopping the others", flush=True)
                status = status or 1
                break
            stopping.wait(0.5)
    finally:
        _stop(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
