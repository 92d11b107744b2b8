"""What an erased person leaves behind: the words that replace them and the redacted copy of
an e-mail sent to them or naming them.

Erasure (services/privacy.py) redacts stored mail with these, and so does the outbox once it
has sent an erased person's last message; bounces keep the erased address. None of them
imports a service, so the outbox and bounces can use them without importing erasure back.
"""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime

from ..models import OutboxMessage

ERASED = "[erased]"
ERASED_ADDRESS = "erased@invalid"


def scrub_text(value: str, needles: tuple[str, ...]) -> str:
    """The text with every needle replaced, whatever its case."""
    for needle in needles:
        value = re.sub(re.escape(needle), ERASED, value, flags=re.IGNORECASE)
    return value


def message_text(raw: bytes) -> str:
    """Everything an e-mail says, decoded: headers and every part's payload (base64 and
    quoted-printable undone), so a search finds what a mail client would show."""
    message = email.message_from_bytes(raw, policy=default_policy)
    pieces = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        pieces += [f"{name}: {value}" for name, value in part.items()]
        payload = part.get_payload(decode=True)  # bytes, or None for a multipart
        if isinstance(payload, bytes) and payload:
            pieces.append(payload.decode("utf-8", "replace"))
    return "\n".join(pieces)


def redact_message(row: OutboxMessage, needles: tuple[str, ...] = ()) -> None:
    """Replace a stored e-mail by a redacted copy: the fact, its kind and dates stay."""
    copy = EmailMessage(policy=SMTP)
    copy["Message-ID"] = row.message_id
    copy["Date"] = format_datetime(row.created_at, usegmt=False)
    copy["Subject"] = scrub_text(row.subject, needles)
    copy["To"] = ERASED_ADDRESS
    copy["X-Screenings-Erased"] = "personal data erased on request"
    copy.set_content("The content of this message was erased at its recipient's request.\n")
    row.raw = copy.as_bytes()
    row.compose_ref = None  # a message queued by reference is never composed after this
    row.subject = scrub_text(row.subject, needles)
    row.last_error = scrub_text(row.last_error or "", needles)
    row.erase_after_sending = False


def redact_sent_message(row: OutboxMessage) -> None:
    """The outbox has sent (or given up on) an erased person's last message: keep its fact."""
    redact_message(row)
    row.recipient = ERASED_ADDRESS
