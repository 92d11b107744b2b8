"""The rules of Screenings. Views call these; each public function owns its transaction."""


def escape_like(text: str) -> str:
    """Text for a LIKE pattern (with ``escape="\\"``): its %, _ and backslashes match as typed."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DomainError(Exception):
    """A rule said no. ``message`` is shown to the user, beside ``field`` when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BookingError(DomainError):
    pass


class NotAllowed(DomainError):
    """The action does not apply to the object in its current state."""
