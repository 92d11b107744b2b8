"""A listed screening's .ics file: its VEVENT kept where the public feeds keep theirs."""

from __future__ import annotations

from .. import calendar
from ..caching import ScreeningState
from ..models import Screening
from . import feeds, listings, visibility


def screening_ics(screening_id: int, state: ScreeningState) -> bytes | None:
    """The .ics of a screening whose state says the public may see it
    (listings.is_public_state; None if it is hidden since): the public feeds'
    VEVENT of it (feeds.EventKeys, one per version of its row and film), kept by a feed build
    or by an earlier download, so a file costs the read of its state and the store's;
    otherwise the screening is read, its event made and kept for the next one, and the
    feeds. The bytes are calendar.download's either way (a feed's event of a screening is
    the one its download shows)."""
    keys = feeds.event_keys(include_private=False)
    event = feeds.kept_event(keys, screening_id, state.cache_version, state.film_version)
    timezone = state.timezone
    if event is None:
        screening = listings.public_screening(screening_id)
        if screening is None:  # hidden since the state was read
            return None
        event = keep_public_event(screening, keys)
        timezone = screening.timezone
    return calendar.download_event(event, timezone=timezone)


def keep_public_event(screening: Screening, keys: feeds.EventKeys | None = None) -> bytes:
    """The screening's VEVENT as the public feeds and its download publish it, made and kept
    under the versions of the rows it was made from (they may be newer than a state read
    before them)."""
    keys = keys or feeds.event_keys(include_private=False)
    event = calendar.published_event(
        screening,
        url=f"{keys.base_url}{screening.id}",
        domain=keys.domain,
        place=visibility.public_place(screening),
    )
    versions = screening.cache_version, screening.film.cache_version
    feeds.keep_event(keys, screening.id, *versions, event)
    return event
