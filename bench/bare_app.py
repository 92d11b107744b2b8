"""The ceiling: a bare Flask route returning a short string, served like the app (gunicorn -w 2)."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello, screenings!"
