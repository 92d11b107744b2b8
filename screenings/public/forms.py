"""Public forms: finding a screening and replying to one."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from ..forms import (
    KeptChoices,
    LongSelectField,
    PublicForm,
    SafeForm,
    checked_email,
    choices,
    kept_choices,
    strip_text,
)
from ..services.films import FilmOption

REQUIRED = _l("This field is required.")


def offer_radii(field: SelectField, radii: Iterable[int], default_km: int) -> None:
    """A "within" field's choices ("50 km", …), the default chosen when none was sent."""
    field.choices = radius_choices(radii)
    if not field.data:
        field.data = str(default_km)


def radius_choices(radii: Iterable[int]) -> KeptChoices:
    """A "within" field's choices in the page's language, kept per list (kept_choices)."""
    return kept_choices(tuple((str(km), _("%(km)s km", km=km)) for km in radii))


def search_choices(
    films: Iterable[FilmOption], countries: Iterable[tuple[str, str]]
) -> tuple[KeptChoices, KeptChoices]:
    """SearchForm's film and country choices in the page's language, kept per list
    (kept_choices): the form's, and with radius_choices the key its kept fields are kept
    under (public.views._search_fields)."""
    return (
        kept_choices((("", _("Any film")), *((film.slug, film.title) for film in films))),
        kept_choices((("", _("Any country")), *countries)),
    )


class SearchForm(SafeForm):
    """The upcoming-screenings filters, read from the query string (no CSRF: it only reads)."""

    class Meta:
        csrf = False

    city = StringField(_l("City"), validators=[Optional(), Length(max=120)], filters=[strip_text])
    country = LongSelectField(_l("Country"), validators=[Optional()], validate_choice=False)
    film = LongSelectField(_l("Film"), validators=[Optional()], validate_choice=False)
    # A town typed (the type-ahead offers the gazetteer's) or a gazetteer id from a link:
    # the view turns it into one city, or says which it could be (services/nearby.py).
    near = StringField(
        _l("Near (town or city)"), validators=[Optional(), Length(max=200)], filters=[strip_text]
    )
    km = LongSelectField(_l("Within"), validators=[Optional()], validate_choice=True)

    def __init__(
        self,
        *args: object,
        films: Iterable[FilmOption] = (),
        countries: Iterable[tuple[str, str]] = (),
        radii: Iterable[int] = (),
        default_km: int = 0,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        # In the page's language, kept per list (forms.kept_choices): built once, not per page.
        self.film.choices, self.country.choices = search_choices(films, countries)
        offer_radii(self.km, radii, default_km)


class PlaceQueryForm(SafeForm):
    """The type-ahead's question: the first letters of a town (no CSRF: it only reads)."""

    class Meta:
        csrf = False

    q = StringField(_l("Town or city"), validators=[DataRequired(), Length(min=2, max=60)])


class NearMeForm(PublicForm):
    """ "Tell me when there's a screening near me": an address, a town and a radius."""

    email = EmailField(
        _l("Your e-mail"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip_text],
    )
    near = StringField(
        _l("Your town or city"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        filters=[strip_text],
    )
    km = SelectField(_l("Within"), validate_choice=True)
    # The "did you mean" buttons: a gazetteer id that replaces the typed town.
    choice = HiddenField()

    def __init__(
        self, *args: object, radii: Iterable[int] = (), default_km: int = 0, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        offer_radii(self.km, radii, default_km)

    def validate_email(self, field: Field) -> None:
        checked_email(self, field)


class RsvpForm(PublicForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        filters=[strip_text],
    )
    email = EmailField(
        _l("Your e-mail"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip_text],
    )
    party_size = IntegerField(
        _l("Seats (you included)"), default=1, validators=[InputRequired(REQUIRED)]
    )
    # The host's optional question (services/guests.py); its label is the question itself.
    answer = StringField(
        _l("Your answer"), validators=[Optional(), Length(max=300)], filters=[strip_text]
    )
    consent = BooleanField(
        _l("E-mail me the invitation, any change to this screening and a reminder."),
        validators=[DataRequired(_l("Tick the box so we can send you your invitation."))],
    )

    def __init__(
        self,
        *args: object,
        max_party_size: int = 10,
        question: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_party_size = max_party_size
        if question is None:
            del self.answer
        else:
            self.answer.label.text = question
        self.party_size.validators = party_size_validators(max_party_size)

    def validate_email(self, field: Field) -> None:
        checked_email(self, field)


class LanguageForm(SafeForm):
    """The language switcher: one of the app's languages, and the page to go back to.

    A plain link-like GET (no CSRF token): choosing a language changes nothing but how this
    browser's pages read, and a page without a token needs no session cookie, so public
    pages stay cacheable.
    """

    class Meta:
        csrf = False

    language = SelectField(validators=[DataRequired()], validate_choice=True)
    next = HiddenField()

    def __init__(self, *args: object, languages: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.language.choices = choices((code, code) for code in languages)


class MyLinksForm(PublicForm):
    """ "E-mail me my links": the address a person booked or replied with."""

    email = EmailField(
        _l("Your e-mail address"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip_text],
    )

    def validate_email(self, field: Field) -> None:
        checked_email(self, field)


class LicenceLookupForm(SafeForm):
    """Check a licence by its number, as typed (the page reads case, O/I/L and spaces)."""

    class Meta:
        csrf = False

    number = StringField(
        _l("Licence number"),
        validators=[DataRequired(_l("Enter the licence number.")), Length(max=64)],
        filters=[strip_text],
    )


def party_size_validators(max_party_size: int) -> list:
    """A party's number of seats: 1 to the screening's limit (the RSVP and the seats form)."""
    return [
        InputRequired(REQUIRED),
        NumberRange(
            min=1,
            max=max_party_size,
            message=_l("Enter a number from 1 to %(max)s.", max=max_party_size),
        ),
    ]
