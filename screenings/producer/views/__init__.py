"""The producer's pages, one module per section (as Indico splits controllers/management/):
the upcoming screenings, approvals, one screening, distribution, reach, films, the outbox,
settings and privacy; what they share is in base.py.

Every route registers on the producer blueprint when its module is imported here, so the
endpoints keep their names (``producer.<function>``) whichever module holds them.
"""

from . import (  # noqa: F401  (routes register on import)
    approvals,
    base,
    dashboard,
    distribution,
    films,
    outbox,
    privacy,
    reach,
    screening,
    settings,
)
