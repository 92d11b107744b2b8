"""What every form shares: refusing control characters and line breaks in typed text."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, StringField, TextAreaField
from wtforms.validators import ValidationError

# C0 controls (NUL included), DEL and C1 controls; tab, CR and LF are judged separately.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class SafeForm(FlaskForm):
    """A FlaskForm whose text fields refuse invisible control characters.

    Single-line fields also refuse line breaks, so a typed value can never start a new
    e-mail header or iCalendar property downstream.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            """The posted form's typed fields only: Flask-WTF would also hand text fields a
            file part of a multipart body, or a JSON body's numbers and lists."""
            wrapped = super().wrap_formdata(form, formdata)
            if wrapped is not None and wrapped is not formdata and wrapped is not request.form:
                return request.form or None
            return wrapped

    def submit_data_in(self, request) -> bool:
        """Whether this (prefixed) form is the one posted, when a page holds several."""
        return request.method == "POST" and any(
            key.startswith(self._prefix) for key in request.form
        )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        files = request.files if has_request_context() else {}
        for field in self:
            if field.name in files:
                field.errors.append(_l("Type this in: a file cannot be sent here."))
                valid = False
            if not isinstance(field, StringField) or not isinstance(field.data, str):
                continue
            value = field.data
            if _CONTROL.search(value) or _SURROGATE.search(value):
                field.errors.append(_l("This contains invisible control characters. Remove them."))
                valid = False
            elif not isinstance(field, TextAreaField) and ("\n" in value or "\r" in value):
                field.errors.append(_l("This must be on one line."))
                valid = False
        return valid


class PublicForm(SafeForm):
    """A form anyone may post: it carries a honeypot field that people never see or fill."""

    # Hidden from people by CSS and from assistive technology by aria-hidden; bots that
    # fill every input fill this one too.
    homepage = StringField(_l("Leave this field empty"))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        honeypot = getattr(self, "homepage", None)  # a subclass may drop it (private pages)
        if honeypot is not None and honeypot.data:
            self.form_errors.append(
                _l("This submission looks automated. If you are a person, please try again.")
            )
            return False
        return valid


def strip_text(value):
    """Field filter: surrounding whitespace is never meaningful."""
    return value.strip() if isinstance(value, str) else value


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the option objects WTForms 3.3+ expects."""
    return [SelectChoice(value, label) for value, label in pairs]


def checked_email(form, field) -> None:
    """Field validator: a real address (email-validator), kept in its normalised form."""
    try:
        result = validate_email(field.data, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(
            _l("Enter a valid e-mail address (%(reason)s).", reason=str(error))
        ) from None
    field.data = result.normalized
