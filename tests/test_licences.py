"""Licence numbers that reveal nothing, and the public verification page."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from sqlalchemy import event, select, update

from screenings.extensions import db as _db
from screenings.models import Licence
from screenings.services import licences as licence_service
from screenings.services.licences import CROCKFORD, check_symbol, normalize_number

from .factories import make_screening

NUMBER = re.compile(r"^TKR-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def _body(number: str) -> str:
    return number.split("-", 1)[1].replace("-", "")


def test_numbers_are_random_readable_and_carry_a_check_symbol(app, db):
    numbers = [
        make_screening(contact_email=f"o{i}@example.org").current_licence.number for i in range(5)
    ]
    for number in numbers:
        assert NUMBER.match(number), number
        body = _body(number)
        assert check_symbol(body[:7]) == body[7]
    assert len(set(numbers)) == 5
    # Nothing of the screening's id or the year is in the number.
    assert not any("2026" in n or "0000" in n for n in numbers)


def test_every_single_typo_and_swap_of_neighbours_is_caught(app):
    number = licence_service.new_licence_number("TKR")
    body = _body(number)
    wrong = []
    for index in range(8):
        for symbol in CROCKFORD:
            if symbol != body[index]:
                wrong.append(body[:index] + symbol + body[index + 1 :])
    for index in range(7):
        if body[index] != body[index + 1]:
            wrong.append(body[:index] + body[index + 1] + body[index] + body[index + 2 :])
    assert len(wrong) > 240
    assert [w for w in wrong if normalize_number("TKR-" + w)] == []


def test_the_page_reads_a_number_as_people_type_it(app, client, db):
    number = make_screening().current_licence.number
    body = _body(number)
    # Lower case, spaces for hyphens, O for 0 and I/L for 1 where the number has them.
    typed = ("tkr " + body[:4] + " " + body[4:]).lower().replace("0", "o").replace("1", "l")
    assert normalize_number(typed) == number
    page = client.get(f"/licences/{typed}")
    assert page.status_code == 200
    assert number in page.get_data(as_text=True)
    assert client.get(f"/licences/TKR{body}").status_code == 200


def test_a_number_issued_before_keeps_verifying(app, client, db):
    screening = make_screening()
    db.session.execute(update(Licence).values(number="TKR-2026-00042"))
    db.session.commit()
    page = client.get("/licences/TKR-2026-00042")
    assert page.status_code == 200
    assert "Valid" in page.get_data(as_text=True)
    assert screening.id


def test_a_collision_draws_again(app, db, monkeypatch):
    taken = make_screening().current_licence.number
    draws = iter([taken, taken, "TKR-ZZZZ-ZZZ" + check_symbol("ZZZZZZZ")])
    monkeypatch.setattr(licence_service, "new_licence_number", lambda code: next(draws))
    other = make_screening(contact_email="second@example.org")
    assert other.current_licence.number == "TKR-ZZZZ-ZZZ" + check_symbol("ZZZZZZZ")


def test_a_private_screenings_licence_page_shows_no_place(app, client, db):
    screening = make_screening(is_public=False, rsvps_enabled=False)
    page = client.get(f"/licences/{screening.current_licence.number}").get_data(as_text=True)
    assert "Valid" in page
    assert "Licence terms" in page
    for secret in (
        "Beth Tzedec",
        "Main Sanctuary Hall",
        "Bathurst",
        "Toronto",
        "Ontario",
        "M5P",
        "Canada",
        "Miriam",
        "miriam@example.org",
    ):
        assert secret not in page, secret
    public = make_screening(contact_email="public@example.org")
    page = client.get(f"/licences/{public.current_licence.number}").get_data(as_text=True)
    assert "Main Sanctuary Hall" in page
    assert "Toronto" in page
    assert "Bathurst" not in page  # the street is never on the verification page


def _neighbours(number: str, count: int) -> list[str]:
    """Numbers one symbol away from a real one (check symbol recomputed, so they pass it)."""
    body = _body(number)
    found = []
    for index in range(7):
        for symbol in CROCKFORD:
            candidate = body[:index] + symbol + body[index + 1 : 7]
            check = check_symbol(candidate)
            if candidate != body[:7] and check is not None:
                found.append(f"TKR-{candidate[:4]}-{candidate[4:]}{check}")
    return found[:count]


def _median_ms(client, urls: list[str], rounds: int) -> float:
    """The median CPU time this thread spent on each request (the test client serves it in
    this thread): unlike the wall clock, not stretched by whatever else the machine runs."""
    times = []
    for _ in range(rounds):
        for url in urls:
            start = time.thread_time()
            client.get(url)
            times.append((time.thread_time() - start) * 1000)
    return statistics.median(times)


def test_neighbouring_numbers_are_404s_that_take_as_long_as_a_hit(app, client, db):
    real = make_screening().current_licence.number
    neighbours = _neighbours(real, 50)
    assert len(neighbours) == 50
    assert {client.get(f"/licences/{n}").status_code for n in neighbours} == {404}
    # A wrong check symbol is a 404 too, by the same route.
    body = _body(real)
    wrong_check = f"TKR-{body[:4]}-{body[4:7]}{CROCKFORD[(CROCKFORD.index(body[7]) + 1) % 32]}"
    assert client.get(f"/licences/{wrong_check}").status_code == 404
    # Interleave hits and misses so drift in machine load hits both alike.
    _median_ms(client, [f"/licences/{real}", f"/licences/{neighbours[0]}"], 5)  # warm up
    hits, misses = [], []
    for _ in range(8):
        hits.append(_median_ms(client, [f"/licences/{real}"], 10))
        misses.append(_median_ms(client, [f"/licences/{n}" for n in neighbours[:10]], 1))
    hit, miss = statistics.median(hits), statistics.median(misses)
    print(f"median hit {hit:.2f} ms, miss {miss:.2f} ms")
    # CPU time, as a hit's 0.8 or so here; a miss that skipped the lookup and the QR code
    # answered in well under half the time of a hit (the next test holds the QR code itself).
    assert miss > hit * 0.6, (hit, miss)


def _licence_lookups(client, url: str) -> int:
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sum("FROM licences" in s and "licences.number = " in s for s in statements)


def test_a_rejected_check_symbol_takes_the_lookup_route_of_a_real_number(app, client, db):
    real = make_screening().current_licence.number
    body = _body(real)
    wrong_check = f"TKR-{body[:4]}-{body[4:7]}{CROCKFORD[(CROCKFORD.index(body[7]) + 1) % 32]}"
    assert normalize_number(wrong_check) is None
    assert _licence_lookups(client, f"/licences/{real}") == 1
    assert _licence_lookups(client, f"/licences/{_neighbours(real, 1)[0]}") == 1
    assert _licence_lookups(client, f"/licences/{wrong_check}") == 1
    assert _licence_lookups(client, "/licences/garbage%20and%20more") == 1


def test_a_miss_draws_a_qr_code_as_a_hit_does(app, client, db, monkeypatch):
    """The QR code is most of a hit's work: a miss that skipped it would answer faster."""
    from screenings import licence_pdf

    drawn = []
    real_qr_svg = licence_pdf.qr_svg
    monkeypatch.setattr(licence_pdf, "qr_svg", lambda url: drawn.append(url) or real_qr_svg(url))
    real = make_screening().current_licence.number
    for number in (real, _neighbours(real, 1)[0], "garbage"):
        drawn.clear()
        client.get(f"/licences/{number}")
        assert len(drawn) == 1, number


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LICENCES="5 per minute")
def test_verification_is_rate_limited_per_client(app, db):
    real = make_screening().current_licence.number
    first = app.test_client()
    first.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    statuses = [first.get(f"/licences/{real}").status_code for _ in range(4)]
    statuses += [first.get("/licences/TKR-0000-0000").status_code for _ in range(3)]
    assert statuses == [200, 200, 200, 200, 404, 429, 429]
    second = app.test_client()
    second.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert second.get(f"/licences/{real}").status_code == 200


def test_revoked_and_cancelled_say_so(app, client, db):
    screening = make_screening()
    licence = screening.current_licence
    licence.revoked_at = licence.issued_at
    db.session.commit()
    page = client.get(f"/licences/{licence.number}").get_data(as_text=True)
    assert "Revoked" in page
    assert db.session.scalar(select(Licence.revoked_at)) is not None


@pytest.mark.parametrize(
    "typed",
    ["not a number", "TKR-UUUU-UUUU", "%00", "x" * 500, "TKR--", "-" * 20, "TKR-2020-99999"],
)
def test_garbage_is_a_plain_404(app, client, db, typed):
    make_screening()
    assert client.get(f"/licences/{typed}").status_code == 404


def test_the_verification_form_takes_a_number_as_typed(app, client, db):
    number = make_screening().current_licence.number
    form = client.get("/licences").get_data(as_text=True)
    assert '<label for="number">Licence number</label>' in form
    typed = " " + number.lower().replace("-", " ") + " "
    answer = client.get("/licences", query_string={"number": typed}, follow_redirects=True)
    assert answer.status_code == 200
    assert number in answer.get_data(as_text=True)
    empty = client.get("/licences", query_string={"number": ""})
    assert empty.status_code == 422
    assert "Enter the licence number." in empty.get_data(as_text=True)
    assert client.get("/licences", query_string={"number": "x" * 65}).status_code == 422
    wrong = client.get("/licences", query_string={"number": "TKR-0000-0001"}, follow_redirects=True)
    assert wrong.status_code == 404
