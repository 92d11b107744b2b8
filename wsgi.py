"""Entry point for gunicorn: ``gunicorn wsgi:app``."""

from screenings import create_app

app = create_app()
