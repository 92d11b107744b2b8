"""Plain words for people: the producer's outbox explains a failed delivery in a sentence,
with the raw error behind "Technical details"; the reach page names no command."""

from __future__ import annotations

import re

from screenings.models import OutboxMessage

from .producer_helpers import producer  # noqa: F401  (fixture)


def test_outbox_says_what_a_refused_connection_means(client, db, producer, book):  # noqa: F811
    book()
    message = db.session.query(OutboxMessage).first()
    message.status = "failed"
    message.last_error = "ConnectionRefusedError: [Errno 111] Connection refused"
    db.session.commit()
    page = client.get("/producer/outbox").get_data(as_text=True)
    cell = re.search(r'<td class="error-text">(.*?)<details>', page, re.S)
    assert cell, "no error cell"
    assert "The mail server could not be reached" in cell.group(1)
    assert "Errno" not in cell.group(1)
    assert "<summary>Technical details</summary><code>ConnectionRefusedError" in page


def test_reach_page_names_no_command(client, producer):  # noqa: F811
    page = client.get("/producer/reach").get_data(as_text=True)
    assert "README" not in page
    assert "command" not in page
