"""What every form shares: refusing control characters and line breaks in typed text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Protocol

from babel import support
from email_validator import EmailNotValidError, validate_email
from flask import Request, current_app, has_request_context, request
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Field, SelectChoice, SelectField, StringField, TextAreaField, widgets
from wtforms.fields.choices import Choice
from wtforms.i18n import messages_path
from wtforms.validators import ValidationError
from wtforms.widgets import Select
from wtforms.widgets import core as widgets_core

from .safetext import text_problem

# A field validator as WTForms calls it (to mypy, FlaskForm and Field are Any: WTForms is untyped).
Validator = Callable[[FlaskForm, Field], None]


class FormTranslations(Protocol):
    """What WTForms asks of a form's translations (``Meta.get_translations``)."""

    def gettext(self, string: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


def html_params(**kwargs: object) -> Markup:
    """WTForms' html_params, the same markup for the same attributes, built as one string.

    WTForms escapes each attribute into a Markup.format of its own (two thirds of an RSVP
    form's render, half a millisecond a page); this escapes each key and value once, with
    the same escape, the same sort and the same quoting (a value's '"' as &quot;)."""
    parts: list[str] = []
    for key, value in sorted(kwargs.items()):
        if value is False:
            continue
        name = escape(widgets_core.clean_key(key))
        if value is True:
            parts.append(name)
        else:
            quoted = str(escape(value)).replace('"', "&quot;")
            parts.append(f'{name}="{quoted}"')
    return Markup(" ".join(parts))  # noqa: S704 # nosec B704: each key and value escaped above


WTFORMS_HTML_PARAMS = widgets_core.html_params


def install_html_params() -> None:
    """Every widget and label renders its attributes with html_params above: the widgets'
    own staticmethod, and the module name that Label, Select and TextArea call."""
    for holder in (widgets_core.Input, widgets_core.Button):
        holder.html_params = staticmethod(html_params)
    widgets_core.html_params = html_params
    widgets.html_params = html_params


class SafeForm(FlaskForm):
    """A FlaskForm whose text fields refuse invisible control characters.

    Single-line fields also refuse line breaks, so a typed value can never start a new
    e-mail header or iCalendar property downstream, not even hidden in an encoded-word.
    """

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: FlaskForm) -> FormTranslations | None:
            """WTForms' own messages in the page's language, their catalogue read once per
            language: Flask-WTF reads it from disk for every request (~175 us)."""
            if not has_request_context() or not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _wtforms_catalogue(str(get_locale() or "en"))

        def wrap_formdata(self, form: FlaskForm, formdata: object) -> object:
            """The posted form's typed fields only: Flask-WTF would also hand text fields a
            file part of a multipart body, or a JSON body's numbers and lists."""
            wrapped = super().wrap_formdata(form, formdata)
            if wrapped is not None and wrapped is not formdata and wrapped is not request.form:
                return request.form or None
            return wrapped

    def submit_data_in(self, request: Request) -> bool:
        """Whether this (prefixed) form is the one posted, when a page holds several."""
        return request.method == "POST" and any(
            key.startswith(self._prefix) for key in request.form
        )

    def validate(self, extra_validators: Mapping[str, Sequence[Validator]] | None = None) -> bool:
        valid = super().validate(extra_validators)
        files = request.files if has_request_context() else {}
        for field in self:
            if field.name in files:
                field.errors.append(_l("Type this in: a file cannot be sent here."))
                valid = False
            if not isinstance(field, StringField) or not isinstance(field.data, str):
                continue
            message = unsafe_text_message(field.data, multiline=isinstance(field, TextAreaField))
            if message is not None:
                field.errors.append(message)
                valid = False
        return valid


class ConfirmForm(SafeForm):
    """A bare POST with its CSRF token (a button: cancel, erase, revoke, unlock)."""


def unsafe_text_message(value: str, *, multiline: bool = False) -> LazyString | None:
    """The message for typed text a form must refuse, or None: the one rule for every field.

    Controls and (on one line) line breaks are refused as typed and as an e-mail reader would
    decode them from RFC 2047 encoded-words (see safetext.py).
    """
    problem = text_problem(value, multiline=multiline)
    if problem == "line break":
        return _l("This must be on one line.")
    if problem is not None:
        return _l("This contains invisible control characters. Remove them.")
    return None


class PublicForm(SafeForm):
    """A form anyone may post: it carries a honeypot field that people never see or fill."""

    # Hidden from people by CSS and from assistive technology by aria-hidden; bots that
    # fill every input fill this one too.
    homepage = StringField(_l("Leave this field empty"))

    def validate(self, extra_validators: Mapping[str, Sequence[Validator]] | None = None) -> bool:
        valid = super().validate(extra_validators)
        honeypot = getattr(self, "homepage", None)  # a subclass may drop it (private pages)
        if honeypot is not None and honeypot.data:
            self.form_errors.append(
                _l("This submission looks automated. If you are a person, please try again.")
            )
            return False
        return valid


@lru_cache(maxsize=8)
def _wtforms_catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


def strip_text(value: object) -> object:
    """Field filter: surrounding whitespace is never meaningful."""
    return value.strip() if isinstance(value, str) else value


class KeptOptionsSelect(Select):
    """WTForms' select whose options are rendered once per list of choices and kept, the
    chosen one marked in a copy: a list of 250 countries was most of a cold page's render
    (the upcoming list, the dashboard). The same markup as ``Select`` (tests/test_public.py);
    choices with groups or render_kw are rendered by ``Select`` itself. Choices that
    kept_choices built carry their markup: the list is not walked at all then."""

    def __call__(self, field: SelectField, **kwargs: object) -> Markup:
        kept = field.choices
        if isinstance(kept, KeptChoices) and not self.multiple and field.coerce is str:
            html = kept.markup
            label = kept.labels.get(field.data) if isinstance(field.data, str) else None
            if label is not None:  # the one option whose value is the data (SelectField's rule)
                plain = self.render_option(Choice(field.data, label, False, None))
                html = html.replace(
                    plain, self.render_option(Choice(field.data, label, True, None)), 1
                )
            return self._around(field, html, kwargs)
        options = list(field.iter_choices())
        if self.multiple or field.has_groups() or any(o.render_kw for o in options):
            return super().__call__(field, **kwargs)
        html = _kept_options(
            tuple(
                (option.value, None if option.label is None else str(option.label))
                for option in options
            )
        )
        for option in options:
            if option.selected:
                plain = self.render_option(option._replace(selected=False))
                html = html.replace(plain, self.render_option(option), 1)
        return self._around(field, html, kwargs)

    def _around(self, field: SelectField, options: Markup, kwargs: dict[str, object]) -> Markup:
        """The options inside the field's own <select …> and </select>."""
        empty = super().__call__(_WithoutOptions(field), **kwargs)  # "<select …></select>"
        return empty[: -len("</select>")] + options + empty[-len("</select>") :]


class _WithoutOptions:
    """A field as Select reads it, with no options: the kept ones are put in after."""

    def __init__(self, field: SelectField) -> None:
        self._field = field

    def __getattr__(self, name: str) -> object:
        return getattr(self._field, name)

    def has_groups(self) -> bool:
        return False

    def _iter_choices_normalized(self) -> Iterator[Choice]:
        return iter(())


@lru_cache(maxsize=64)
def _kept_options(pairs: tuple[tuple[object, str | None], ...]) -> Markup:
    rendered = (Select.render_option(Choice(value, label, False, None)) for value, label in pairs)
    return Markup("").join(rendered)


class KeptChoices(tuple):
    """A select's choices as kept_choices builds them, once per list of (value, label)
    pairs: KeptOptionsSelect takes their options' markup as kept and marks the chosen one
    without walking the list (250 countries) on each render."""

    markup: Markup
    labels: dict[str, str]
    pairs: tuple[tuple[str, str], ...]  # what they were built from: a key of what shows them


@lru_cache(maxsize=64)
def kept_choices(pairs: tuple[tuple[str, str], ...]) -> KeptChoices:
    """The choices of a select for (value, label) pairs of plain strings (labels already in
    the page's language), built once and kept."""
    found = KeptChoices(SelectChoice(value, label) for value, label in pairs)
    found.markup = _kept_options(pairs)
    found.labels = dict(pairs)
    found.pairs = pairs
    return found


class LongSelectField(SelectField):
    """A SelectField of many options (countries, films): see KeptOptionsSelect."""

    widget = KeptOptionsSelect()


def choices(pairs: Iterable[tuple[object, object]]) -> list[SelectChoice]:
    """(value, label) pairs as the option objects WTForms 3.3+ expects."""
    return [SelectChoice(value, label) for value, label in pairs]


def checked_email(form: FlaskForm, field: Field) -> None:
    """Field validator: a real address (email-validator), kept in its normalised form."""
    try:
        result = validate_email(field.data, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(
            _l("Enter a valid e-mail address (%(reason)s).", reason=str(error))
        ) from None
    field.data = result.normalized
