"""Helpers for the RSVP, feed, reminder and iMIP tests: replies, calendar parts, parsers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import vobject
from icalendar import Calendar

from screenings.services import rsvps as rsvp_service

from .conftest import submit

RSVP_LINK = re.compile(r"http://screenings\.test/rsvp/([A-Za-z0-9_-]{20,})")
ROOT = Path(__file__).resolve().parent.parent
# Mozilla's ical.js (npm "ical.js" 1.x, the parser Thunderbird uses); ICALJS_PATH overrides.
ICALJS = Path(os.environ.get("ICALJS_PATH") or ROOT / "node_modules" / "ical.js")


def rsvp_data(**overrides) -> dict:
    data = {"name": "Ann Attendee", "email": "ann@example.org", "party_size": "1", "consent": "y"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def post_rsvp(client, screening, *, follow_redirects=False, **overrides):
    """Submit the RSVP form on the screening page (CSRF token included)."""
    return submit(
        client,
        f"/screenings/{screening.id}",
        rsvp_data(**overrides),
        follow_redirects=follow_redirects,
    )


def reply(screening, email="ann@example.org", party_size=1, name="Ann Attendee"):
    """An RSVP through the service, the way the form makes it."""
    return rsvp_service.rsvp(
        screening, name=name, email=email, party_size=party_size, consent=True
    ).rsvp


def calendar_part(message):
    """The text/calendar alternative of an iMIP message (not the attachment)."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return parts[0]


def calendar_bytes(message) -> bytes:
    return calendar_part(message).get_payload(decode=True)


def rsvp_link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = RSVP_LINK.search(text)
    assert match, text
    return match.group(0).removeprefix("http://screenings.test")


def parse_all(ics: bytes) -> dict:
    """Each parser's reading of the first VEVENT: icalendar, vobject and, when installed,
    ical.js (Mozilla's strict parser). Times are absolute UTC instants, ISO formatted."""
    readings = {}
    event = Calendar.from_ical(ics).walk("VEVENT")[0]
    readings["icalendar"] = {
        "method": str(Calendar.from_ical(ics).get("METHOD", "")),
        "uid": str(event["UID"]),
        "sequence": int(event.get("SEQUENCE", 0)),
        "status": str(event.get("STATUS", "")),
        "start": event.decoded("DTSTART").astimezone(_utc()).isoformat(),
        "summary": str(event["SUMMARY"]),
        "location": str(event["LOCATION"]),
        "description": str(event["DESCRIPTION"]),
    }
    # vobject keeps the first VTIMEZONE it saw for a TZID for the whole process, and ours
    # cover only the event's years: start each parse like a fresh client.
    vobject.icalendar.__dict__["__tzidMap"].clear()
    vcal = vobject.readOne(ics.decode("utf-8"))
    vevent = vcal.vevent
    readings["vobject"] = {
        "method": vcal.method.value if hasattr(vcal, "method") else "",
        "uid": vevent.uid.value,
        "sequence": int(vevent.sequence.value) if hasattr(vevent, "sequence") else 0,
        "status": vevent.status.value if hasattr(vevent, "status") else "",
        "start": vevent.dtstart.value.astimezone(_utc()).isoformat(),
        "summary": vevent.summary.value,
        "location": vevent.location.value,
        "description": vevent.description.value,
    }
    if ICALJS.exists() and shutil.which("node"):
        readings["ical.js"] = _icaljs(ics)
    return readings


def _utc():
    from datetime import UTC

    return UTC


_ICALJS_SCRIPT = r"""
const ICAL = require(process.argv[1]);
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const comp = new ICAL.Component(ICAL.parse(input));
  for (const tz of comp.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(tz);
  }
  const vevent = comp.getFirstSubcomponent('vevent');
  const ev = new ICAL.Event(vevent);
  console.log(JSON.stringify({
    method: comp.getFirstPropertyValue('method') || '',
    uid: ev.uid,
    sequence: ev.sequence || 0,
    status: vevent.getFirstPropertyValue('status') || '',
    start: ev.startDate.toJSDate().toISOString(),
    summary: ev.summary,
    location: ev.location,
    description: ev.description,
  }));
});
"""


def _icaljs(ics: bytes) -> dict:
    result = subprocess.run(
        ["node", "-e", _ICALJS_SCRIPT, str(ICALJS)],
        input=ics,
        capture_output=True,
        check=True,
        timeout=30,
    )
    reading = json.loads(result.stdout)
    # JavaScript's ISO form: 2026-07-15T23:00:00.000Z -> Python's 2026-07-15T23:00:00+00:00.
    reading["start"] = reading["start"].replace(".000Z", "+00:00")
    return reading
