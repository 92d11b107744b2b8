"""The gunicorn entry point (wsgi.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_served_app_is_out_of_the_collectors_full_passes(tmp_path):
    """A feed rebuild's allocations set off full collections, which stop the worker's request
    too: after wsgi.py, the app's own objects are frozen (gc.freeze), so a full pass scans
    what came after, a small part of the process's objects."""
    code = (
        "import gc, wsgi\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
        "print(wsgi.app.name)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}",
        "FLASK_SECRET_KEY": "wsgi-test-" + "s" * 40,
        "FLASK_TRUST_PATCHED_PYTHON": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    counts, name = done.stdout.split("\n")[:2]
    frozen, scanned = map(int, counts.split())
    assert name == "screenings"
    assert frozen > 50_000, done.stdout  # the app's modules, models, data: all frozen
    assert scanned < frozen / 20, done.stdout  # what a full pass still walks
