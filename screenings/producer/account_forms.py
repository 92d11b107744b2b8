"""Forms of the producer accounts: unlock, reset, change password, sessions, the team."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..forms import SafeForm, checked_email, choices, strip_text
from ..models import ProducerRole
from ..services.producers import role_label


def role_choices() -> list[SelectChoice]:
    return choices((role.value, role_label(role)) for role in ProducerRole)


class ResetRequestForm(SafeForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(), Length(max=254)], filters=[strip_text]
    )


class NewPasswordForm(SafeForm):
    password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[DataRequired(), Length(max=1000)],
    )
    confirm = PasswordField(
        _l("The new password again"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=1000)]
    )


class SecondFactorForm(SafeForm):
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[DataRequired(), Length(max=40)],
        filters=[strip_text],
    )


class EnableTwoFactorForm(SafeForm):
    code = StringField(
        _l("The 6-digit code your app shows"),
        validators=[DataRequired(), Length(max=40)],
        filters=[strip_text],
    )


class DisableTwoFactorForm(SafeForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=1000)]
    )


class InviteForm(SafeForm):
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(), Length(max=254), checked_email],
        filters=[strip_text],
    )
    role = SelectField(_l("Role"), validators=[DataRequired()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class RoleForm(SafeForm):
    role = SelectField(_l("Role"), validators=[DataRequired()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
