"""The booking form (also used to edit a booking) and the cancellation form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import ClassVar

from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TelField,
    TextAreaField,
    TimeField,
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

from ..forms import (
    LongSelectField,
    PublicForm,
    SafeForm,
    checked_email,
    choices,
    kept_choices,
    strip_text,
)
from ..labels import BOOKING_FIELDS as LABEL
from ..labels import ORGANIZATION_TYPES
from ..models import Film, Screening
from ..places import (
    countries,
    is_uniform_country,
    is_zone,
    main_zone,
    zone_choices,
)
from ..services import guest_messages, guests, visibility
from ..services.alerts import CANCEL_CAUSES
from ..services.bookings import DESCRIPTION_MAX, HOST_NOTE_MAX, BookingDetails
from ..services.distribution import formats_for
from ..services.rules import VENUE_KINDS
from ..services.visibility import EXPLANATIONS, LABELS

REQUIRED = _l("This field is required.")
# The guest settings' choices; "" (automatic: services/guests.py decides) on the booking form.
AUTOMATIC = ""
APPROVAL_CHOICES = [
    (AUTOMATIC, _l("Automatic: on for faith communities and private screenings")),
    ("on", _l("On: each reply waits for my approval and holds no seat until then")),
    ("off", _l("Off: replies get their seats at once")),
]
ADDRESS_CHECK_CHOICES = [
    (
        AUTOMATIC,
        _l(
            "Automatic: everyone at a public screening of more than 100 seats, "
            "otherwise parties of more than 4"
        ),
    ),
    *guests.ADDRESS_CHECK_LABELS.items(),
]


class MarkedRequired:
    """Marks a field required (the * and the `required` attribute) for a field whose own
    validate_ method decides, and may fill in, what an empty entry means."""

    field_flags: ClassVar[dict[str, bool]] = {"required": True}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        return None


def _int_or_none(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _format_choices(films: Sequence[Film]) -> list[SelectChoice]:
    """The films' active screening formats; the film's title is shown when there are several."""
    films = list(films)
    several = len(films) > 1
    titles = {film.id: film.title for film in films}
    options: list[tuple[int | str, object]] = [("", _l("Not decided yet"))]
    for fmt in formats_for(films):
        kind = _l("download") if fmt.is_download else _l("shipped")
        label = f"{fmt.name} ({kind})"
        options.append((fmt.id, f"{titles[fmt.film_id]}: {label}" if several else label))
    return choices(options)


def _text(
    label: LazyString, max_length: int, required: bool = True, **kwargs: object
) -> StringField:
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=max_length)]
    return StringField(label, validators=validators, filters=[strip_text], **kwargs)


class BookingForm(PublicForm):
    submission_key = HiddenField()
    host_note = None  # the edit form's (EditBookingForm)

    film_id = SelectField(LABEL["film_id"], coerce=int, validators=[InputRequired(REQUIRED)])
    # Checked against the chosen film by the booking service (formats belong to a film).
    format_id = SelectField(
        LABEL["format_id"], coerce=_int_or_none, validate_choice=False, default=None
    )

    organization_name = _text(LABEL["organization_name"], 200)
    # No type is preselected: a placeholder that is not a valid answer.
    organization_type = SelectField(
        LABEL["organization_type"],
        choices=choices([("", _l("Choose…")), *ORGANIZATION_TYPES]),
        validators=[DataRequired(_l("Choose the type of your organization."))],
        default="",
    )
    organization_website = URLField(
        LABEL["organization_website"],
        validators=[
            Optional(),
            Length(max=300),
            URL(message=_l("Enter a web address such as https://example.org.")),
        ],
        filters=[strip_text],
    )
    # Asked only when it differs from the venue's: unticked, the venue's country is copied
    # (validate_organization_country). app.js hides the country until the box is ticked.
    organization_elsewhere = BooleanField(_l("Our organization is based in another country"))
    organization_country = LongSelectField(
        LABEL["organization_country"], validators=[MarkedRequired()], default=""
    )

    contact_name = _text(LABEL["contact_name"], 200)
    contact_email = EmailField(
        LABEL["contact_email"],
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip_text],
    )
    contact_phone = TelField(
        LABEL["contact_phone"],
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[0-9+()./ -]+$", message=_l("Use digits, spaces and + ( ) - . / only.")),
        ],
        filters=[strip_text],
    )

    venue_name = _text(LABEL["venue_name"], 200)
    street_address = _text(LABEL["street_address"], 300)
    city = _text(LABEL["city"], 120)
    region = _text(LABEL["region"], 120, required=False)
    postal_code = _text(LABEL["postal_code"], 20, required=False)
    country = LongSelectField(LABEL["country"], validators=[InputRequired(REQUIRED)])
    venue_kind = SelectField(
        LABEL["venue_kind"],
        choices=choices([("", _l("Choose the kind of venue")), *VENUE_KINDS]),
        default="",
    )
    timezone = LongSelectField(
        LABEL["timezone"], validators=[MarkedRequired()], validate_choice=False
    )

    start_date = DateField(
        LABEL["start_date"], validators=[InputRequired(_l("Enter the date of the screening."))]
    )
    start_time = TimeField(
        LABEL["start_time"],
        validators=[InputRequired(_l("Enter the start time."))],
    )
    duration_minutes = IntegerField(
        LABEL["duration_minutes"],
        validators=[
            Optional(),
            NumberRange(min=30, max=600, message=_l("Enter between 30 and 600 minutes.")),
        ],
    )
    expected_audience = IntegerField(
        LABEL["expected_audience"],
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=1, max=100000, message=_l("Enter a number from 1 to 100,000.")),
        ],
    )
    capacity = IntegerField(
        LABEL["capacity"],
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=1, max=100000, message=_l("Enter a number from 1 to 100,000.")),
        ],
    )
    # Who learns the address; no default here: preselected by organization type (on_get).
    listing = RadioField(
        LABEL["visibility"],
        choices=choices(
            (value, _l("%(label)s: %(explanation)s", label=LABELS[value], explanation=text))
            for value, text in EXPLANATIONS.items()
        ),
        validators=[DataRequired(_l("Choose who sees the address."))],
    )
    rsvps_enabled = BooleanField(LABEL["rsvps_enabled"], default=True)
    approves_guests = SelectField(LABEL["approves_guests"], default=AUTOMATIC)
    address_check = SelectField(LABEL["address_check"], default=AUTOMATIC)
    host_question = SelectField(
        LABEL["host_question"],
        choices=choices([("", _l("No question")), *guests.HOST_QUESTIONS.items()]),
        default="",
    )
    description = TextAreaField(
        LABEL["description"],
        validators=[Optional(), Length(max=DESCRIPTION_MAX)],
        filters=[strip_text],
    )
    notes = TextAreaField(
        LABEL["notes"],
        validators=[Optional(), Length(max=2000)],
        filters=[strip_text],
    )
    accept_terms = BooleanField(
        _l("I accept the licence terms above on behalf of my organization."),
        validators=[DataRequired(_l("You must accept the licence terms to book a screening."))],
    )
    free_admission = BooleanField(
        _l("I confirm that admission will be free of charge for everyone."),
        validators=[DataRequired(_l("Screenings under this licence must be free of charge."))],
    )

    def __init__(self, *args: object, films: Sequence[Film] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.film_id.choices = choices((film.id, f"{film.title} ({film.year})") for film in films)
        self.format_id.choices = _format_choices(films)
        locale = str(get_locale() or "en")
        # In the page's language, kept per list (forms.kept_choices): the 247 countries (twice)
        # and 419 zones were most of the form's render, their options rendered on every page.
        country_choices = kept_choices((("", _("Choose a country")), *countries(locale)))
        self.organization_country.choices = country_choices
        self.country.choices = country_choices
        self.timezone.choices = kept_choices((("", _("Choose a time zone")), *zone_choices(locale)))
        automatic = self.offers_automatic_settings
        self.approves_guests.choices = choices(
            pair for pair in APPROVAL_CHOICES if automatic or pair[0] != AUTOMATIC
        )
        self.address_check.choices = choices(
            pair for pair in ADDRESS_CHECK_CHOICES if automatic or pair[0] != AUTOMATIC
        )

    # A new booking may leave the guest settings to their defaults; an edit shows them as set.
    offers_automatic_settings = True

    def preselect_listing(self) -> None:
        """On a fresh form: the default for the chosen organization type."""
        if not self.listing.data:
            self.listing.data = visibility.default_for(self.organization_type.data)

    def validate_contact_email(self, field: Field) -> None:
        checked_email(self, field)

    def validate_organization_country(self, field: Field) -> None:
        if not field.data and not self.organization_elsewhere.data:
            field.data = self.country.data  # the venue's own check speaks for it
            return
        # A country chosen without the box (no script to hide the list) is taken as given.
        self.organization_elsewhere.data = True
        if not field.data:
            raise ValidationError(_l("Choose the country your organization is based in."))
        if field.data not in dict(countries()):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_country(self, field: Field) -> None:
        if field.data not in dict(countries()):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_timezone(self, field: Field) -> None:
        country = self.country.data or ""
        if not field.data:
            # Where the whole country keeps one clock, its main zone is the answer; where
            # not, the form comes back with the main zone chosen, for the person to check.
            field.data = main_zone(country) or ""
            if field.data and is_uniform_country(country):
                return
            if field.data:
                raise ValidationError(
                    _l("This country has several time zones: check the one chosen for you.")
                )
            raise ValidationError(_l("Choose the time zone of the venue."))
        if not is_zone(field.data):
            raise ValidationError(_l("Choose a time zone from the list."))

    def validate_start_date(self, field: Field) -> None:
        if isinstance(field.data, date) and field.data.year > datetime.now(UTC).year + 3:
            raise ValidationError(_l("Bookings can be made up to three years ahead."))

    def to_details(self) -> BookingDetails:
        """The validated entries, as the booking service takes them."""
        return BookingDetails(
            film_id=self.film_id.data,
            organization_name=self.organization_name.data,
            organization_type=self.organization_type.data,
            organization_website=self.organization_website.data or "",
            organization_country=self.organization_country.data,
            contact_name=self.contact_name.data,
            contact_email=self.contact_email.data,
            contact_phone=self.contact_phone.data or "",
            venue_name=self.venue_name.data,
            street_address=self.street_address.data,
            city=self.city.data,
            region=self.region.data or "",
            postal_code=self.postal_code.data or "",
            country=self.country.data,
            timezone=self.timezone.data,
            start_date=self.start_date.data,
            start_time=self.start_time.data,
            duration_minutes=self.duration_minutes.data,
            expected_audience=self.expected_audience.data,
            capacity=self.capacity.data,
            visibility=self.listing.data,
            rsvps_enabled=bool(self.rsvps_enabled.data),
            notes=self.notes.data or "",
            description=self.description.data or "",
            format_id=self.format_id.data,
            venue_kind=self.venue_kind.data or "",
            approves_guests={"on": True, "off": False}.get(self.approves_guests.data or ""),
            address_check=self.address_check.data or "",
            host_question=self.host_question.data or "",
            # Only the organizer's edit form has the host note; elsewhere it is kept as is.
            host_note=None if self.host_note is None else (self.host_note.data or ""),
        )

    def fill_from(self, screening: Screening) -> None:
        """Pre-fill the edit form with a screening's current particulars."""
        for name in BookingDetails.__dataclass_fields__:
            if name in ("start_date", "start_time", "visibility", "approves_guests"):
                continue
            if getattr(self, name) is None:  # a field this form does not have
                continue
            getattr(self, name).data = getattr(screening, name)
        self.start_date.data = screening.local_start.date()
        self.start_time.data = time(screening.local_start.hour, screening.local_start.minute)
        self.listing.data = screening.visibility
        if screening.organization_country == screening.country:
            self.organization_country.data = ""  # asked again only when the box is ticked
        else:
            self.organization_elsewhere.data = True
        self.approves_guests.data = "on" if screening.approves_guests else "off"


class EditBookingForm(BookingForm):
    """The booking form without the one-time acceptances, to change a booking.

    When the film's terms changed since the organizer accepted theirs, the page shows the
    new terms and the booking service requires ``accept_new_terms`` (services/bookings.py).
    """

    accept_terms = None
    free_admission = None
    submission_key = None
    homepage = None
    offers_automatic_settings = False
    accept_new_terms = BooleanField(
        _l("I accept the film's new licence terms above on behalf of my organization.")
    )
    host_note = TextAreaField(
        LABEL["host_note"],
        validators=[Optional(), Length(max=HOST_NOTE_MAX)],
        filters=[strip_text],
    )


class CancelForm(SafeForm):
    cause = SelectField(
        _l("Main cause (optional, shared with the producer)"),
        choices=choices([("", _l("Choose a cause")), *CANCEL_CAUSES]),
        default="",
    )
    confirm = BooleanField(
        _l("Yes, cancel this screening. Its licence will no longer be valid."),
        validators=[DataRequired(_l("Tick the box to confirm the cancellation."))],
    )
    reason = TextAreaField(
        _l("Reason (optional, shared with the producer)"),
        validators=[Optional(), Length(max=1000)],
        filters=[strip_text],
    )


class ReportForm(SafeForm):
    """The organizer's post-screening report."""

    actual_attendance = IntegerField(
        _l("How many people came?"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=1000000, message=_l("Enter the number of people who came.")),
        ],
    )
    feedback = TextAreaField(
        _l("How did it go? What did people say?"),
        validators=[Optional(), Length(max=5000)],
        filters=[strip_text],
    )
    quote = TextAreaField(
        _l("A sentence the producer may quote (optional)"),
        validators=[Optional(), Length(max=1000)],
        filters=[strip_text],
    )


class GuestDecisionForm(SafeForm):
    """The organizer's decision on the ticked requests (services/rsvps.approve_requests…)."""

    selected = SelectMultipleField(_l("Requests"), coerce=int, validate_choice=False)
    approve = SubmitField(_l("Approve"))
    decline = SubmitField(_l("Decline"))
    waitlist = SubmitField(_l("Move to the waiting list"))

    def validate_selected(self, field: Field) -> None:
        if not field.data:
            raise ValidationError(_l("Tick at least one request."))

    @property
    def decision(self) -> str:
        """approve, decline or waitlist: the button pressed (approve when none was named)."""
        if self.decline.data:
            return "decline"
        if self.waitlist.data:
            return "waitlist"
        return "approve"


class GuestMessageForm(SafeForm):
    """The organizer's message to one group of their guests (services/guest_messages.py)."""

    # Random per rendered form: the same form posted twice sends once.
    submission_key = HiddenField()
    group = RadioField(_l("Send to"), validators=[DataRequired(_l("Choose who gets the message."))])
    subject = StringField(
        _l("Subject"),
        validators=[DataRequired(REQUIRED), Length(max=guest_messages.SUBJECT_MAX)],
        filters=[strip_text],
    )
    body = TextAreaField(
        _l("Message"),
        validators=[DataRequired(REQUIRED), Length(max=guest_messages.BODY_MAX)],
        filters=[strip_text],
    )

    def __init__(
        self, *args: object, counts: dict[str, int] | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        counts = counts or {}
        self.group.choices = choices(
            (
                key,
                _l("%(group)s (%(n)s)", group=label, n=counts.get(key, 0)),
            )
            for key, label in guest_messages.groups()
        )


class WarningQueryForm(SafeForm):
    """The booking form's live holiday and Shabbat hint (/book/warnings): a date and a place
    (no CSRF: it only reads, and never about other bookings)."""

    class Meta:
        csrf = False

    date = DateField(_l("Date"), validators=[InputRequired()])
    time = TimeField(_l("Start time (venue's local time)"), validators=[InputRequired()])
    country = StringField(_l("Country of the venue"), validators=[InputRequired()])
    timezone = StringField(_l("Time zone of the venue"))  # none: the country's main zone
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)])
    region = StringField(_l("Region, state or province"), validators=[Optional(), Length(max=120)])
    duration = IntegerField(
        _l("Duration in minutes (film and discussion)"),
        validators=[Optional(), NumberRange(min=30, max=600)],
    )

    def validate_country(self, field: Field) -> None:
        if field.data not in dict(countries()):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_timezone(self, field: Field) -> None:
        field.data = field.data or main_zone(self.country.data or "") or ""
        if not is_zone(field.data):
            raise ValidationError(_l("Choose a time zone from the list."))

    def validate_date(self, field: Field) -> None:
        if not isinstance(field.data, date):
            raise ValidationError(_l("Enter the date of the screening."))
        if field.data.year > datetime.now(UTC).year + 3 or field.data.year < 1900:
            raise ValidationError(_l("Bookings can be made up to three years ahead."))
