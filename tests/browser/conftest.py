"""Real-browser fixtures: a live server, Debian's chromium through Playwright, axe-core.

The live server is the real app, served by werkzeug on loopback in a thread, against the
test database and the loopback SMTP server of tests/conftest.py. Where chromium, Playwright
or axe-core can't be had, the tests that need them skip with the reason (`make test`
installs chromium with apt and axe-core with npm where it can).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from screenings.services.producers import create_producer

from ..conftest import booking_data, submit

ROOT = Path(__file__).resolve().parents[2]


class ClosingResponses:
    """WSGI middleware: close each response as soon as its body is built.

    The outbox delivers from a response's close hook. gunicorn calls it as soon as the
    response is written; werkzeug's development server first drains the client socket,
    which a browser's next request on the same connection can hold up for seconds. Closing
    here makes the live server behave like production, a little earlier.
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return [body]


ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.2 AA, as issue 7 asks: every A and AA rule up to 2.2.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PRODUCER_EMAIL = "producer@example.org"
PRODUCER_PASSWORD = "correct horse battery staple"


# ---------------------------------------------------------------- live server
@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1; yields its base URL (no trailing slash).

    PUBLIC_BASE_URL is set to it, so the links in e-mails open in the browser.
    Each request gets its own app context (and database session) in the server's threads.
    """
    server = make_server("127.0.0.1", 0, ClosingResponses(app), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


# ---------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, driven by Playwright; one for the whole run."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium (`make test` does it with apt "
            "when run as root) to run the browser tests"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_locale() -> str:
    """The browser's language; override with @pytest.mark.parametrize("browser_locale", …)."""
    return "en-CA"


@pytest.fixture
def viewport() -> dict[str, int]:
    """The window size; override with @pytest.mark.parametrize("viewport", …)."""
    return {"width": 1280, "height": 900}


@pytest.fixture
def page(browser, browser_locale, viewport):
    """A fresh page in its own context (no cookies shared between tests)."""
    context = browser.new_context(
        locale=browser_locale,
        viewport=viewport,
        extra_http_headers={"Accept-Language": browser_locale},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Script errors and CSP refusals; not "Failed to load resource", which a 404 or a 422
    # form page (both expected) also logs.
    page.console_errors = []

    def on_console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep a full-page screenshot of a browser test that failed, under test-artifacts/."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = item.funcargs.get("page")
    if page is None or page.is_closed():
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-150:]
    path = ARTIFACTS / "failures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # a crashed page must not hide the test's own failure
        report.sections.append(("screenshot", f"could not save a screenshot: {error}"))
    else:
        report.sections.append(("screenshot", f"saved {path.relative_to(ROOT)} ({page.url})"))


# ---------------------------------------------------------------- axe-core
@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        hint = "`npm ci` at the repository top" if shutil.which("npm") else "npm is not installed"
        pytest.skip(f"axe-core not found at {AXE_SCRIPT.relative_to(ROOT)}: {hint}")
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source) -> Callable:
    """axe(page) → the serious and critical WCAG 2.2 AA violations on the page as it is now.

    page.add_script_tag() would insert an inline <script>, which the app's CSP
    (script-src 'self') rightly blocks; and a context with bypass_csp=True would test a
    weaker page than people get. page.evaluate() runs through the DevTools protocol, which
    CSP does not govern, so axe runs with the real policy in force.
    """

    def run(page, *, include_minor: bool = False) -> list[dict]:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source)
        results = page.evaluate(
            """tags => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']})""",
            AXE_TAGS,
        )
        impacts = {"serious", "critical"} | ({"moderate", "minor"} if include_minor else set())
        return [v for v in results["violations"] if v["impact"] in impacts]

    return run


def describe_violations(violations: list[dict]) -> str:
    """A readable list of axe violations for an assertion message."""
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


# ---------------------------------------------------------------- the site's pages
@pytest.fixture
def producer(app):
    """A producer account to log in with."""
    return create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)


def log_in(page, base_url: str) -> None:
    """Log in as the producer through the login form."""
    page.goto(f"{base_url}/producer/login")
    # By id, not by label: the same steps work in every language.
    page.locator("#email").fill(PRODUCER_EMAIL)
    page.locator("#password").fill(PRODUCER_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/producer/?$"))


@dataclass
class Booked:
    """A screening booked through the form, with its private manage path and licence."""

    manage_path: str
    licence_number: str


@pytest.fixture
def booked(app, client, live_server) -> Booked:
    """One approved booking, made through the booking form (test client, same database)."""
    response = submit(client, "/book", booking_data(), follow_redirects=True)
    assert response.status_code == 200
    number = re.search(r"TKR-[0-9A-Z]{4}-[0-9A-Z]{4}", response.get_data(as_text=True))
    assert number, "the booking was not approved at once"
    return Booked(manage_path=response.request.path, licence_number=number.group(0))


# Every page reachable now, by name, with how to bring a fresh page to it.
SITE_PAGES = [
    "home",
    "upcoming",
    "film page",
    "booking form",
    "booking form with errors",
    "manage",
    "edit",
    "licence verification",
    "world map",
    "upcoming near a town",
    "near-me alerts form",
    "producer login",
    "producer dashboard",
    "not found",
]


# The pages that show nothing of a booking, and the one that needs the producer's account:
# open_site_page books (a form submission, its licence mail and PDF) only for the others.
PAGES_WITHOUT_A_BOOKING = {
    "booking form",
    "booking form with errors",
    "near-me alerts form",
    "producer login",
    "not found",
}
PAGES_OF_THE_PRODUCER = {"producer dashboard"}


@pytest.fixture
def open_site_page(request, live_server) -> Callable:
    """open_site_page(page, name): bring the page to one of SITE_PAGES, ready to inspect,
    with a booked screening listed on it (and the producer's account) where it shows one."""

    paths = {
        "home": "/",
        "upcoming": "/screenings",
        "film page": "/films/the-killing-roads",
        "booking form": "/book",
        "world map": "/map",
        "upcoming near a town": "/screenings?near=6167865&km=100",  # Toronto (GeoNames)
        "near-me alerts form": "/near-me",
        "producer login": "/producer/login",
    }

    def go(page, name: str) -> None:
        if name not in PAGES_WITHOUT_A_BOOKING:
            booked = request.getfixturevalue("booked")
            paths["manage"] = booked.manage_path
            paths["edit"] = booked.manage_path + "/edit"
            paths["licence verification"] = f"/licences/{booked.licence_number}"
        if name in PAGES_OF_THE_PRODUCER:
            request.getfixturevalue("producer")
        if name in paths:
            response = page.goto(live_server + paths[name])
            assert response.status == 200, f"{name}: HTTP {response.status}"
        elif name == "booking form with errors":
            page.goto(live_server + "/book")
            page.locator("#contact_email").fill("")
            page.locator("#organization_name").fill("")
            with page.expect_response(lambda r: r.request.method == "POST") as posted:
                page.locator("form.booking-form button[type=submit]").click()
            assert posted.value.status == 422
            page.locator("#error-summary").wait_for()
        elif name == "producer dashboard":
            log_in(page, live_server)
        elif name == "not found":
            response = page.goto(live_server + "/no-such-page")
            assert response.status == 404
        else:
            raise ValueError(name)
        page.wait_for_load_state("load")

    return go
