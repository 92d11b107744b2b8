"""Producer forms: login, decisions, the screening filters, shipments, films, settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from functools import lru_cache

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from ..forms import LongSelectField, SafeForm, choices, kept_choices, strip_text
from ..labels import ORGANIZATION_TYPES
from ..models import Film, FormatKind, LicenceTerms, MaterialKind
from ..places import all_zones, countries
from ..services import rules
from ..services.alerts import ALERT_MODES
from ..services.rules import VENUE_KINDS


def _int_or_none(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class LoginForm(SafeForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(), Length(max=254)], filters=[strip_text]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class ApproveForm(SafeForm):
    pass


class TrustForm(SafeForm):
    """Approve and trust: the organizer's later compliant bookings skip review."""

    whole_domain = BooleanField(_l("Trust every e-mail address at this domain"))


class RejectForm(SafeForm):
    reason = TextAreaField(
        _l("Reason (sent to the organizer)"),
        validators=[DataRequired(_l("Give the organizer a reason.")), Length(max=2000)],
        filters=[strip_text],
    )


class BulkDecisionForm(SafeForm):
    """Approve or reject the ticked bookings of the approval queue."""

    screening_ids = SelectMultipleField(_l("Bookings"), coerce=int, validate_choice=False)
    every_pending = BooleanField(_l("Apply to every booking waiting, on all pages"))
    action = RadioField(
        _l("Decision"),
        choices=choices([("approve", _l("Approve")), ("reject", _l("Reject"))]),
        validators=[InputRequired(_l("Choose approve or reject."))],
    )
    reason = TextAreaField(
        _l("Reason for rejecting (sent to each organizer)"),
        validators=[Optional(), Length(max=2000)],
        filters=[strip_text],
    )

    def validate_reason(self, field: Field) -> None:
        if self.action.data == "reject" and not field.data:
            raise ValidationError(_l("Give the organizers a reason."))

    def validate_screening_ids(self, field: Field) -> None:
        if not field.data and not self.every_pending.data:
            raise ValidationError(_l("Tick at least one booking, or every booking waiting."))


STATUS_CHOICES = [
    ("active", _l("Pending and approved")),
    ("pending", _l("Pending")),
    ("approved", _l("Approved")),
    ("cancelled", _l("Cancelled")),
    ("rejected", _l("Rejected")),
    ("all", _l("All")),
]
SORT_CHOICES = [
    ("starts_at", _l("Date")),
    ("film", _l("Film")),
    ("organization", _l("Organization")),
    ("city", _l("City")),
    ("country", _l("Country")),
    ("status", _l("Status")),
    ("seats", _l("Seats booked")),
]


class ScreeningFilterForm(SafeForm):
    """The dashboard's filters, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    film = LongSelectField(_l("Film"), coerce=_int_or_none, validate_choice=False)
    country = LongSelectField(_l("Country"), validate_choice=False)
    status = SelectField(_l("Status"), choices=choices(STATUS_CHOICES), default="active")
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)], filters=[strip_text])
    sort = SelectField(_l("Sort by"), choices=choices(SORT_CHOICES), default="starts_at")
    desc = BooleanField(_l("Newest first"))
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)], default=1)

    def set_choices(
        self,
        films: Iterable[tuple[int, str]],
        countries: tuple[str, ...],
        country_name: Callable[[str], str],
    ) -> None:
        """The films' and countries' options; the countries' (some 250) kept per list and
        language (forms.kept_choices), named once, their markup rendered once."""
        self.film.choices = choices([("", _l("All films")), *films])
        self.country.choices = kept_choices(
            (("", str(_l("All countries"))), *_named(countries, country_name))
        )


@lru_cache(maxsize=8)
def _named(codes: tuple[str, ...], name: Callable[[str], str]) -> tuple[tuple[str, str], ...]:
    return tuple((code, name(code)) for code in codes)


class ShipForm(SafeForm):
    tracking_number = StringField(
        _l("Tracking number"),
        validators=[DataRequired(_l("Enter the tracking number.")), Length(max=120)],
        filters=[strip_text],
    )


class ReturnForm(SafeForm):
    pass


class AddressForm(SafeForm):
    address = TextAreaField(
        _l("Shipping address"),
        validators=[DataRequired(_l("Enter the address.")), Length(max=1000)],
        filters=[strip_text],
    )


class FilmForm(SafeForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    code = StringField(
        _l("Licence code"),
        validators=[
            DataRequired(),
            Regexp(r"^[A-Z0-9]{2,8}$", message=_l("2 to 8 capital letters or digits.")),
        ],
        filters=[strip_text, lambda v: v.upper() if isinstance(v, str) else v],
    )
    slug = StringField(
        _l("Address name (slug)"),
        validators=[
            DataRequired(),
            Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$", message=_l("Lower-case words joined by -.")),
            Length(max=80),
        ],
        filters=[strip_text],
    )
    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(min=1888, max=2100)])
    genre = StringField(_l("Genre"), validators=[Optional(), Length(max=60)], filters=[strip_text])
    director = StringField(
        _l("Director"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    production_company = StringField(
        _l("Production company"),
        validators=[DataRequired(), Length(max=200)],
        filters=[strip_text],
    )
    runtime_minutes = IntegerField(
        _l("Running time (minutes)"), validators=[InputRequired(), NumberRange(min=1, max=1000)]
    )
    synopsis = TextAreaField(
        _l("Synopsis"), validators=[DataRequired(), Length(max=5000)], filters=[strip_text]
    )
    content_advisory = TextAreaField(
        _l("Content advisory"), validators=[Optional(), Length(max=2000)], filters=[strip_text]
    )
    synopsis_fr = TextAreaField(
        _l("Synopsis in French"), validators=[Length(max=5000)], filters=[strip_text]
    )
    content_advisory_fr = TextAreaField(
        _l("Content advisory in French"), validators=[Length(max=2000)], filters=[strip_text]
    )
    synopsis_he = TextAreaField(
        _l("Synopsis in Hebrew"), validators=[Length(max=5000)], filters=[strip_text]
    )
    content_advisory_he = TextAreaField(
        _l("Content advisory in Hebrew"), validators=[Length(max=2000)], filters=[strip_text]
    )
    requires_approval = BooleanField(_l("Bookings need my approval"))
    auto_approve_compliant = BooleanField(
        _l("Approve at once a booking that meets every licence rule below")
    )
    is_active = BooleanField(_l("Open for bookings"), default=True)
    # The licence rules (services/rules.py); an empty field is a rule that does not apply.
    rule_max_audience = IntegerField(
        _l("Largest expected audience"),
        validators=[Optional(), NumberRange(min=1, max=1000000)],
    )
    rule_countries_allowed = StringField(
        _l("Countries allowed (codes)"),
        validators=[Optional(), Length(max=1000)],
        filters=[strip_text],
    )
    rule_countries_excluded = StringField(
        _l("Countries excluded (codes)"),
        validators=[Optional(), Length(max=1000)],
        filters=[strip_text],
    )
    rule_organization_types = SelectMultipleField(
        _l("Types of organization allowed"), choices=choices(ORGANIZATION_TYPES)
    )
    rule_venue_kinds = SelectMultipleField(
        _l("Kinds of venue allowed"), choices=choices(VENUE_KINDS)
    )
    rule_min_notice_days = IntegerField(
        _l("Minimum notice (days before the screening)"),
        validators=[Optional(), NumberRange(min=1, max=365)],
    )
    rule_blackout_dates = TextAreaField(
        _l("Blackout dates (one YYYY-MM-DD a line)"),
        validators=[Optional(), Length(max=5000)],
        filters=[strip_text],
    )
    rule_per_org_month = IntegerField(
        _l("Screenings per organization per month"),
        validators=[Optional(), NumberRange(min=1, max=100)],
    )
    terms = TextAreaField(
        _l("Licence terms"),
        validators=[DataRequired(), Length(max=20000)],
        filters=[strip_text],
    )
    terms_fr = TextAreaField(
        _l("Licence terms in French"), validators=[Length(max=20000)], filters=[strip_text]
    )
    terms_he = TextAreaField(
        _l("Licence terms in Hebrew"), validators=[Length(max=20000)], filters=[strip_text]
    )

    def film_texts(self) -> dict[str, dict[str, str]]:
        """The synopsis and advisory in French and Hebrew as typed (services/films.py)."""
        return {
            language: {
                name: self[f"{name}_{language}"].data or ""
                for name in ("synopsis", "content_advisory")
            }
            for language in ("fr", "he")
        }

    def fill_film_texts(self, film: Film) -> None:
        """The film's French and Hebrew synopsis and advisory into their fields."""
        texts = json.loads(film.translations_json or "{}")
        for language in ("fr", "he"):
            for name in ("synopsis", "content_advisory"):
                self[f"{name}_{language}"].data = texts.get(language, {}).get(name, "")

    def terms_translations(self) -> dict[str, str]:
        """The terms' French and Hebrew texts as typed; an empty one is left out."""
        return {"fr": self.terms_fr.data or "", "he": self.terms_he.data or ""}

    def fill_terms(self, terms: LicenceTerms | None) -> None:
        """Every text of the film's current terms version into its field."""
        texts = terms.texts if terms is not None else {}
        self.terms.data = texts.get("en", "")
        self.terms_fr.data = texts.get("fr", "")
        self.terms_he.data = texts.get("he", "")

    def values(self) -> dict:
        return {
            "title": self.title.data,
            "code": self.code.data,
            "slug": self.slug.data,
            "year": self.year.data,
            "genre": self.genre.data or "documentary",
            "director": self.director.data,
            "production_company": self.production_company.data,
            "runtime_minutes": self.runtime_minutes.data,
            "synopsis": self.synopsis.data,
            "content_advisory": self.content_advisory.data or "",
            "texts": self.film_texts(),
            "requires_approval": bool(self.requires_approval.data),
            "auto_approve_compliant": bool(self.auto_approve_compliant.data),
            "is_active": bool(self.is_active.data),
            "rules": {
                "max_audience": self.rule_max_audience.data,
                "countries_allowed": _codes(self.rule_countries_allowed.data),
                "countries_excluded": _codes(self.rule_countries_excluded.data),
                "organization_types": self.rule_organization_types.data,
                "venue_kinds": self.rule_venue_kinds.data,
                "min_notice_days": self.rule_min_notice_days.data,
                "blackout_dates": _dates(self.rule_blackout_dates.data),
                "per_org_month": self.rule_per_org_month.data,
            },
        }

    def fill_rules(self, film: Film) -> None:
        """Pre-fill the rule fields with the film's stored settings."""
        stored = rules.settings(film)
        self.rule_max_audience.data = stored.get("max_audience")
        self.rule_countries_allowed.data = ", ".join(stored.get("countries_allowed", ()))
        self.rule_countries_excluded.data = ", ".join(stored.get("countries_excluded", ()))
        self.rule_organization_types.data = stored.get("organization_types", [])
        self.rule_venue_kinds.data = stored.get("venue_kinds", [])
        self.rule_min_notice_days.data = stored.get("min_notice_days")
        self.rule_blackout_dates.data = "\n".join(stored.get("blackout_dates", ()))
        self.rule_per_org_month.data = stored.get("per_org_month")

    def validate_rule_countries_allowed(self, field: Field) -> None:
        _check_codes(field)

    def validate_rule_countries_excluded(self, field: Field) -> None:
        _check_codes(field)

    def validate_rule_blackout_dates(self, field: Field) -> None:
        try:
            _dates(field.data)
        except ValueError:
            raise ValidationError(_l("Write each date as YYYY-MM-DD, one a line.")) from None


def _codes(text: str | None) -> list[str]:
    return [
        code.strip().upper() for code in (text or "").replace(";", ",").split(",") if code.strip()
    ]


def _check_codes(field: Field) -> None:
    unknown = [code for code in _codes(field.data) if code not in dict(countries())]
    if unknown:
        raise ValidationError(
            _l(
                "Unknown country codes: %(codes)s. Use two letters, e.g. CA, GB.",
                codes=", ".join(unknown),
            )
        )


def _dates(text: str | None) -> list[str]:
    """Each line a date; raises ValueError on one that is not YYYY-MM-DD."""
    return [
        date.fromisoformat(line.strip()).isoformat()
        for line in (text or "").splitlines()
        if line.strip()
    ]


FORMAT_KINDS = [
    (FormatKind.DOWNLOAD.value, _l("Download (personal expiring link)")),
    (FormatKind.PHYSICAL.value, _l("Physical (shipped: DCP, Blu-ray…)")),
]


class FormatForm(SafeForm):
    name = StringField(
        _l("Format name"),
        validators=[DataRequired(), Length(max=80)],
        filters=[strip_text],
    )
    kind = SelectField(_l("Kind"), choices=choices(FORMAT_KINDS))
    download_url = URLField(
        _l("File location (download formats)"),
        validators=[Optional(), URL(), Length(max=2000)],
        filters=[strip_text],
    )
    is_active = BooleanField(_l("Offered to organizers"), default=True)


MATERIAL_KINDS = [
    (MaterialKind.POSTER.value, _l("Poster")),
    (MaterialKind.DISCUSSION_GUIDE.value, _l("Discussion guide")),
    (MaterialKind.TRAILER.value, _l("Trailer")),
    (MaterialKind.OTHER.value, _l("Other")),
]


class MaterialForm(SafeForm):
    kind = SelectField(_l("Kind"), choices=choices(MATERIAL_KINDS))
    label = StringField(
        _l("Label"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    url = URLField(
        _l("Link"), validators=[DataRequired(), URL(), Length(max=2000)], filters=[strip_text]
    )


class RemoveForm(SafeForm):
    pass


class RetryForm(SafeForm):
    pass


class SettingsForm(SafeForm):
    timezone = SelectField(_l("Your time zone"), validate_choice=False)
    alert_mode = RadioField(
        _l("E-mails about bookings and changes to review, cancellations and undelivered mail"),
        choices=choices(ALERT_MODES),
        default="immediate",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = choices((zone, zone.replace("_", " ")) for zone in all_zones())


class OrganizerDataForm(SafeForm):
    """Find an organizer's data by the e-mail address they booked with."""

    email = EmailField(
        _l("Organizer's e-mail address"),
        validators=[DataRequired(), Length(max=254)],
        filters=[strip_text],
    )


class EraseOrganizerForm(OrganizerDataForm):
    confirm = BooleanField(
        _l("Yes, erase this person's contact details, notes and e-mails. This cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )


class SubscriberDataForm(SafeForm):
    """Find a near-me alert subscriber's data by their e-mail address."""

    email = EmailField(
        _l("Subscriber's e-mail address"),
        validators=[DataRequired(), Length(max=254)],
        filters=[strip_text],
    )


class EraseSubscriberForm(SubscriberDataForm):
    confirm = BooleanField(
        _l("Yes, delete this person's alert subscriptions and e-mails. This cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )


class EraseAttendeeForm(SafeForm):
    """Erase an attendee by the e-mail address they replied with."""

    email = EmailField(
        _l("Attendee's e-mail address"),
        validators=[DataRequired(), Length(max=254)],
        filters=[strip_text],
    )
    confirm = BooleanField(
        _l("Yes, erase this attendee's replies, name and e-mails. This cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )


class ReissueLinkForm(SafeForm):
    pass


def _reason(label: LazyString) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[DataRequired(_l("Give the organizer a reason.")), Length(max=2000)],
        filters=[strip_text],
    )


class ProducerCancelForm(SafeForm):
    """The producer cancels a screening; organizer and guests are told."""

    reason = _reason(_l("Reason for cancelling (sent to the organizer)"))


class RevokeForm(SafeForm):
    """The producer revokes a screening's licence."""

    reason = _reason(_l("Reason for revoking (sent to the organizer)"))


class ChangeDecisionForm(SafeForm):
    """Approve or reject an organizer's change held for review."""

    reason = TextAreaField(
        _l("Reason, if you reject the change (sent to the organizer)"),
        validators=[Optional(), Length(max=2000)],
        filters=[strip_text],
    )
