# Screenings: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app screenings

.PHONY: run test browser judges imap wrk lint lock coverage bench clean translations

# Installs take the pinned set in requirements/ (compiled from pyproject.toml's ranges by
# `make lock`), then the project itself without resolving again; `pip check` fails the install
# when pyproject.toml asks for something the lock lacks (run `make lock`). Reinstall only when
# pyproject.toml or the lock changes.
REQUIREMENTS := requirements
$(BIN)/activate:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml $(REQUIREMENTS)/run.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)/run.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(REQUIREMENTS)/dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(VENV)/.installed-run $@

# Recompile the lock files from pyproject.toml: each pin that still fits its range is kept;
# `make lock UPGRADE=1` moves every pin to the newest release in range.
PIP_COMPILE = $(BIN)/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
  $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed-dev
	$(PIP_COMPILE) -o $(REQUIREMENTS)/run.txt pyproject.toml
	$(PIP_COMPILE) --extra dev -o $(REQUIREMENTS)/dev.txt pyproject.toml

# The web server, the delivery worker, the periodic jobs and a mail catcher on 127.0.0.1:1025
# (caught e-mail at /dev/mail), stopped together by Ctrl-C. MAIL_PORT=… picks another port.
MAIL_PORT ?= 1025
run: $(VENV)/.installed-run
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) producer bootstrap
	$(FLASK) laptop --port $(PORT) --mail-port $(MAIL_PORT)

# What the real-browser tests need: Debian's chromium (apt, as root) and axe-core (npm ci,
# from package-lock.json). Where either can't be had, those tests skip and say why.
browser: node_modules/.installed
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "chromium not installed and not root: browser tests will be skipped"; fi; }

# npm stamps unpacked files with a 1985 date, so a stamp file records the install.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && touch $@ \
	    || echo "npm ci failed: the accessibility tests will be skipped"; \
	else echo "npm not installed: the accessibility tests will be skipped"; fi

# libical (the C library behind Evolution and many CalDAV servers) judges every calendar
# object in tests/test_calendar_judges.py; without it those tests skip and say why.
judges:
	@pkg-config --exists libical 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's libical-dev for the calendar tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc pkg-config libical-dev >/dev/null) \
	      || echo "libical could not be installed: its calendar tests will be skipped"; \
	  else echo "libical-dev not installed and not root: its calendar tests will be skipped"; fi; }

# Dovecot, the IMAP server `flask mail poll` is tested against (tests/test_mail_poll.py starts
# its own on a free loopback port with a throw-away configuration; nothing in /etc is used).
# Debian's package does not start a system service in a container (policy-rc.d); without
# it those tests skip and say why.
imap:
	@command -v /usr/sbin/dovecot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's dovecot-imapd for the mail poll tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null) \
	      || echo "dovecot could not be installed: the mail poll tests will be skipped"; \
	  else echo "dovecot-imapd not installed and not root: the mail poll tests will be skipped"; fi; }

# wrk, the HTTP load generator the benchmark drives (tests/test_bench_smoke.py runs it tiny);
# without it those tests skip and say why.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's wrk for the benchmark smoke tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
	      || echo "wrk could not be installed: the benchmark smoke tests will be skipped"; \
	  else echo "wrk not installed and not root: the benchmark smoke tests will be skipped"; fi; }

# On every core (pytest-xdist): each worker has its own database, SMTP server and browser.
# The 15 slowest tests are listed at the end (where the suite's time goes).
test: $(VENV)/.installed-dev browser judges imap wrk
	$(BIN)/pytest -n auto --durations=15

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite under coverage.py, branches included; fails under the floor that
# pyproject.toml's [tool.coverage.report] fail_under sets (README.md, "Gates"). Not part of
# `make test`: it costs time on every run.
coverage: $(VENV)/.installed-dev browser judges imap wrk
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

# For translators: re-extract every message into messages.pot and merge it into the French
# and Hebrew catalogues (new messages arrive untranslated; edit the .po files), then compile
# the .mo files the app loads. The compiled .mo files are committed beside their .po files;
# tests/test_i18n.py fails if they fall out of step.
TRANSLATIONS := screenings/translations
translations: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --add-location=file --sort-by-file \
	  --project=Screenings --copyright-holder=Screenings -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .coverage node_modules

# The benchmark (not part of `make test`): 100,000 screenings, 1,000,000 RSVPs, wrk against the
# app and a bare Flask route side by side; writes docs/benchmark.md. See bench/README.md.
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is needed: apt-get install -y wrk"; exit 1; fi; }
	$(BIN)/python -m bench.run --output docs/benchmark.md $(BENCH_ARGS)
