"""Development only: a local mail catcher, and the page that shows what it caught.

``flask mail-catcher`` (started by ``flask laptop`` / ``make run``) is an SMTP server on
127.0.0.1:1025 that stores every message it accepts as an .eml file in ``DEV_MAIL_DIR``
(``instance/mail`` under ``make run``); ``/dev/mail`` lists them. The page exists only when
``DEV_MAIL_DIR`` is set and never in production, and answers only requests from this machine.
"""

from __future__ import annotations

import email
import ipaddress
import os
import re
import secrets
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, abort, current_app, render_template, request

if TYPE_CHECKING:  # loaded on demand, named here for its types only
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

bp = Blueprint("dev", __name__, url_prefix="/dev")
_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}\.eml$")


class MailDrop:
    """An aiosmtpd handler that writes each accepted message to folder as <time>-<id>.eml."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}.eml"
        partial = self.folder / (name + ".part")
        content = envelope.original_content or envelope.content or b""  # as received
        partial.write_bytes(content.encode() if isinstance(content, str) else content)
        partial.rename(self.folder / name)  # the page never sees half a message
        return "250 Message accepted for delivery"


def start_catcher(
    folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 1025
) -> Controller:
    """Start the catcher in a thread of its own; returns the aiosmtpd controller (stop())."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415 only the development mail catcher needs it

    controller = Controller(MailDrop(folder), hostname=host, port=port)
    controller.start()
    return controller


def _folder() -> Path:
    return Path(current_app.config["DEV_MAIL_DIR"])


def _read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default_policy)


def caught_messages(folder: Path) -> list[dict]:
    """What the catcher stored, newest first: file name, date, recipient, subject."""
    if not folder.is_dir():
        return []
    listing = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        if not _NAME.match(path.name):
            continue
        message = _read(path)
        listing.append(
            {
                "name": path.name,
                "date": str(message.get("Date", "")),
                "to": str(message.get("To", "")),
                "subject": str(message.get("Subject", "")),
            }
        )
    return listing


@bp.before_request
def _only_from_this_machine() -> None:
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        abort(404)


@bp.route("/mail")
def mail() -> str:
    """Every message the local mail catcher received."""
    return render_template("dev/mail.html", messages=caught_messages(_folder()))


@bp.route("/mail/<name>")
def mail_message(name: str) -> str:
    """One caught message: its headers, its text and the names of its attachments."""
    path = _folder() / name
    if not _NAME.match(name) or not path.is_file():
        abort(404)
    message = _read(path)
    body = message.get_body(preferencelist=("plain", "html"))
    attachments = [
        part.get_filename() or part.get_content_type() for part in message.iter_attachments()
    ]
    return render_template(
        "dev/mail_message.html",
        name=name,
        message=message,
        text=body.get_content() if body is not None else "",
        attachments=attachments,
    )


def register(app: Flask) -> None:
    """Add /dev/mail when a catcher folder is configured, and never in production."""
    if app.config["ENV_NAME"] != "production" and app.config.get("DEV_MAIL_DIR"):
        app.register_blueprint(bp)
