"""Producer forms: login and the approval decisions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..forms import SafeForm, strip_text


class LoginForm(SafeForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(), Length(max=254)], filters=[strip_text]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class ApproveForm(SafeForm):
    pass


class RejectForm(SafeForm):
    reason = TextAreaField(
        _l("Reason (sent to the organizer)"),
        validators=[DataRequired(_l("Give the organizer a reason.")), Length(max=2000)],
        filters=[strip_text],
    )
