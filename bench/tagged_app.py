"""The app with each answer naming the worker that gave it (X-Worker: its pid), so the
benchmark can tell when every one of gunicorn's workers serves a change (bench/cluster.py)."""

import os

from wsgi import app as screenings_app


def app(environ, start_response):
    def start(status, headers, exc_info=None):
        headers.append(("X-Worker", str(os.getpid())))
        return start_response(status, headers, exc_info)

    return screenings_app(environ, start)
