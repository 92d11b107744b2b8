"""Demo data in bulk: films, screenings around the world, licences, RSVPs, waiting lists, reports.

For trying the product and for the benchmark (``flask --app screenings demo-data``). Rows are
written with core ``INSERT … executemany`` in batches, not through the ORM or the services, so
100,000 screenings and a million RSVPs load in a minute or two on SQLite. The data keeps the
product's invariants: every approved screening has a licence, ``seats_taken`` is the sum of the
confirmed parties and never exceeds capacity, and a waiting party is one that did not fit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text

from .caching import raise_counters
from .extensions import Model, db
from .models import (
    Film,
    Licence,
    LicenceTerms,
    OrganizationType,
    Rsvp,
    RsvpStatus,
    Screening,
    ScreeningReport,
    ScreeningStatus,
    utcnow,
)
from .places import (
    NonexistentLocalTime,
    city_point,
    country_name,
    country_zones,
    start_words,
    venue_time_to_utc,
)
from .security import link_key
from .services import visibility
from .services.films import seed_catalogue
from .services.licences import new_licence_number, organization_type_label

BATCH = 5_000

DEMO_FILMS = [
    ("DMOA", "demo-after-the-harvest", "After the Harvest", 2023, 96),
    ("DMOB", "demo-borderlands", "Borderlands", 2022, 104),
    ("DMOC", "demo-the-quiet-coast", "The Quiet Coast", 2024, 88),
    ("DMOD", "demo-salt-and-stone", "Salt and Stone", 2021, 121),
]
ORGANIZATION_WORDS = (
    "Riverside",
    "Northgate",
    "St. Mary's",
    "Hillcrest",
    "Lakeview",
    "Old Town",
    "Maple",
    "Harbour",
    "Green Valley",
    "Westfield",
)
ORGANIZATION_KINDS = {
    OrganizationType.SCHOOL: "High School",
    OrganizationType.UNIVERSITY: "University Film Society",
    OrganizationType.FAITH_COMMUNITY: "Congregation",
    OrganizationType.COMMUNITY_GROUP: "Community Association",
    OrganizationType.CINEMA: "Cinema",
    OrganizationType.OTHER: "Library",
}
VENUES = ("Main Hall", "Auditorium", "Screen 1", "Community Room", "Lecture Theatre", "Chapel")
STREETS = ("High Street", "Station Road", "Church Lane", "Park Avenue", "Market Square")
CAPACITIES = (20, 30, 40, 60, 80, 100, 120, 150, 200, 300)
START_TIMES = (time(14, 0), time(18, 30), time(19, 0), time(19, 30), time(20, 0))
PARTY_SIZES = (1, 1, 1, 2, 2, 2, 3, 4, 5, 6)
FIRST_NAMES = ("Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jo")
LAST_NAMES = ("Levi", "Smith", "Okafor", "Martin", "Novak", "Garcia", "Kim", "Cohen", "Rossi")


@dataclass
class DemoOutcome:
    films: int
    screenings: int
    licences: int
    rsvps: int
    reports: int


def _status(rng: random.Random, is_past: bool) -> str:
    roll = rng.random()
    if roll < 0.82:
        return ScreeningStatus.APPROVED
    if roll < 0.88:
        return ScreeningStatus.CANCELLED
    if roll < 0.93:
        return ScreeningStatus.REJECTED
    # A past screening nobody decided on stays pending; it is rare.
    return ScreeningStatus.REJECTED if is_past and rng.random() < 0.8 else ScreeningStatus.PENDING


def _films() -> list[Film]:
    """The real catalogue plus a few demo films, each with a terms version."""
    seed_catalogue()
    existing = set(db.session.scalars(select(Film.code)))
    now = utcnow()
    for code, slug, title, year, runtime in DEMO_FILMS:
        if code in existing:
            continue
        film = Film(
            code=code,
            slug=slug,
            title=title,
            year=year,
            director="Demo Director",
            production_company="Demo Productions",
            synopsis=f"{title}: a documentary made up for the demo data.",
            runtime_minutes=runtime,
            content_advisory="",
            requires_approval=code == "DMOB",
            created_at=now,
        )
        db.session.add(film)
        db.session.flush()
        db.session.add(LicenceTerms(film=film, version=1, text=f"Demo terms for {title}."))
    db.session.commit()
    return list(db.session.scalars(select(Film).where(Film.is_active.is_(True)).order_by(Film.id)))


def _places(rng: random.Random) -> list[tuple[str, str, str]]:
    """(country, zone, city) for every zone of every country, cities named after the zone."""
    places = []
    for country, zones in sorted(country_zones().items()):
        for zone in zones:
            city = zone.rsplit("/", 1)[-1].replace("_", " ")
            places.append((country, zone, city))
    rng.shuffle(places)
    return places


def _sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy stores it in SQLite."""
    return None if value is None else value.isoformat(" ", "microseconds")


POINT_COLUMNS = ("public_latitude", "public_longitude")
NO_POINT = (None, None)


def _table(model: type[Model]) -> Table:
    """A model's Table, from the metadata: ``__table__`` is typed as a FromClause (no .name)."""
    return model.metadata.tables[model.__tablename__]


def _insert(table: Table, rows: list[dict]) -> None:
    """One executemany of core INSERTs; on SQLite with plain tuples (a third of the time)."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(insert(table), rows)
        return
    keys = list(rows[0])
    dates = [key for key in keys if table.c[key].type.python_type is datetime]
    for row in rows:
        for key in dates:
            row[key] = _sqlite_datetime(row[key])
    # Table and column names come from our own metadata, never from input.
    statement = (
        f"INSERT INTO {table.name} ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})"  # noqa: S608 # nosec B608
    )
    connection.exec_driver_sql(statement, [tuple(row.values()) for row in rows])


def _token_hasher(purpose: str) -> Callable[[str], str]:
    """hash_token(derived_token(purpose, key)) with the HMAC key prepared once (a million calls)."""
    secret = link_key()
    prefix = f"{purpose}:".encode()

    def token_hash(key: str) -> str:
        digest = hmac.digest(secret, prefix + key.encode(), "sha256")
        token = base64.urlsafe_b64encode(digest).rstrip(b"=")
        return hashlib.sha256(token).hexdigest()

    return token_hash


def generate(
    screenings: int,
    rsvps: int,
    *,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> DemoOutcome:
    """Add ``screenings`` screenings and about ``rsvps`` RSVPs (fewer if seats run out)."""
    rng = random.Random(seed)  # noqa: S311 seeded on purpose: the same demo data each run
    step = progress or (lambda _n: None)
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        # A loader's settings for this connection only: the data is rebuilt if a crash loses it.
        db.session.execute(text("PRAGMA synchronous = OFF"))
    films = _films()
    # Licence numbers are random: the seeded draws skip those already held (an earlier run).
    numbers = set(db.session.scalars(select(Licence.number)))
    terms = {  # the newest terms of each film (every catalogue film is seeded with some)
        film.id: db.session.execute(
            select(LicenceTerms.id)
            .where(LicenceTerms.film_id == film.id)
            .order_by(LicenceTerms.version.desc())
            .limit(1)
        ).scalar_one()
        for film in films
    }
    places = _places(rng)
    now = utcnow()
    first_id = (db.session.scalar(select(func.max(Screening.id))) or 0) + 1
    first_rsvp = (db.session.scalar(select(func.max(Rsvp.id))) or 0) + 1

    # -- screenings, licences, reports -----------------------------------------------------
    screening_rows: list[dict] = []
    licence_rows: list[dict] = []
    report_rows: list[dict] = []
    # (id, capacity, max_party_size, created_at, rsvp_until) of screenings that take RSVPs
    open_for_rsvps: list[tuple[int, int, int, datetime, datetime]] = []
    counts = {"licences": 0, "reports": 0}
    zone_cache: dict[str, ZoneInfo] = {}
    manage_hash = _token_hasher("manage")
    for index in range(screenings):
        screening_id = first_id + index
        film = films[rng.randrange(len(films))] if rng.random() < 0.5 else films[0]
        country, zone_name, city = places[rng.randrange(len(places))]
        zone = zone_cache.setdefault(zone_name, ZoneInfo(zone_name))
        # A third in the past year, the rest over the coming year.
        is_past = rng.random() < 0.33
        offset_days = rng.randint(1, 365)
        day = (now + timedelta(days=-offset_days if is_past else offset_days)).date()
        clock = START_TIMES[rng.randrange(len(START_TIMES))]
        try:
            starts_at, _ambiguous = venue_time_to_utc(day, clock, zone_name)
        except NonexistentLocalTime:  # pragma: no cover - no start time falls in a DST gap
            clock = time(20, 0)
            starts_at, _ambiguous = venue_time_to_utc(day, clock, zone_name)
        local_start = datetime.combine(day, clock)
        status = _status(rng, is_past)
        lead = timedelta(days=rng.randint(7, 120), minutes=rng.randint(0, 1440))
        created_at = min(starts_at - lead, now - timedelta(minutes=rng.randint(1, 600)))
        changed = rng.random() < 0.1 and status != ScreeningStatus.PENDING
        # Never in the future: a change cannot have happened after now.
        updated_at = min(created_at + timedelta(days=1), now) if changed else created_at
        org_type = list(ORGANIZATION_KINDS)[rng.randrange(len(ORGANIZATION_KINDS))]
        org_name = f"{ORGANIZATION_WORDS[rng.randrange(10)]} {ORGANIZATION_KINDS[org_type]}"
        org_name = f"{city} {org_name}"
        capacity = CAPACITIES[rng.randrange(len(CAPACITIES))]
        is_public = rng.random() < 0.9
        rsvps_enabled = is_public and rng.random() < 0.95
        submission_key = f"demo-{seed}-{screening_id}-{rng.getrandbits(64):016x}"
        row = {
            "id": screening_id,
            "film_id": film.id,
            "status": status,
            "submission_key": submission_key,
            "manage_token_hash": manage_hash(f"{submission_key}:1"),
            "manage_token_version": 1,
            "language": "en",
            "organization_name": org_name,
            "organization_type": org_type.value,
            "organization_website": "",
            "organization_country": country,
            "contact_name": f"{FIRST_NAMES[rng.randrange(10)]} {LAST_NAMES[rng.randrange(9)]}",
            "contact_email": f"organizer{screening_id}@example.org",
            "contact_phone": "",
            "venue_name": VENUES[rng.randrange(len(VENUES))],
            "street_address": f"{rng.randint(1, 250)} {STREETS[rng.randrange(len(STREETS))]}",
            "city": city,
            "region": "",
            "postal_code": f"{rng.randint(1000, 99999)}",
            "country": country,
            "timezone": zone_name,
            "local_start": local_start,
            "starts_at": starts_at,
            "duration_minutes": film.runtime_minutes + 30,
            "expected_audience": max(1, capacity - rng.randint(0, capacity // 2)),
            "capacity": capacity,
            "seats_taken": 0,
            "is_public": is_public,
            "visibility": visibility.default_for(org_type) if is_public else visibility.PRIVATE,
            "rsvps_enabled": rsvps_enabled,
            "max_party_size": 10,
            "format_id": None,
            "latitude": None,
            "longitude": None,
            # No venue coordinates: the public point is the city's (visibility.public_point).
            **dict(zip(POINT_COLUMNS, city_point(city, country) or NO_POINT, strict=True)),
            "reminder_sent_at": starts_at - timedelta(days=1) if is_past else None,
            "report_requested_at": None,
            "notes": "",
            "rejection_reason": "Outside the release window."
            if status == ScreeningStatus.REJECTED
            else "",
            "calendar_sequence": 1 if changed else 0,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        screening_rows.append(row)
        # Approved screenings, and half the cancelled ones (cancelled after approval), hold one.
        licensed = status == ScreeningStatus.APPROVED or (
            status == ScreeningStatus.CANCELLED and rng.random() < 0.5
        )
        if licensed:
            licence_rows.append(_licence_row(row, film, terms[film.id], zone, rng, numbers))
        if status == ScreeningStatus.APPROVED and rsvps_enabled:
            until = min(starts_at, now)
            open_for_rsvps.append((screening_id, capacity, 10, created_at, until))
        if status == ScreeningStatus.APPROVED and is_past and rng.random() < 0.6:
            row["report_requested_at"] = min(starts_at + timedelta(days=1), now)
            report_rows.append(
                {
                    "screening_id": screening_id,
                    "actual_attendance": 0,  # filled in below, from the confirmed seats
                    "feedback": "A full room and a long discussion afterwards.",
                    "quote": "Everyone should see this film." if rng.random() < 0.3 else "",
                    "submitted_at": min(starts_at + timedelta(days=2), now),
                    "updated_at": min(starts_at + timedelta(days=2), now),
                }
            )
        if len(screening_rows) >= BATCH:
            _insert(_table(Screening), screening_rows)
            _insert(_table(Licence), licence_rows)
            counts["licences"] += len(licence_rows)
            step(len(screening_rows))
            screening_rows, licence_rows = [], []
    _insert(_table(Screening), screening_rows)
    _insert(_table(Licence), licence_rows)
    counts["licences"] += len(licence_rows)
    step(len(screening_rows))
    db.session.commit()

    # -- RSVPs: first come, first seated; a party that does not fit waits ------------------
    seats = _rsvps(rng, open_for_rsvps, rsvps, first_rsvp=first_rsvp, step=step)
    # seats_taken from the seats handed out, by one UPDATE per batch of screenings.
    table = _table(Screening)
    update = (
        table.update()
        .where(table.c.id == db.bindparam("sid"))
        # Seats are no calendar change: keep updated_at, as services/rsvps.py does.
        .values(
            seats_taken=db.bindparam("taken"),
            updated_at=table.c.updated_at,
            cache_version=table.c.cache_version + 1,  # a cached page of it is out of date
        )
    )
    pending = [{"sid": sid, "taken": taken} for sid, taken in seats.items() if taken]
    for start in range(0, len(pending), BATCH):
        db.session.execute(update, pending[start : start + BATCH])
    for report in report_rows:
        taken = seats.get(report["screening_id"], 0)
        report["actual_attendance"] = max(0, taken - rng.randint(0, max(taken // 5, 1)))
    for start in range(0, len(report_rows), BATCH):
        _insert(_table(ScreeningReport), report_rows[start : start + BATCH])
    # The bulk inserts go past the session's hooks: cached lists and feeds are out of date.
    raise_counters(db.session.connection(), ["feeds", "listing"])
    db.session.commit()
    total_rsvps = (db.session.scalar(select(func.max(Rsvp.id))) or 0) - first_rsvp + 1
    return DemoOutcome(
        films=len(films),
        screenings=screenings,
        licences=counts["licences"],
        rsvps=max(total_rsvps, 0),
        reports=len(report_rows),
    )


@cache
def _country_name(code: str) -> str:
    return country_name(code)


@cache
def _organization_type_label(value: str) -> str:
    return organization_type_label(value)


def _licence_row(
    row: dict, film: Film, terms_id: int, zone: ZoneInfo, rng: random.Random, numbers: set
) -> dict:
    issued_at = row["created_at"] + timedelta(minutes=5)
    number = new_licence_number(film.code, rng.choice)
    while number in numbers:  # the demo's seeded draws, kept unique as issue_licence does
        number = new_licence_number(film.code, rng.choice)
    numbers.add(number)
    local = row["starts_at"].replace(tzinfo=UTC).astimezone(zone)
    particulars = {
        "film_title": film.title,
        "film_year": film.year,
        "director": film.director,
        "production_company": film.production_company,
        "organization_name": row["organization_name"],
        "organization_type_label": _organization_type_label(row["organization_type"]),
        "venue_name": row["venue_name"],
        "street_address": row["street_address"],
        "city": row["city"],
        "region": row["region"],
        "postal_code": row["postal_code"],
        "country": row["country"],
        "country_name": _country_name(row["country"]),
        "timezone": row["timezone"],
        "local_start": row["local_start"].isoformat(),
        "local_start_display": start_words(local, row["timezone"]),
        "starts_at_utc": row["starts_at"].isoformat(),
        "duration_minutes": row["duration_minutes"],
        "expected_audience": row["expected_audience"],
        "listing": visibility.licence_listing(row["visibility"]),
    }
    return {
        "screening_id": row["id"],
        "number": number,
        "revision": 1,
        "terms_id": terms_id,
        "particulars_json": json.dumps(particulars, ensure_ascii=False),
        "issued_at": issued_at,
    }


def _rsvps(
    rng: random.Random,
    screenings: list[tuple[int, int, int, datetime, datetime]],
    wanted: int,
    *,
    first_rsvp: int,
    step: Callable[[int], None],
) -> dict[int, int]:
    """Insert about ``wanted`` RSVPs over the screenings; returns seats taken by screening."""
    seats: dict[int, int] = {}
    if not screenings or wanted <= 0:
        step(wanted)
        return seats
    # Demand per screening: exponential around the mean, so some are quiet and some full.
    demand = [rng.expovariate(1.0) for _ in screenings]
    scale = wanted / sum(demand)
    table = _table(Rsvp)
    cancel_hash = _token_hasher("rsvp")
    rows: list[dict] = []
    made = 0
    confirmed_status, waiting_status = RsvpStatus.CONFIRMED.value, RsvpStatus.WAITLISTED.value
    cancelled_status = RsvpStatus.CANCELLED.value
    for (screening_id, capacity, max_party, opened, until), weight in zip(
        screenings, demand, strict=True
    ):
        # Stochastic rounding keeps the total close to ``wanted``.
        count = min(int(weight * scale + rng.random()), wanted - made)
        if count <= 0:
            continue
        taken = 0
        window = max((until - opened).total_seconds(), 60.0)
        # Replies in time order, so the waiting list is in the order people replied.
        offsets = sorted(rng.random() * window for _ in range(count))
        for offset in offsets:
            party = min(PARTY_SIZES[rng.randrange(10)], max_party)
            created_at = opened + timedelta(seconds=offset)
            rsvp_id = first_rsvp + made
            if rng.random() < 0.04:
                status = cancelled_status  # replied, then cancelled before anyone needed it
            elif taken + party <= capacity:
                status = confirmed_status
                taken += party
            else:
                status = waiting_status
            cancel_key = f"{rng.getrandbits(128):032x}"
            name = f"{FIRST_NAMES[rng.randrange(10)]} {LAST_NAMES[rng.randrange(9)]}"
            email = f"guest{rsvp_id}@example.net"
            rows.append(
                {
                    "id": rsvp_id,
                    "screening_id": screening_id,
                    "status": status,
                    "name": name,
                    "email": email,
                    "email_normalized": email,
                    "party_size": party,
                    "consent_to_email": True,
                    "language": "en",
                    "cancel_key": cancel_key,
                    "cancel_token_hash": cancel_hash(cancel_key),
                    "created_at": created_at,
                    "confirmed_at": created_at if status == confirmed_status else None,
                    "cancelled_at": min(created_at + timedelta(hours=1), until)
                    if status == cancelled_status
                    else None,
                    "updated_at": created_at,
                }
            )
            made += 1
            if len(rows) >= BATCH:
                _insert(table, rows)
                step(len(rows))
                rows = []
        seats[screening_id] = taken
        if made >= wanted:
            break
    _insert(table, rows)
    step(len(rows) + (wanted - made))
    return seats
