"""Public forms: finding a screening and replying to one."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
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

from ..forms import PublicForm, SafeForm, checked_email, choices, strip_text

REQUIRED = _l("This field is required.")


class SearchForm(SafeForm):
    """The upcoming-screenings filters, read from the query string (no CSRF: it only reads)."""

    class Meta:
        csrf = False

    city = StringField(_l("City"), validators=[Optional(), Length(max=120)], filters=[strip_text])
    country = SelectField(_l("Country"), validators=[Optional()], validate_choice=False)
    film = SelectField(_l("Film"), validators=[Optional()], validate_choice=False)

    def __init__(self, *args, films=(), countries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.film.choices = choices(
            [("", _l("Any film")), *((film.slug, film.title) for film in films)]
        )
        self.country.choices = choices([("", _l("Any country")), *countries])


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

    def __init__(self, *args, max_party_size: int = 10, question: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_party_size = max_party_size
        if question is None:
            del self.answer
        else:
            self.answer.label.text = question
        self.party_size.validators = [
            InputRequired(REQUIRED),
            NumberRange(
                min=1,
                max=max_party_size,
                message=_l("Enter a number from 1 to %(max)s.", max=max_party_size),
            ),
        ]

    def validate_email(self, field):
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

    def __init__(self, *args, languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = choices((code, code) for code in languages)


class MyLinksForm(PublicForm):
    """ "E-mail me my links": the address a person booked or replied with."""

    email = EmailField(
        _l("Your e-mail address"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip_text],
    )

    def validate_email(self, field):
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
