"""What the data is. One module per area; everything is importable from here."""

from .accounts import *  # noqa: F403
from .changes import *  # noqa: F403
from .core import *  # noqa: F403
from .core import normalize_email, utcnow  # noqa: F401
from .counts import *  # noqa: F403
from .distribution import *  # noqa: F403
from .mail import *  # noqa: F403
from .nearby import *  # noqa: F403
from .reports import *  # noqa: F403
from .rsvps import *  # noqa: F403
