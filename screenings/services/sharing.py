"""What a host may share about their screening: one link, its QR code, embed code, a poster.

Who may learn what is visibility.py's rule; this module only applies it. A listed screening
(public, guests only) is shared by its public page; a private one by its share link
``/s/<token>`` alone: never its public URL (a 404 anyway), never an embed, which would put
the private link on someone's website. The place a poster or an embed states is
``visibility.public_place``: the street for a public screening, venue and town otherwise.
Nothing is shared before the screening is approved, nor after it has taken place.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel import dates as babel_dates
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape

from ..models import Screening, ScreeningStatus
from ..places import date_words, place_lines
from ..urls import external_url
from . import visibility


@dataclass(frozen=True)
class Share:
    """The one address this screening is shared by, and how."""

    url: str
    is_private_link: bool  # the share link of a private screening: only for people invited
    embed_code: str  # "" where there is nothing to embed (a private screening)


def share_of(screening: Screening) -> Share | None:
    """The link a host may hand out, or None when there is nothing to share yet (or any more)."""
    if screening.status != ScreeningStatus.APPROVED or screening.is_past:
        return None
    if visibility.is_listed(screening):
        url = external_url("public.screening", screening_id=screening.id)
        return Share(url=url, is_private_link=False, embed_code=_embed_code(screening, url))
    token = visibility.share_token(screening)
    if token is None:
        return None  # revoked: the host makes a new link first
    url = external_url("public.shared", token=token)
    return Share(url=url, is_private_link=True, embed_code="")


def _when(screening: Screening, locale: str) -> tuple[str, str]:
    """The day and the time at the venue, in the locale's words ("Thursday 10 December 2026")."""
    local = screening.local_start_aware
    day = date_words(local, "full", locale)
    time = babel_dates.format_time(local, "short", locale=locale)
    zone = babel_dates.get_timezone_name(local, "short", locale=locale)
    return day, f"{time} ({zone})"


def _place_lines(screening: Screening, locale: str) -> tuple[str, ...]:
    """The address as anyone may learn it, laid out as its country writes it."""
    return tuple(place_lines(visibility.public_place(screening), locale))


def _embed_code(screening: Screening, url: str) -> str:
    """A snippet for the host's own website: a plain link, nothing loaded from this site."""
    locale = screening.language or "en"
    day, time = _when(screening, locale)
    with force_locale(locale):
        text = _(
            "%(film)s: free screening on %(day)s at %(time)s, %(place)s",
            film=screening.film.title,
            day=day,
            time=time,
            place=f"{screening.venue_name}, {screening.city}",
        )
    return f'<a href="{escape(url)}" rel="noopener">{escape(text)}</a>'


def poster_pdf(screening: Screening, share: Share) -> bytes:
    """The poster: film, date and time at the venue, the place as the public may know it,
    and a QR code to the shared link; in the organizer's language, on their country's paper."""
    from ..poster_pdf import PosterText, paper_for, render_poster_pdf  # noqa: PLC0415 fpdf: on demand

    locale = screening.language or "en"
    day, time = _when(screening, locale)
    with force_locale(locale):
        text = PosterText(
            kicker=_("Free community screening"),
            title=screening.film.title,
            date_line=day,
            time_line=time,
            place_lines=_place_lines(screening, locale),
            host_line=_("Hosted by %(organization)s", organization=screening.organization_name),
            call_to_action=_("Scan the code to reply and for the details")
            if not share.is_private_link
            else _("Scan the code to reply (invited guests)"),
            url=share.url,
            language=locale,
        )
    return render_poster_pdf(text, paper=paper_for(screening.country))
