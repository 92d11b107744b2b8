"""The organizer's form for a new helper link."""

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..forms import SafeForm


class HelperForm(SafeForm):
    label = StringField(
        _l("Helper's name or door"),
        validators=[DataRequired(_l("Give the helper a name, e.g. “Front door”.")), Length(max=80)],
    )
