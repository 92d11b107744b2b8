"""Pages anyone may open: home, licence verification, upcoming screenings, RSVP, feeds, API."""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any
from urllib.parse import quote

from flask import (
    Request,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.datastructures import ETags
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import wrap_file
from wtforms import Field

from .. import LANGUAGES, caching, calendar, places, worldmap
from ..caching import Answer, cached_page, screening_version
from ..extensions import csrf, limiter
from ..forms import ConfirmForm
from ..models import Film, Screening
from ..places import countries
from ..producer.auth import is_safe_next
from ..services import (
    DomainError,
    api,
    downloads,
    guests,
    listings,
    maps,
    near_alerts,
    nearby,
    visibility,
)
from ..services import feeds as feed_service
from ..services import links as link_service
from ..services import rsvps as rsvp_service
from ..services.films import FilmOption, active_films, film_options
from ..services.licences import find_licence, shows_place_publicly
from ..services.visibility import Place
from ..urls import external_url
from ..views import (
    CONTENT_SECURITY_POLICY,
    form_error,
    kept_part,
    kept_parts,
    macro_of,
    private_page,
    rate_limit_forms,
)
from . import bp
from .forms import (
    LanguageForm,
    LicenceLookupForm,
    MyLinksForm,
    NearMeForm,
    PlaceQueryForm,
    RsvpForm,
    SearchForm,
    radius_choices,
    search_choices,
)

COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")
FEED_CACHE_CONTROL = "public, max-age=300"


@bp.route("/")
@cached_page(listings.listing_version)
def home() -> str:
    return render_template("public/home.html", films=active_films())


@bp.route("/language")
def language() -> BaseResponse:
    """The language switcher: remember the choice for this browser, then go back."""
    form = LanguageForm(request.args, languages=LANGUAGES)
    # A bad return path (a tab in it, say) is dropped below; the language still counts.
    if not form.validate() and form.language.errors:
        return redirect(url_for(".home"))
    session["language"] = form.language.data
    target = form.next.data if is_safe_next(form.next.data) else None
    return redirect(target or url_for(".home"))


@bp.route("/privacy")
def privacy() -> str:
    """What is kept about whom, for how long, and whom to ask."""
    return render_template("public/privacy.html")


def rate_limit_links() -> str:
    return current_app.config["RATELIMIT_LINKS"]


@bp.route("/links", methods=["GET", "POST"])
@limiter.limit(rate_limit_links, methods=["POST"])
def my_links() -> BaseResponse | tuple[str, int]:
    """ "E-mail me my links": the same answer whether or not the address holds any."""
    form = MyLinksForm()
    if form.validate_on_submit():
        link_service.send_my_links(form.email.data, language=str(get_locale() or "en"))
        return redirect(url_for(".my_links_sent"))
    status = 422 if request.method == "POST" else 200
    return render_template("public/my_links.html", form=form), status


@bp.route("/links/sent")
def my_links_sent() -> str:
    return render_template("public/my_links_sent.html")


def rate_limit_licences() -> str:
    return current_app.config["RATELIMIT_LICENCES"]


@bp.route("/licences")
def licence_lookup() -> BaseResponse | tuple[str, int]:
    """The verification form: a typed number goes to its page, which reads it as typed."""
    form = LicenceLookupForm(request.args)
    if request.args and form.validate():
        return redirect(url_for(".licence", number=form.number.data), code=303)
    status = 422 if request.args else 200
    return render_template("public/licence_lookup.html", form=form), status


@bp.route("/licences/<number>")
@limiter.limit(rate_limit_licences)
def licence(number: str) -> str:
    """Public verification: is this licence valid? No personal contact data is shown.

    A miss (unknown number, wrong check symbol, garbage) is a plain 404 that makes the same
    indexed lookup and draws the same QR code as a hit, so timing does not tell them apart.
    """
    from ..licence_pdf import qr_svg  # noqa: PLC0415 fpdf and fonts: 40 MB a worker, on demand

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


def _locale() -> str:
    return str(get_locale() or "en")


def _search_form() -> tuple[SearchForm, listings.Filters]:
    form = SearchForm(
        request.args,
        films=film_options(),
        countries=countries(_locale()),
        radii=nearby.KM_CHOICES,
        default_km=nearby.DEFAULT_KM,
    )
    form.validate()
    country = form.country.data or ""
    filters = listings.Filters(
        city=(form.city.data or "")[:120] if not form.city.errors else "",
        country=country.upper() if COUNTRY_CODE.match(country) else "",
        film=form.film.data or "",
    )
    return form, filters


def _page_number() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), 10_000)


def browser_country() -> str:
    """The country of the browser's first language with one ("de-CH" → CH): which namesake
    a typed town means first, with no location permission asked."""
    for value, _quality in request.accept_languages:
        region = value.replace("_", "-").split("-")[-1] if "-" in value or "_" in value else ""
        if COUNTRY_CODE.match(region):
            return region.upper()
    return ""


@dataclass
class Near:
    """The "near" field read: one gazetteer city, a redirect to its canonical link (a typed
    name), or the places it could be (shown as "did you mean", the field in error)."""

    city: places.City | None = None
    redirect: BaseResponse | None = None
    candidates: list[places.City] = field(default_factory=list)
    km: int = nearby.DEFAULT_KM


def _town(field: Field) -> tuple[places.City | None, list[places.City]]:
    """The gazetteer city a field names (an id from a link or a typed name), or None with
    an error beside the field and the places it could be ("did you mean")."""
    text = field.data or ""
    if text.isdigit():
        city = places.city_by_id(text)
        if city is not None and str(city.id) == text:
            field.data = city.label(_locale())
            return city, []
        field.errors = [_("We don't know that place. Type the name of a town or city.")]
        return None, []
    found = places.find_cities(text, country=browser_country(), locale=_locale())
    if len(found) == 1:
        return found[0], []
    if found:
        field.errors = [_("Several places have that name. Choose one below.")]
        return None, found[:10]
    field.errors = [_("We could not find that place. Check the spelling, or choose one below.")]
    return None, places.suggest_cities(text[:4], country=browser_country())


def _near(form: SearchForm, endpoint: str) -> Near:
    """Turn the typed town into a gazetteer id: only ids reach a cached page's key, and an
    unknown town is an error beside the field (never a page of its own to fill the cache)."""
    km = int(form.km.data) if form.km.data and not form.km.errors else nearby.DEFAULT_KM
    if not form.near.data or form.near.errors:
        return Near(km=km)
    typed = not form.near.data.isdigit()
    city, candidates = _town(form.near)
    if city is not None and typed:
        # Any, as url_for's values: a dict of str would be checked against its _external flag.
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
        args["near"] = str(city.id)
        return Near(redirect=redirect(url_for(endpoint, **args), code=303))
    return Near(city=city, candidates=candidates, km=km)


def _list_args(filters: listings.Filters, near: Near) -> dict[str, str]:
    """The query string that keeps a list's filters from page to page."""
    args = {
        k: v
        for k, v in (("city", filters.city), ("country", filters.country), ("film", filters.film))
        if v
    }
    if near.city is not None:
        args.update(near=str(near.city.id), km=str(near.km))
    return args


def _search_fields(form: SearchForm | None) -> Markup:
    """The search form's fields as the query string fills them, kept rendered by it, the
    language and the option lists (films, countries and radii: kept_choices, new when one
    changes): they were a fifth of a cold list's render, the same on every visit. A typed
    town is not kept: what it matches depends on the browser's country too (_town). `form`:
    the form read, or None where the query string holds no field of it (_searched)."""

    def render() -> Markup:
        shown = form if form is not None else _search_form()[0]
        return macro_of("public/_search_fields.html", "search_fields")(shown)

    near = request.args.get("near", "")
    if near and not near.isdigit():
        return render()
    films, places = search_choices(film_options(), countries(_locale()))
    choices = (films.pairs, places.pairs, radius_choices(nearby.KM_CHOICES).pairs)
    return kept_part(
        "public.search.fields", (tuple(request.args.items(multi=True)), choices), render
    )


# The search form's fields, as the query string names them.
SEARCH_FIELDS = ("city", "country", "film", "near", "km")


def _searched() -> bool:
    """Whether the query string holds a field of the search form: without one (the list as
    it opens, its pages by cursor) there are no filters and the fields hold their defaults,
    known without building and validating the form."""
    return any(name in request.args for name in SEARCH_FIELDS)


# A page of a list: from a cursor, or by number near a town.
AnyListPage = listings.ListPage | nearby.NearPage


def _list_page(
    filters: listings.Filters, near: Near, *, per_page: int, paged: bool = True, shown: bool = False
) -> AnyListPage:
    """The page a list's link asks for (the first unless `paged`): by number near a town
    (sorted by distance, in Python), else from the cursor of ``?after=`` or ``?before=``
    (400 for one no link wrote); `shown`: rows of what a page shows (listings.upcoming)."""
    if near.city is not None:
        number = _page_number() if paged else 1
        return nearby.upcoming_near(filters, near.city, km=near.km, page=number, per_page=per_page)
    if not paged:
        return listings.upcoming(filters, per_page=per_page, shown=shown)
    try:
        return listings.upcoming(
            filters,
            after=request.args.get("after"),
            before=request.args.get("before"),
            per_page=per_page,
            shown=shown,
        )
    except listings.BadCursor:
        abort(400)


def _items(page: AnyListPage, target: str | None = None) -> Markup:
    """A list page's screenings as the page shows them, in the visitor's language: each item
    kept rendered by all it shows (listings.Shown, its distance, the links' target), so a
    list after a change renders the items that changed (views.kept_parts)."""
    distances = _distances(page)
    keys = [
        (listings.shown(row), distances.get(row.id) if distances else None, target)
        for row in page.items
    ]

    def render(key: tuple[listings.Shown, float | None, str | None]) -> Markup:
        row, distance, target = key
        far = {row.id: distance} if distance is not None else None
        (item,) = listings.list_items([row], _locale(), far)
        return macro_of("public/_screening_item.html", "screening_item")(item, target)

    return kept_parts("public.list.item", keys, render)


def _distances(page: AnyListPage) -> dict[int, float]:
    """Each screening's distance in km on a page near a town (none on any other)."""
    return page.distances if isinstance(page, nearby.NearPage) else {}


def _old_page_link(
    filters: listings.Filters, near: Near, endpoint: str, per_page: int
) -> BaseResponse | None:
    """A ``?page=N`` link of a list not near a town (from before cursors): redirected to
    the cursor that page starts after now; None for any other link."""
    if near.city is not None or "page" not in request.args:
        return None
    args: dict[str, Any] = {
        k: v for k, v in request.args.items() if k not in ("page", "after", "before")
    }
    cursor = listings.page_position(filters, _page_number(), per_page)
    if cursor is not None:
        args["after"] = cursor
    return redirect(url_for(endpoint, **args), code=303)


def _pager(
    page: AnyListPage, link: Callable[..., str], args: dict[str, str]
) -> dict[str, str | None]:
    """The links to the next and previous pages (None where there is none), filters kept."""
    return {
        "next": link(**page.next_args(), **args) if page.has_next else None,
        "prev": link(**page.prev_args(), **args) if page.has_prev else None,
    }


@lru_cache(maxsize=4096)
def _suggestions(prefix: str, country: str, locale: str) -> tuple[dict[str, int | str], ...]:
    return tuple(
        {"id": city.id, "label": city.label(locale)}
        for city in places.suggest_cities(prefix, country=country)
    )


def rate_limit_places() -> str:
    return current_app.config["RATELIMIT_PLACES"]


@bp.route("/places")
@limiter.limit(rate_limit_places)
def place_suggestions() -> Response:
    """The "near" field's type-ahead: gazetteer towns starting with what was typed (JSON)."""
    form = PlaceQueryForm(request.args)
    found: tuple[dict[str, int | str], ...] = ()
    if form.validate():
        found = _suggestions(places.plain_name(form.q.data)[:60], browser_country(), _locale())
    response = jsonify({"places": list(found)})
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.vary.update(("Accept-Language",))
    return response


@bp.route("/screenings")
@cached_page(listings.listing_version)
def upcoming() -> BaseResponse | tuple[str, int]:
    """Approved public screenings still to come, soonest first (or nearest a chosen town),
    filtered and paginated."""
    form = None
    filters, near = listings.Filters(), Near()
    if _searched():
        form, filters = _search_form()
        near = _near(form, ".upcoming")
        if near.redirect is not None:
            return near.redirect
    moved = _old_page_link(filters, near, ".upcoming", listings.PER_PAGE)
    if moved is not None:
        return moved
    page = _list_page(filters, near, per_page=listings.PER_PAGE, shown=True)
    status = 422 if form is not None and (form.near.errors or form.km.errors) else 200
    args = _list_args(filters, near)
    return render_template(
        "public/upcoming.html",
        search_fields=_search_fields(form),
        page=page,
        items=_items(page),
        pager=_pager(page, partial(url_for, ".upcoming"), args),
        args=args,
        near=near,
        radii=nearby.RADII,
        feeds=subscribe_feeds(filters, near),
    ), status


@bp.route("/films/<slug>")
@cached_page(listings.listing_version)
def film(slug: str) -> str:
    """A film's page: what it is, its next screenings, and its feed to subscribe to."""
    film = _active_film(slug)
    page = listings.upcoming(listings.Filters(film=film.slug), shown=True)
    return render_template(
        "public/film.html",
        film=film,
        page=page,
        items=_items(page),
        feeds=subscribe_feeds(listings.Filters(film=film.slug)),
    )


def _active_film(slug: str) -> Film:
    film = next((f for f in active_films() if f.slug == slug), None)
    if film is None:
        abort(404)
    return film


# The names subscribed calendars take: the feeds' own and their subscribe links'.
ALL_FEED_NAME = _l("Screenings")


def _film_feed_name(film: Film | FilmOption) -> LazyString:
    return _l("Screenings of %(title)s", title=film.title)


def _country_feed_name(country: str) -> LazyString:
    return _l("Screenings in %(country)s", country=country)


def subscribe_feeds(filters: listings.Filters, near: Near | None = None) -> list[dict[str, str]]:
    """The feeds a list so filtered offers to subscribe to, each as the absolute ``address``
    (from PUBLIC_BASE_URL) and calendar ``name`` macros/subscribe.html takes: the chosen
    town's near-me feed (if served, near_alerts.offered_feeds), the chosen film's, the
    chosen country's, then every screening's."""
    feeds = []
    if near is not None and near.city is not None:
        feeds.extend(near_feeds(near.city, near.km))
    film = filters.film and next((f for f in film_options() if f.slug == filters.film), None)
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
def world_map() -> str:
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


# -- "tell me when there's a screening near me" -------------------------------------------------


@bp.route("/near-me", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms, methods=["POST"])
def near_me() -> BaseResponse | tuple[str, int]:
    """Ask for an e-mail when a screening is announced near a town (double opt-in)."""
    form = NearMeForm(
        request.form if request.method == "POST" else request.args,
        radii=nearby.KM_CHOICES,
        default_km=nearby.DEFAULT_KM,
    )
    candidates: list[places.City] = []
    if request.method == "GET" and form.near.data:
        _town(form.near)
        form.near.errors = []  # a link's town, shown as its name; checked when sent
    if request.method == "POST" and form.validate_on_submit():
        if (form.choice.data or "").isdigit():
            form.near.data = form.choice.data
        city, candidates = _town(form.near)
        if city is not None:
            near_alerts.subscribe(form.email.data, city, int(form.km.data), language=_locale())
            return redirect(url_for(".near_me_sent"))
    status = 422 if request.method == "POST" else 200
    return render_template("public/near_me.html", form=form, candidates=candidates), status


@bp.route("/near-me/sent")
def near_me_sent() -> str:
    return render_template("public/near_me_sent.html")


@bp.route("/near-me/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms)  # a lookup by secret: reading is limited too
@private_page
def near_me_confirm(token: str) -> str:
    """The confirmation link: a button, so a mail scanner that opens links confirms nothing."""
    subscription = near_alerts.find_to_confirm(token)
    if subscription is None:
        abort(404)
    form = ConfirmForm()
    city = places.city_by_id(subscription.city_id)
    if form.validate_on_submit():
        near_alerts.confirm(token)
        return render_template(
            "public/near_me_confirmed.html",
            subscription=subscription,
            feeds=near_feeds(city, subscription.radius_km) if city else [],
        )
    return render_template(
        "public/near_me_confirm.html",
        form=form,
        subscription=subscription,
        place=city.label(_locale()) if city else "",
    )


@bp.route("/near-me/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: a mail client's one-click POST carries no token and no cookie
@limiter.limit(rate_limit_forms)
@private_page
def near_me_unsubscribe(token: str) -> str:
    """One-click unsubscribe (List-Unsubscribe-Post): a POST ends that one subscription and
    nothing else; a GET shows the button. An unknown link is answered like a known one."""
    if request.method == "POST":
        near_alerts.unsubscribe(token)
        return render_template("public/near_me_unsubscribed.html")
    return render_template("public/near_me_unsubscribe.html", token=token)


def _map_url(place: Place) -> str | None:
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


def _screening_or_404(screening_id: int) -> Screening:
    screening = listings.public_screening(screening_id)
    if screening is None:
        abort(404)
    return screening


@bp.route("/screenings/<int:screening_id>", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms, methods=["POST"])
@cached_page(screening_version)
def screening(screening_id: int) -> BaseResponse | tuple[str, int]:
    """A listed screening's public page with its RSVP form."""
    screening = _screening_or_404(screening_id)
    return _screening_page(
        screening, url_for(".screening", screening_id=screening.id), shared=False
    )


@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms)  # a lookup by secret: reading is limited too
@private_page
def shared(token: str) -> BaseResponse | tuple[str, int]:
    """A private screening's page, behind the share link its organizer hands out."""
    screening = visibility.find_by_share_token(token)
    if screening is None or listings.public_screening_status(screening) is None:
        abort(404)
    return _screening_page(screening, url_for(".shared", token=token), shared=True)


def _screening_page(
    screening: Screening, here: str, *, shared: bool
) -> BaseResponse | tuple[str, int]:
    """The screening page and its RSVP form; the street only where the public may know it."""
    open_for_rsvps = rsvp_service.accepts_rsvps(screening)
    question = guests.host_question(screening)
    form = None
    if request.method == "POST":
        if not open_for_rsvps:
            flash(_("This screening does not take RSVPs."), "warning")
            return redirect(here)
        form = RsvpForm(max_party_size=screening.max_party_size, question=question)
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
    return render_template(
        "public/screening.html",
        screening=screening,
        film=screening.film,
        rsvp=_rsvp_parts(form, screening.max_party_size, question) if open_for_rsvps else None,
        form_action=here,
        shared=shared,
        place=place,
        open_for_rsvps=open_for_rsvps,
        particulars=_particulars(screening, place),
        calendar_section=None if shared else _calendar_section(screening, place),
    ), status


def _particulars(screening: Screening, place: Place) -> Markup:
    """The page's particulars up to the seats left (public/_particulars.html: the host, the
    start at the venue in words, the duration, the place and its map link, the website),
    kept rendered by all they show and the language: an RSVP leaves them kept."""
    key = (
        screening.organization_name,
        screening.starts_at,
        screening.timezone,
        screening.duration_minutes,
        place,
        screening.organization_website,
    )
    return kept_part(
        "public.screening.particulars",
        key,
        lambda: macro_of("public/_particulars.html", "particulars")(
            screening, place, _map_url(place)
        ),
    )


def _calendar_section(screening: Screening, place: Place) -> Markup:
    """The "Add to calendar" section (public/_add_to_calendar.html), kept rendered by all
    its links contain (calendar.add_event_links_key) and the language: its three links,
    the event's words percent-encoded in each, were an eighth of a cold page."""
    url = external_url("public.screening", screening_id=screening.id)  # the .ics link's id too
    return kept_part(
        "public.screening.calendar",
        calendar.add_event_links_key(screening, url=url, place=place),
        lambda: macro_of("public/_add_to_calendar.html", "add_to_calendar")(
            screening.id, calendar.add_event_links(screening, url=url, place=place)
        ),
    )


@dataclass(frozen=True)
class RsvpParts:
    """The RSVP form as screening.html shows it: its summary of problems, its CSRF token's
    field and its fields."""

    summary: Markup
    csrf: Markup
    fields: Markup


_CSRF_FIELD = Markup('<input id="{0}" name="{0}" type="hidden" value="{1}">')


def _rsvp_parts(form: RsvpForm | None, max_party_size: int, question: str | None) -> RsvpParts:
    """The RSVP form's parts: as posted (`form`, its problems beside its fields), or a new
    form's kept rendered by all they show (the party size allowed, the host's question, the
    language: views.kept_part), so a page's GET builds no form (a tenth of a cold page)."""
    template = "public/_rsvp_form.html"
    field_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    csrf = _CSRF_FIELD.format(field_name, generate_csrf())  # WTForms' markup of the field
    if form is not None:
        return RsvpParts(
            macro_of(template, "summary")(form),
            csrf,
            macro_of(template, "fields")(form, max_party_size),
        )
    blank: list[RsvpForm] = []

    def new_form() -> RsvpForm:
        if not blank:
            blank.append(RsvpForm(max_party_size=max_party_size, question=question))
        return blank[0]

    key = (max_party_size, question)
    return RsvpParts(
        kept_part("public.rsvp.summary", key, lambda: macro_of(template, "summary")(new_form())),
        csrf,
        kept_part(
            "public.rsvp.fields",
            key,
            lambda: macro_of(template, "fields")(new_form(), max_party_size),
        ),
    )


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
def screening_ics(screening_id: int) -> Response:
    """The screening as a downloadable calendar file (PUBLISH: no attendees, no organizer).

    Cached, and its ETag taken, under the screening's own version (caching.py): any change
    to it or its film (time, place, status, visibility) changes the version in the same
    transaction, so a cached file is never stale and a hidden screening's is never served.
    """
    state = caching.screening_state(screening_id)
    if state is None or not listings.is_public_state(state):
        abort(404)
    version = state.version
    locale = str(get_locale() or "en")
    answer = _cached_ics(screening_id, locale, version, request.if_none_match)
    if answer is None:
        body = downloads.screening_ics(screening_id, state)
        if body is None:
            abort(404)
        if current_app.config["PAGE_CACHE_ENABLED"]:
            caching.versioned_set(
                _ics_key(locale, version), body, current_app.config["CACHE_PAGE_SECONDS"]
            )
        answer = _ics_answer(screening_id, locale, version, body)
    status, headers, body = answer
    return Response(body, status, headers)


def _cached_ics(
    screening_id: int, locale: str, version: tuple, if_none_match: ETags
) -> Answer | None:
    """A screening's .ics as the cache can answer it: 304 if the client has this version,
    else the stored file; None if it must be built. Also what caching.CachedPagesFront
    answers a visitor without a cookie with (cached_ics below)."""
    etag = _ics_etag(screening_id, locale, version)
    if if_none_match.contains(etag):
        return 304, [("ETag", f'"{etag}"'), *_ICS_HEADERS], b""
    if not current_app.config["PAGE_CACHE_ENABLED"]:
        return None
    body = caching.versioned_get(_ics_key(locale, version))
    return None if body is None else _ics_answer(screening_id, locale, version, body)


def _ics_key(locale: str, version: tuple) -> str:
    """The store's key of a screening's .ics in a language, at a version of the screening."""
    return caching.cache_key("ics", locale, version)


def _ics_etag(screening_id: int, locale: str, version: tuple) -> str:
    return feed_service.feed_etag(f"screening-{screening_id}-{locale}", version)


_ICS_HEADERS = (("Cache-Control", FEED_CACHE_CONTROL), ("Vary", "Accept-Language"))


def _ics_answer(screening_id: int, locale: str, version: tuple, body: bytes) -> Answer:
    return (
        200,
        [
            ("Content-Type", "text/calendar; charset=utf-8"),
            ("Content-Disposition", f'attachment; filename="screening-{screening_id}.ics"'),
            ("ETag", f'"{_ics_etag(screening_id, locale, version)}"'),
            *_ICS_HEADERS,
        ],
        body,
    )


def cached_ics(front_request: Request, view_args: Mapping[str, Any], locale: str) -> Answer | None:
    """caching.CachedPagesFront's answer for a screening's .ics (see _cached_ics)."""
    version = screening_version(view_args["screening_id"])
    if version is None:
        return None
    return _cached_ics(view_args["screening_id"], locale, version, front_request.if_none_match)


caching.answered_at_the_front(screening_ics, cached_ics)


# -- feeds --------------------------------------------------------------------------------------


def _feed_response(
    key: str,
    name: str,
    filters: listings.Filters,
    *,
    include_private: bool = False,
) -> BaseResponse:
    """A calendar feed as last built (services/feeds.py), answering conditional requests
    without fetching its body. `name` is its title, in the visitor's language."""
    localized_key = f"{key}-{get_locale()}"
    # The gzipped body is another representation, so it has its own (strong) ETag.
    gzipped = _accepts_gzip(request)
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
    if not feed.has_body:
        # The busiest answer a feed gives (every subscribed calendar, every few minutes).
        response: BaseResponse = Response(status=304)
    elif gzipped:
        response = _gzipped_feed(feed)
    else:
        # Passed through as it streams: make_conditional would otherwise gather the whole
        # text (35 MB for 51,000 events) to count its length.
        response = Response(
            feed_service.feed_chunks(feed), mimetype="text/calendar", direct_passthrough=True
        )
    if feed.file is not None:
        response.call_on_close(feed.file.close)  # even if the body is never read
    response.vary.update(("Accept-Encoding", "Accept-Language"))  # the title is translated
    response.set_etag(etag)
    if feed.last_modified is not None:
        response.last_modified = feed.last_modified
    response.headers["Cache-Control"] = cache_control
    if not feed.has_body:
        return response
    response.headers["Content-Disposition"] = f'inline; filename="{key}.ics"'
    response = response.make_conditional(request)
    if response.status_code == 304 and feed.file is not None:
        feed.file.close()  # If-Modified-Since: the body is dropped unread
    return response


def _accepts_gzip(client: Request) -> bool:
    """Whether the client takes the gzipped feed: gzip or * in Accept-Encoding with a quality
    above 0 (`gzip;q=0` refuses it)."""
    return client.accept_encodings.quality("gzip") > 0


def _gzipped_feed(feed: caching.Built) -> Response:
    """The build's gzipped bytes as they are kept: from memory, or streamed from its file
    (by the server's file wrapper, sendfile under gunicorn; else a piece at a time, the file
    closed at its end): the bytes never enter this worker's heap whole."""
    if feed.file is None:
        response = Response(feed.body, mimetype="text/calendar")
    else:
        size = os.fstat(feed.file.fileno()).st_size
        if "wsgi.file_wrapper" in request.environ:
            body = wrap_file(request.environ, feed.file)
        else:
            body = feed_service.file_chunks(feed.file)
        response = Response(body, mimetype="text/calendar", direct_passthrough=True)
        response.content_length = size
    response.content_encoding = "gzip"
    return response


def _cached_feed_304(key: str, front_request: Request, locale: str) -> Answer | None:
    """A public feed's 304 as _feed_response gives it, for caching.CachedPagesFront: only
    when the client has the build made at the feeds' version now (a stale build, one not
    built yet, anything else: None, and Flask answers, rebuilding as it does)."""
    if not front_request.if_none_match:
        return None
    suffix = "-gz" if _accepts_gzip(front_request) else ""
    name_stored, version = feed_service.feed_state(f"{key}-{locale}")
    found = caching.built_meta(name_stored)
    if (
        found is None
        or not front_request.if_none_match.contains(found.etag + suffix)
        or not caching.is_current(name_stored, found, version)
    ):
        return None
    headers = [("ETag", f'"{found.etag}{suffix}"'), ("Cache-Control", FEED_CACHE_CONTROL)]
    return 304, [("Vary", "Accept-Encoding, Accept-Language"), *headers], b""


@bp.route("/calendar.ics")
def feed_all() -> BaseResponse:
    """Every upcoming public screening, to subscribe to (webcal://…/calendar.ics)."""
    return _feed_response("screenings", ALL_FEED_NAME, listings.Filters())


caching.answered_at_the_front(
    feed_all,
    lambda front_request, _view_args, locale: _cached_feed_304("screenings", front_request, locale),
)


def _cached_film_feed_304(
    front_request: Request, view_args: Mapping[str, Any], locale: str
) -> Answer | None:
    """The film feed's 304 from the front, for an active film only (as _active_film)."""
    slug = view_args["slug"]
    if not any(option.slug == slug for option in film_options()):
        return None
    return _cached_feed_304(f"film-{slug}", front_request, locale)


def _cached_country_feed_304(
    front_request: Request, view_args: Mapping[str, Any], locale: str
) -> Answer | None:
    """The country feed's 304 from the front, for a country feed_country serves."""
    code = view_args["code"].upper()
    if code not in dict(countries(locale)):
        return None
    return _cached_feed_304(f"country-{code.lower()}", front_request, locale)


@bp.route("/films/<slug>/calendar.ics")
def feed_film(slug: str) -> BaseResponse:
    film = _active_film(slug)
    return _feed_response(
        f"film-{film.slug}",
        _film_feed_name(film),
        listings.Filters(film=film.slug),
    )


@bp.route("/countries/<code>/calendar.ics")
def feed_country(code: str) -> BaseResponse:
    names = dict(countries(str(get_locale() or "en")))
    code = code.upper()
    if code not in names:
        abort(404)
    return _feed_response(
        f"country-{code.lower()}",
        _country_feed_name(names[code]),
        listings.Filters(country=code),
    )


caching.answered_at_the_front(feed_film, _cached_film_feed_304)
caching.answered_at_the_front(feed_country, _cached_country_feed_304)


def near_feeds(city: places.City, km: int) -> list[dict[str, str]]:
    """The town's near-me feed as subscribe_feeds gives it, if it is served; else none."""
    if near_alerts.offered_town(city.id, km) is None:
        return []
    return [
        {
            "address": external_url("public.feed_near", city_id=city.id, km=km),
            "name": str(feed_service.near_feed_title(city, km)),
        }
    ]


@bp.route("/near/<int:city_id>/<int:km>/calendar.ics")
def feed_near(city_id: int, km: int) -> BaseResponse:
    """Listed screenings within `km` of a town, to subscribe to: served for each town and
    radius a confirmed near-me subscriber chose (near_alerts.offered_feeds), 404 otherwise."""
    city = near_alerts.offered_town(city_id, km)
    if city is None:
        abort(404)
    return _feed_response(
        feed_service.near_feed_key(city_id, km),
        feed_service.near_feed_title(city, km),
        listings.Filters(near_city=city_id, near_km=km),
    )


@bp.route("/feeds/producer/<token>.ics")
def feed_producer(token: str) -> BaseResponse:
    """The producer's private feed (secret URL): private screenings included."""
    secret = current_app.config.get("PRODUCER_FEED_TOKEN") or ""
    if len(secret) < 16 or not hmac.compare_digest(token.encode(), secret.encode()):
        abort(404)
    response = _feed_response(
        "producer", _l("All screenings (producer)"), listings.Filters(), include_private=True
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- for the film's own website -----------------------------------------------------------------


@bp.route("/api/screenings")
def api_screenings() -> BaseResponse:
    """Upcoming public screenings as JSON, for the film's website: CORS-readable and cacheable.
    With ``near=<town>`` (and ``km``) nearest first, each with its ``distance_km``."""
    form, filters = _search_form()
    near = _near(form, ".api_screenings")
    if near.redirect is not None:
        return near.redirect
    if form.near.errors or form.km.errors:
        response = jsonify(
            {
                "errors": {name: list(form[name].errors) for name in ("near", "km")},
                "did_you_mean": [
                    {"id": city.id, "label": city.label(_locale())} for city in near.candidates
                ],
            }
        )
        response.status_code = 422
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    per_page = request.args.get("per_page", listings.PER_PAGE, type=int) or 1
    moved = _old_page_link(filters, near, ".api_screenings", per_page)
    if moved is not None:
        return moved
    page = _list_page(filters, near, per_page=per_page)
    pager = _pager(
        page,
        partial(external_url, "public.api_screenings", per_page=page.per_page),
        _list_args(filters, near),
    )
    distances = _distances(page)

    def item(screening: Screening) -> dict[str, object]:
        found = api.as_json(screening)
        if screening.id in distances:
            found["distance_km"] = round(distances[screening.id])
        return found

    response = jsonify(
        {
            "screenings": [item(s) for s in page.items],
            "per_page": page.per_page,
            "next": pager["next"],
            "prev": pager["prev"],
        }
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.add_etag()
    return response.make_conditional(request)


EMBED_CSP = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors *")


@bp.route("/embed")
@cached_page(listings.listing_version)
def embed() -> BaseResponse:
    """A compact 'screenings near you' list meant for an <iframe> on another site; a partner
    shows its own region with ``?near=<town>``."""
    form, filters = _search_form()
    near = _near(form, ".embed")
    if near.redirect is not None:
        return near.redirect
    page = _list_page(filters, near, per_page=10, paged=False, shown=True)
    status = 422 if form.near.errors or form.km.errors else 200
    response = current_app.make_response(
        (
            render_template(
                "public/embed.html",
                form=form,
                page=page,
                items=_items(page, target="_blank"),
                filters=filters,
                near=near,
                args=_list_args(filters, near),
                feeds=subscribe_feeds(filters, near),
            ),
            status,
        )
    )
    response.headers["Content-Security-Policy"] = EMBED_CSP
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
