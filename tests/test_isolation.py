"""The per-test reset of tests/conftest.py: what a test wrote is gone before the next one."""

from __future__ import annotations

from sqlalchemy import func, select, text

from screenings.models import ChangeCounter, Film, Screening
from screenings.services.films import CATALOGUE

from .factories import make_screening


def test_what_a_test_wrote_is_emptied_and_a_changed_catalogue_seeded_again(db, table_reset):
    first = make_screening()
    assert first.id == 1
    film = db.session.get(Film, 1)
    film.title = "Changed by a test"
    db.session.commit()
    db.session.remove()

    table_reset.reset()

    assert db.session.scalar(select(func.count()).select_from(Screening)) == 0
    assert db.session.get(Film, 1).title == CATALOGUE[0].columns["title"]
    assert make_screening().id == 1  # ids from 1 again


def test_rows_written_past_the_noted_engines_are_emptied_too(db, table_reset):
    """A writer the statement listener can't see (a subprocess): the row counts catch it."""
    make_screening()
    db.session.remove()
    table_reset.written.clear()  # as if another process had written the rows

    table_reset.reset()

    assert db.session.scalar(select(func.count()).select_from(Screening)) == 0
    assert db.session.execute(text("SELECT count(*) FROM films")).scalar() == len(CATALOGUE)


def test_raised_cache_counters_are_made_again_from_new_numbers(db, table_reset):
    """The seed's counters are made again (not the catalogue seeded again), each from a
    number no cached answer of the last test was kept under."""

    def counters() -> dict[str, int]:
        return dict(db.session.execute(select(ChangeCounter.name, ChangeCounter.value)).all())

    seen = [counters()]
    assert seen[0]  # seeding the catalogue made them
    for _ in range(2):  # twice: the second reset starts from what the first left
        make_screening()
        seen.append(counters())
        db.session.remove()

        table_reset.reset()

        seen.append(counters())
        assert seen[-1].keys() == seen[0].keys()
        assert db.session.scalar(select(func.count()).select_from(Screening)) == 0
    for name in seen[0]:
        values = [numbers[name] for numbers in seen]
        assert len(set(values)) == len(values), values  # no number met twice
