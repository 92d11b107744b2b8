"""Entry point for gunicorn: ``gunicorn wsgi:app``."""

import gc

from screenings import create_app

app = create_app()
# The app's own objects (modules, models, babel's data, the map's shapes) live as long as the
# process: frozen, the collector's full passes skip them and scan only what requests and
# feed builds made since. A feed rebuild's allocations set off such passes, which stop every
# thread of the worker, the request it is answering included (README, "A rebuild does not
# stall the worker's requests"; tests/test_wsgi.py holds the freeze).
gc.freeze()
