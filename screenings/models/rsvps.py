"""Attendees' RSVPs and the waiting list (see the public/RSVP issue)."""

from __future__ import annotations

__all__: list[str] = []
