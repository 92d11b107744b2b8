"""Pages anyone may open: home, licence verification, upcoming screenings, RSVP, feeds, API."""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from urllib.parse import quote

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import LANGUAGES, caching, calendar, worldmap
from ..caching import cached_page, screening_version
from ..extensions import limiter
from ..places import countries
from ..producer.auth import is_safe_next
from ..services import DomainError, guests, maps, visibility
from ..services import feeds as feed_service
from ..services import links as link_service
from ..services import rsvps as rsvp_service
from ..services.films import active_films
from ..services.licences import find_licence, shows_place_publicly
from ..urls import external_url, public_domain
from ..views import CONTENT_SECURITY_POLICY, form_error, private_page, rate_limit_forms
from . import bp
from .forms import LanguageForm, LicenceLookupForm, MyLinksForm, RsvpForm, SearchForm

COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")
FEED_CACHE_CONTROL = "public, max-age=300"


@bp.route("/")
@cached_page(feed_service.listing_version)
def home():
    return render_template("public/home.html", films=active_films())


@bp.route("/language")
def language():
    """The language switcher: remember the choice for this browser, then go back."""
    form = LanguageForm(request.args, languages=LANGUAGES)
    # A bad return path (a tab in it, say) is dropped below; the language still counts.
    if not form.validate() and form.language.errors:
        return redirect(url_for(".home"))
    session["language"] = form.language.data
    target = form.next.data if is_safe_next(form.next.data) else None
    return redirect(target or url_for(".home"))


@bp.route("/privacy")
def privacy():
    """What is kept about whom, for how long, and whom to ask."""
    return render_template("public/privacy.html")


def rate_limit_links() -> str:
    return current_app.config["RATELIMIT_LINKS"]


@bp.route("/links", methods=["GET", "POST"])
@limiter.limit(rate_limit_links, methods=["POST"])
def my_links():
    """ "E-mail me my links": the same answer whether or not the address holds any."""
    form = MyLinksForm()
    if form.validate_on_submit():
        link_service.send_my_links(form.email.data, language=str(get_locale() or "en"))
        return redirect(url_for(".my_links_sent"))
    status = 422 if request.method == "POST" else 200
    return render_template("public/my_links.html", form=form), status


@bp.route("/links/sent")
def my_links_sent():
    return render_template("public/my_links_sent.html")


def rate_limit_licences() -> str:
    return current_app.config["RATELIMIT_LICENCES"]


@bp.route("/licences")
def licence_lookup():
    """The verification form: a typed number goes to its page, which reads it as typed."""
    form = LicenceLookupForm(request.args)
    if request.args and form.validate():
        return redirect(url_for(".licence", number=form.number.data), code=303)
    status = 422 if request.args else 200
    return render_template("public/licence_lookup.html", form=form), status


@bp.route("/licences/<number>")
@limiter.limit(rate_limit_licences)
def licence(number: str):
    """Public verification: is this licence valid? No personal contact data is shown.

    A miss (unknown number, wrong check symbol, garbage) is a plain 404 that makes the same
    indexed lookup and draws the same QR code as a hit, so timing does not tell them apart.
    """
    from ..licence_pdf import qr_svg  # fpdf and fonts: 40 MB a worker, on demand

    licence = find_licence(number)
    verify_url = external_url(
        "public.licence", number=licence.number if licence else number[:64] or "-"
    )
    qr = qr_svg(verify_url)
    if licence is None:
        abort(404)
    return render_template(
        "public/licence.html",
        licence=licence,
        qr=qr,
        verify_url=verify_url,
        show_place=shows_place_publicly(licence.screening),
        licence_date=datetime.fromisoformat(licence.particulars["local_start"]).date(),
    )


# -- finding a screening ------------------------------------------------------------------------


def _search_form() -> tuple[SearchForm, feed_service.Filters]:
    form = SearchForm(
        request.args, films=active_films(), countries=countries(str(get_locale() or "en"))
    )
    form.validate()
    country = form.country.data or ""
    filters = feed_service.Filters(
        city=(form.city.data or "")[:120] if not form.city.errors else "",
        country=country.upper() if COUNTRY_CODE.match(country) else "",
        film=form.film.data or "",
    )
    return form, filters


def _page_number() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), 10_000)


@bp.route("/screenings")
@cached_page(feed_service.listing_version)
def upcoming():
    """Approved public screenings still to come, soonest first, filtered and paginated."""
    form, filters = _search_form()
    page = feed_service.upcoming(filters, page=_page_number())
    args = {
        k: v
        for k, v in (("city", filters.city), ("country", filters.country), ("film", filters.film))
        if v
    }
    return render_template(
        "public/upcoming.html", form=form, page=page, args=args, feeds=subscribe_feeds(filters)
    )


@bp.route("/films/<slug>")
@cached_page(feed_service.listing_version)
def film(slug: str):
    """A film's page: what it is, its next screenings, and its feed to subscribe to."""
    film = _active_film(slug)
    page = feed_service.upcoming(feed_service.Filters(film=film.slug), page=1)
    return render_template(
        "public/film.html",
        film=film,
        page=page,
        feeds=subscribe_feeds(feed_service.Filters(film=film.slug)),
    )


def _active_film(slug: str):
    film = next((f for f in active_films() if f.slug == slug), None)
    if film is None:
        abort(404)
    return film


# The names subscribed calendars take: the feeds' own and their subscribe links'.
ALL_FEED_NAME = _l("Screenings")


def _film_feed_name(film):
    return _l("Screenings of %(title)s", title=film.title)


def _country_feed_name(country: str):
    return _l("Screenings in %(country)s", country=country)


def subscribe_feeds(filters: feed_service.Filters) -> list[dict[str, str]]:
    """The feeds a list so filtered offers to subscribe to, each as the absolute ``address``
    (from PUBLIC_BASE_URL) and calendar ``name`` macros/subscribe.html takes: the chosen
    film's, the chosen country's, then every screening's."""
    feeds = []
    film = filters.film and next((f for f in active_films() if f.slug == filters.film), None)
    if film:
        feeds.append(
            {
                "address": external_url("public.feed_film", slug=film.slug),
                "name": str(_film_feed_name(film)),
            }
        )
    names = dict(countries(str(get_locale() or "en")))
    if filters.country in names:
        feeds.append(
            {
                "address": external_url("public.feed_country", code=filters.country),
                "name": str(_country_feed_name(names[filters.country])),
            }
        )
    feeds.append({"address": external_url("public.feed_all"), "name": str(ALL_FEED_NAME)})
    return feeds


@bp.route("/map")
@cached_page(maps.map_version)
def world_map():
    """The upcoming list on a world map: a dot per city, countries shaded, a table beside."""
    cities = maps.upcoming_by_city()

    def link(city: maps.CityCount) -> str:
        return url_for(".upcoming", city=city.city, country=city.country)

    return render_template(
        "public/map.html",
        drawing=worldmap.draw(cities, maps.by_country(cities), link),
        shapes=worldmap.countries(),
        size=(worldmap.WIDTH, worldmap.HEIGHT),
        rows=[(city, link(city)) for city in cities],
        total=sum(city.count for city in cities),
    )


def _map_url(place) -> str | None:
    """An OpenStreetMap link to the place; none where the street is for guests only."""
    if not place.is_complete:
        return None
    if place.latitude is not None and place.longitude is not None:
        lat, lon = place.latitude, place.longitude
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    address = ", ".join(
        part
        for part in (
            place.street_address,
            place.city,
            place.region,
            place.postal_code,
            place.country,
        )
        if part
    )
    return "https://www.openstreetmap.org/search?query=" + quote(address, safe="")


def _screening_or_404(screening_id: int):
    screening = feed_service.public_screening(screening_id)
    if screening is None:
        abort(404)
    return screening


@bp.route("/screenings/<int:screening_id>", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms, methods=["POST"])
@cached_page(screening_version)
def screening(screening_id: int):
    """A listed screening's public page with its RSVP form."""
    screening = _screening_or_404(screening_id)
    return _screening_page(
        screening, url_for(".screening", screening_id=screening.id), shared=False
    )


@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms)  # a lookup by secret: reading is limited too
@private_page
def shared(token: str):
    """A private screening's page, behind the share link its organizer hands out."""
    screening = visibility.find_by_share_token(token)
    if screening is None or feed_service.public_screening_status(screening) is None:
        abort(404)
    return _screening_page(screening, url_for(".shared", token=token), shared=True)


def _screening_page(screening, here: str, *, shared: bool):
    """The screening page and its RSVP form; the street only where the public may know it."""
    open_for_rsvps = rsvp_service.accepts_rsvps(screening)
    form = RsvpForm(
        max_party_size=screening.max_party_size, question=guests.host_question(screening)
    )
    if request.method == "POST":
        if not open_for_rsvps:
            flash(_("This screening does not take RSVPs."), "warning")
            return redirect(here)
        if form.validate_on_submit():
            try:
                rsvp_service.rsvp(
                    screening,
                    name=form.name.data,
                    email=form.email.data,
                    party_size=form.party_size.data,
                    consent=form.consent.data,
                    language=str(get_locale() or "en"),
                    answer=form.answer.data if form.answer else "",
                )
            except DomainError as error:
                form_error(form, error)
            else:
                _flash_rsvp(form.email.data, approves=screening.approves_guests)
                return redirect(here)
    place = visibility.public_place(screening)
    status = 422 if request.method == "POST" else 200
    calendar_links = {}
    if not shared:
        page_url = external_url("public.screening", screening_id=screening.id)
        calendar_links = {
            "google_url": calendar.google_calendar_link(screening, url=page_url, place=place),
            "outlook_url": calendar.outlook_calendar_link(screening, url=page_url, place=place),
            "outlook_office_url": calendar.outlook_calendar_link(
                screening, url=page_url, place=place, account="office"
            ),
        }
    return render_template(
        "public/screening.html",
        screening=screening,
        film=screening.film,
        form=form,
        form_action=here,
        shared=shared,
        place=place,
        open_for_rsvps=open_for_rsvps,
        map_url=_map_url(place),
        **calendar_links,
    ), status


def _flash_rsvp(email: str, *, approves: bool) -> None:
    # One answer for a seat, the waiting list and a repeated reply, naming only the address
    # typed: whoever types someone else's address learns nothing (the e-mail tells its owner).
    if approves:  # the screening's setting, the same for everyone: it tells nobody anything
        flash(
            _(
                "Thank you. Your request is with the host; we've e-mailed %(email)s, and we'll "
                "e-mail their answer there, with your private link to change your reply.",
                email=email,
            ),
            "success",
        )
        return
    flash(
        _(
            "Thank you. We've e-mailed %(email)s to say whether you're on the guest list or "
            "the waiting list (or to confirm your address), with your private link to change "
            "your reply.",
            email=email,
        ),
        "success",
    )


@bp.route("/screenings/<int:screening_id>.ics")
def screening_ics(screening_id: int):
    """The screening as a downloadable calendar file (PUBLISH: no attendees, no organizer).

    Cached, and its ETag taken, under the screening's own version (caching.py): any change
    to it or its film (time, place, status, visibility) changes the version in the same
    transaction, so a cached file is never stale and a hidden screening's is never served.
    """
    version = screening_version(screening_id)
    if version is None:
        abort(404)
    locale = str(get_locale() or "en")
    etag = feed_service.feed_etag(f"screening-{screening_id}-{locale}", version)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        key = caching.cache_key("ics", locale, version)
        enabled = current_app.config["PAGE_CACHE_ENABLED"]
        body = caching.store().get(key) if enabled else None
        if body is None:
            screening = _screening_or_404(screening_id)
            body = calendar.download(
                screening,
                url=external_url("public.screening", screening_id=screening.id),
                domain=public_domain(),
                place_of=visibility.public_place,
            )
            if enabled:
                caching.store().set(key, body, current_app.config["CACHE_PAGE_SECONDS"])
        response = Response(body, mimetype="text/calendar")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="screening-{screening_id}.ics"'
        )
    response.set_etag(etag)
    response.headers["Cache-Control"] = FEED_CACHE_CONTROL
    response.vary.add("Accept-Language")
    return response


# -- feeds --------------------------------------------------------------------------------------


def _feed_response(
    key: str,
    name: str,
    filters: feed_service.Filters,
    *,
    include_private: bool = False,
):
    """A calendar feed as last built (services/feeds.py), answering conditional requests
    without fetching its body. `name` is its title, in the visitor's language."""
    localized_key = f"{key}-{get_locale()}"
    # The gzipped body is another representation, so it has its own (strong) ETag.
    gzipped = "gzip" in request.accept_encodings
    suffix = "-gz" if gzipped else ""
    cache_control = "private, no-cache" if include_private else FEED_CACHE_CONTROL
    try:
        feed = feed_service.latest_feed(
            localized_key,
            str(name),
            filters,
            include_private=include_private,
            etag_known=lambda etag: request.if_none_match.contains(etag + suffix),
        )
    except caching.NotBuiltYet:
        return Response(status=503, headers={"Retry-After": "5", "Cache-Control": "no-store"})
    etag = feed.etag + suffix
    if feed.body is None:
        # The busiest answer a feed gives (every subscribed calendar, every few minutes).
        response = Response(status=304)
    elif gzipped:
        response = Response(feed.body, mimetype="text/calendar")
        response.content_encoding = "gzip"
    else:
        response = Response(feed_service.feed_chunks(feed.body), mimetype="text/calendar")
    response.vary.update(("Accept-Encoding", "Accept-Language"))  # the title is translated
    response.set_etag(etag)
    if feed.last_modified is not None:
        response.last_modified = feed.last_modified
    response.headers["Cache-Control"] = cache_control
    if feed.body is None:
        return response
    response.headers["Content-Disposition"] = f'inline; filename="{key}.ics"'
    return response.make_conditional(request)


@bp.route("/calendar.ics")
def feed_all():
    """Every upcoming public screening, to subscribe to (webcal://…/calendar.ics)."""
    return _feed_response("screenings", ALL_FEED_NAME, feed_service.Filters())


@bp.route("/films/<slug>/calendar.ics")
def feed_film(slug: str):
    film = _active_film(slug)
    return _feed_response(
        f"film-{film.slug}",
        _film_feed_name(film),
        feed_service.Filters(film=film.slug),
    )


@bp.route("/countries/<code>/calendar.ics")
def feed_country(code: str):
    names = dict(countries(str(get_locale() or "en")))
    code = code.upper()
    if code not in names:
        abort(404)
    return _feed_response(
        f"country-{code.lower()}",
        _country_feed_name(names[code]),
        feed_service.Filters(country=code),
    )


@bp.route("/feeds/producer/<token>.ics")
def feed_producer(token: str):
    """The producer's private feed (secret URL): private screenings included."""
    secret = current_app.config.get("PRODUCER_FEED_TOKEN") or ""
    if len(secret) < 16 or not hmac.compare_digest(token.encode(), secret.encode()):
        abort(404)
    response = _feed_response(
        "producer", _l("All screenings (producer)"), feed_service.Filters(), include_private=True
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- for the film's own website -----------------------------------------------------------------


@bp.route("/api/screenings")
def api_screenings():
    """Upcoming public screenings as JSON, for the film's website: CORS-readable and cacheable."""
    _form, filters = _search_form()
    per_page = request.args.get("per_page", feed_service.PER_PAGE, type=int) or 1
    page = feed_service.upcoming(filters, page=_page_number(), per_page=per_page)
    args = {
        k: v
        for k, v in (("city", filters.city), ("country", filters.country), ("film", filters.film))
        if v
    }

    def link(number: int) -> str:
        return external_url("public.api_screenings", page=number, per_page=page.per_page, **args)

    response = current_app.json.response(
        {
            "screenings": [feed_service.as_json(s) for s in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "next": link(page.page + 1) if page.has_next else None,
            "prev": link(page.page - 1) if page.has_prev else None,
        }
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.add_etag()
    return response.make_conditional(request)


EMBED_CSP = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors *")


@bp.route("/embed")
@cached_page(feed_service.listing_version)
def embed():
    """A compact 'screenings near you' list meant for an <iframe> on another site."""
    form, filters = _search_form()
    page = feed_service.upcoming(filters, page=1, per_page=10)
    response = current_app.make_response(
        render_template(
            "public/embed.html",
            form=form,
            page=page,
            filters=filters,
            feeds=subscribe_feeds(filters),
        )
    )
    response.headers["Content-Security-Policy"] = EMBED_CSP
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
