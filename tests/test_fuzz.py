"""Property-based fuzzing of every route: no input, however hostile, produces a 5xx."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screenings import create_app
from screenings.services.producers import create_producer, log_in

from .conftest import booking_data, hidden_fields, submit
from .factories import make_screening
from .producer_helpers import producer  # noqa: F401  (fixture)

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\nBcc: victim@example.org",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "../../etc/passwd",
    "%00",
    "%ff%fe",
    "🎬",
    "\u202e",
    "x" * 10_000,
    "9" * 40,
    "-1",
    "0",
    "1e309",
    "NaN",
    "2026-02-30",
    "25:61",
    "https://evil.example/",
    "//evil.example",
    "javascript:alert(1)",
    "BEGIN:VEVENT\r\nEND:VEVENT",
    '=HYPERLINK("http://x")',
]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=200), st.integers().map(str))
path_values = st.one_of(
    st.sampled_from(["1", "0", "999999999", "TKR-2026-00001", "x" * 300, "%00", "..", "-1"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
)
# Every query parameter a view reads (filters, exports, paging, feeds, the language switcher).
QUERY_NAMES = [
    "q",
    "page",
    "per_page",
    "film",
    "country",
    "city",
    "next",
    "status",
    "sort",
    "desc",
    "date_from",
    "date_to",
    "view",
    "language",
    "after",
    "before",
    "from",
    "to",
    # The booking form's live hint (/book/warnings).
    "date",
    "time",
    "timezone",
    "region",
    "duration",
]
NAME = re.compile(r'name="([A-Za-z_][A-Za-z0-9_]*)"')

# The URL map, read from an app made only to list it.
_RULES = sorted(
    (
        rule
        for rule in create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).url_map.iter_rules()
        # /readyz answers 503 by design here: the test schema is not made by migrations.
        if rule.endpoint not in ("static", "ops.readyz")
    ),
    key=lambda rule: rule.rule,
)


def _url(rule, draw) -> str:
    from urllib.parse import quote

    url = rule.rule
    for argument in rule.arguments:
        converter = rule._converters[argument].__class__.__name__
        value = str(draw(st.integers(-5, 10**12))) if "Integer" in converter else draw(path_values)
        url = re.sub(rf"<(?:[^:>]+:)?{argument}>", quote(value, safe=""), url)
    return url


@pytest.fixture
def fuzz_client(app, db):
    app.config["WTF_CSRF_ENABLED"] = False  # reach the validation behind the CSRF check
    make_screening()
    create_producer("fuzz@example.org", "a-long-password-123")
    session = log_in("fuzz@example.org", "a-long-password-123", address="", user_agent="")
    return app.test_client(), session.session_token


@pytest.mark.parametrize("rule", _RULES, ids=lambda rule: f"{rule.rule}")
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_produces_a_server_error(fuzz_client, rule, data):
    client, nonce = fuzz_client
    as_producer = data.draw(st.booleans())
    with client.session_transaction() as session:
        if as_producer:
            session["_user_id"] = nonce
            session["_fresh"] = True
        else:
            session.clear()
    url = _url(rule, data.draw)
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=5))
    for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
        if method == "GET":
            response = client.get(url, query_string=query)
        else:
            page = client.get(url)
            names = set(NAME.findall(page.get_data(as_text=True))) or {"reason", "name", "email"}
            form = data.draw(
                st.dictionaries(st.sampled_from(sorted(names)), values, max_size=len(names))
            )
            body = data.draw(st.sampled_from(["form", "multipart", "json"]))
            if body == "json":
                response = client.open(url, method=method, json=form, query_string=query)
            else:
                files = body == "multipart" and form
                as_files = data.draw(st.sets(st.sampled_from(sorted(form)))) if files else set()
                parts = {
                    name: (io.BytesIO(value.encode("utf-8", "surrogatepass")), "f.txt")
                    if name in as_files
                    else value
                    for name, value in form.items()
                }
                response = client.open(
                    url,
                    method=method,
                    data=parts,
                    query_string=query,
                    content_type="multipart/form-data" if body == "multipart" else None,
                )
        # Read the whole body: a streamed export that fails half-way fails here.
        response.get_data()
        assert response.status_code < 500, (method, url, response.status_code)
        response.close()


# ---------------------------------------------------------------- the cases found by hand
def _file(text: str = "x"):
    return (io.BytesIO(text.encode()), "part.txt", "text/plain")


def _text_fields(html: str) -> list[str]:
    """The names of a page's typed inputs (text, e-mail, password, number, date, textarea)."""
    tags = re.findall(r"<(?:input|textarea)\b[^>]*>", html)
    return sorted(
        {
            name
            for tag in tags
            if 'type="hidden"' not in tag and 'type="checkbox"' not in tag
            for name in NAME.findall(tag)
        }
    )


@pytest.mark.parametrize("path", ["/book", "/screenings/1", "/producer/login"])
def test_a_file_in_any_text_field_is_refused_beside_the_field(client, db, path):
    make_screening()
    page = client.get(path).get_data(as_text=True)
    fields = _text_fields(page)
    assert len(fields) >= 2, fields
    for name in fields:
        data = {**booking_data(), "name": "Ann", "email": "ann@example.org", name: _file()}
        response = submit(client, path, data, content_type="multipart/form-data")
        assert 400 <= response.status_code < 500, (name, response.status_code)


def test_a_json_body_never_reaches_a_text_field(client, db):
    make_screening()
    csrf = hidden_fields(client.get("/screenings/1").get_data(as_text=True))["csrf_token"]
    response = client.post(
        "/screenings/1",
        json={"name": 12, "email": ["a@example.org"], "party_size": {}},
        headers={"X-CSRFToken": csrf},  # past the CSRF check: the form itself must refuse it
    )
    assert response.status_code == 422


def test_the_dashboard_takes_the_calendars_last_and_first_days(client, db, producer):  # noqa: F811
    make_screening()
    for query in ({"date_to": "9999-12-31"}, {"date_from": "0001-01-01", "date_to": "9999-12-31"}):
        response = client.get("/producer/", query_string=query)
        assert response.status_code == 200, query
        assert "Beth Tzedec" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"film": "99999999999999999999"}, "Choose a film from the list."),
        ({"film": "-3"}, "Choose a film from the list."),
        ({"country": "\x00"}, "Choose a country from the list."),
        ({"country": "C\x00"}, "Choose a country from the list."),
        ({"q": "a\x00b"}, "invisible control characters"),
        ({"date_from": "2026-02-30"}, "Not a valid date value."),
        ({"page": "0"}, "Page"),
    ],
)
def test_an_export_refuses_bad_parameters_before_it_starts(client, db, producer, query, message):  # noqa: F811
    make_screening()
    response = client.get("/producer/screenings.csv", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)


def test_an_export_with_far_dates_is_whole(client, db, producer):  # noqa: F811
    make_screening()
    far = {"date_from": "0001-01-01", "date_to": "9999-12-31"}
    response = client.get("/producer/screenings.csv", query_string=far)
    assert response.status_code == 200
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 2
    assert "Beth Tzedec" in lines[1]
