"""Property-based fuzzing of every route: no input, however hostile, produces a 5xx."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screenings import create_app
from screenings.services.producers import create_producer, log_in

from .factories import make_screening

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
    query = data.draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "q",
                    "page",
                    "film",
                    "country",
                    "city",
                    "next",
                    "status",
                    "sort",
                    "after",
                    "from",
                    "to",
                ]
            ),
            values,
            max_size=4,
        )
    )
    for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
        if method == "GET":
            response = client.get(url, query_string=query)
        else:
            page = client.get(url)
            names = set(NAME.findall(page.get_data(as_text=True))) or {"reason", "name", "email"}
            form = data.draw(
                st.dictionaries(st.sampled_from(sorted(names)), values, max_size=len(names))
            )
            response = client.open(url, method=method, data=form, query_string=query)
        assert response.status_code < 500, (method, url, response.status_code)
        response.close()
