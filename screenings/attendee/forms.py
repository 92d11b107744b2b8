"""The attendee's own forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField

from ..forms import SafeForm
from ..public.forms import party_size_validators


class SeatsForm(SafeForm):
    """Change the number of seats of a reply."""

    party_size = IntegerField(_l("Seats (you included)"))

    def __init__(self, *args: object, max_party_size: int = 10, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.party_size.validators = party_size_validators(max_party_size)
