"""A film's licence rules: one home for what each rule says, checks and how it is stored.

Each rule is a small object with a plain-language ``describe()`` (shown in the terms at
booking and on the film page) and ``evaluate(screening) -> list[str]`` (the broken rule in
words, empty when met). A film keeps its settings as JSON in ``films.rules_json``; a rule
without a setting does not apply. Trusted hosts (an organizer's exact e-mail, or an e-mail
domain when the producer chose it) are kept here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from ..extensions import db
from ..labels import ORGANIZATION_TYPES
from ..models import Film, Screening, ScreeningStatus, TrustedHost, utcnow
from ..places import country_name, localized_date

VENUE_KINDS = [
    ("indoor_hall", _l("Indoor hall")),
    ("cinema", _l("Cinema")),
    ("classroom", _l("Classroom")),
    ("worship", _l("Place of worship")),
    ("outdoor", _l("Outdoor")),
    ("private_home", _l("Private home")),
]


def _organization_types() -> dict[str, Any]:
    return dict(ORGANIZATION_TYPES)


def _names(values: Iterable[str], labels: Mapping[str, object]) -> str:
    return ", ".join(str(labels.get(value, value)) for value in values)


def _countries(codes: Iterable[str]) -> str:
    return ", ".join(country_name(code) or code for code in codes)


Setting = TypeVar("Setting")


@dataclass
class Rule(Generic[Setting]):
    """One rule with the film's setting for it (as films.rules_json stores it)."""

    key = ""
    setting: Setting

    def describe(self) -> str:
        raise NotImplementedError

    def evaluate(self, screening: Screening) -> list[str]:
        raise NotImplementedError


class MaxAudience(Rule[int]):
    key = "max_audience"

    def describe(self) -> str:
        return _("The expected audience is at most %(n)s people.", n=self.setting)

    def evaluate(self, screening: Screening) -> list[str]:
        if screening.expected_audience > self.setting:
            return [
                _(
                    "Expected audience %(n)s is above the film's limit of %(max)s.",
                    n=screening.expected_audience,
                    max=self.setting,
                )
            ]
        return []


class CountriesAllowed(Rule[list[str]]):
    key = "countries_allowed"

    def describe(self) -> str:
        return _("Screenings only in: %(countries)s.", countries=_countries(self.setting))

    def evaluate(self, screening: Screening) -> list[str]:
        if screening.country not in self.setting:
            return [
                _(
                    "%(country)s is not among the countries this film may be screened in.",
                    country=country_name(screening.country) or screening.country,
                )
            ]
        return []


class CountriesExcluded(Rule[list[str]]):
    key = "countries_excluded"

    def describe(self) -> str:
        return _("No screenings in: %(countries)s.", countries=_countries(self.setting))

    def evaluate(self, screening: Screening) -> list[str]:
        if screening.country in self.setting:
            return [
                _(
                    "The film may not be screened in %(country)s.",
                    country=country_name(screening.country) or screening.country,
                )
            ]
        return []


class OrganizationTypes(Rule[list[str]]):
    key = "organization_types"

    def describe(self) -> str:
        return _("Hosted by: %(types)s.", types=_names(self.setting, _organization_types()))

    def evaluate(self, screening: Screening) -> list[str]:
        if screening.organization_type not in self.setting:
            return [
                _(
                    "The film may not be hosted by this type of organization (%(type)s).",
                    type=_organization_types().get(
                        screening.organization_type, screening.organization_type
                    ),
                )
            ]
        return []


class VenueKinds(Rule[list[str]]):
    key = "venue_kinds"

    def describe(self) -> str:
        return _("Venues: %(kinds)s.", kinds=_names(self.setting, dict(VENUE_KINDS)))

    def evaluate(self, screening: Screening) -> list[str]:
        if screening.venue_kind not in self.setting:
            return [
                _(
                    "The film may not be shown in this kind of venue (%(kind)s).",
                    kind=dict(VENUE_KINDS).get(screening.venue_kind) or _("not stated"),
                )
            ]
        return []


class MinimumNotice(Rule[int]):
    key = "min_notice_days"

    def describe(self) -> str:
        return ngettext(
            "Booked at least %(num)s day before the screening.",
            "Booked at least %(num)s days before the screening.",
            self.setting,
        )

    def evaluate(self, screening: Screening) -> list[str]:
        notice = (screening.local_start.date() - utcnow().date()).days
        if notice < self.setting:
            return [
                ngettext(
                    "The film needs at least %(num)s day of notice; this booking gives %(given)s.",
                    "The film needs at least %(num)s days of notice; this booking gives %(given)s.",
                    self.setting,
                    given=max(notice, 0),
                )
            ]
        return []


class BlackoutDates(Rule[list[str]]):
    key = "blackout_dates"

    def describe(self) -> str:
        days = (localized_date(date.fromisoformat(day), "long") for day in self.setting)
        return _("No screenings on: %(dates)s.", dates=", ".join(days))

    def evaluate(self, screening: Screening) -> list[str]:
        day = screening.local_start.date().isoformat()
        if day in self.setting:
            return [
                _(
                    "%(date)s is a date on which the film may not be screened.",
                    date=localized_date(screening.local_start.date(), "long"),
                )
            ]
        return []


class PerOrganizationPerMonth(Rule[int]):
    key = "per_org_month"

    def describe(self) -> str:
        return ngettext(
            "At most %(num)s screening per organization per month.",
            "At most %(num)s screenings per organization per month.",
            self.setting,
        )

    def evaluate(self, screening: Screening) -> list[str]:
        count = 1 + len(_same_organization_in_month(screening))
        if count > self.setting:
            return [
                ngettext(
                    "This would be screening %(count)s this month for this organization; "
                    "the film allows %(num)s.",
                    "This would be screening %(count)s this month for this organization; "
                    "the film allows %(num)s.",
                    self.setting,
                    count=count,
                )
            ]
        return []


RULES: tuple[type[Rule[Any]], ...] = (
    MaxAudience,
    CountriesAllowed,
    CountriesExcluded,
    OrganizationTypes,
    VenueKinds,
    MinimumNotice,
    BlackoutDates,
    PerOrganizationPerMonth,
)
LIST_RULES = {"countries_allowed", "countries_excluded", "organization_types", "venue_kinds"}


def _same_organization_in_month(screening: Screening) -> list[Screening]:
    """The film's other live screenings of this organization in the screening's local month."""
    start = screening.local_start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    candidates = db.session.scalars(
        select(Screening).where(
            Screening.film_id == screening.film_id,
            Screening.id != (screening.id or 0),
            Screening.status.in_((ScreeningStatus.PENDING, ScreeningStatus.APPROVED)),
            Screening.local_start >= start,
            Screening.local_start < end,
        )
    )
    email = screening.contact_email.casefold()
    name = " ".join(screening.organization_name.casefold().split())
    return [
        other
        for other in candidates
        if other.contact_email.casefold() == email
        or " ".join(other.organization_name.casefold().split()) == name
    ]


def settings(film: Film) -> dict[str, Any]:
    """The film's stored rule settings (unknown keys and empty values dropped)."""
    try:
        raw = json.loads(film.rules_json or "{}")
    except ValueError:
        return {}
    known = {rule.key for rule in RULES}
    return {key: value for key, value in raw.items() if key in known and value}


def rules_for(film: Film) -> list[Rule[Any]]:
    """The rules that apply to the film, in a fixed order."""
    stored = settings(film)
    return [rule(stored[rule.key]) for rule in RULES if rule.key in stored]


def describe(film: Film) -> list[str]:
    """Each of the film's rules in plain words (shown with the terms at booking)."""
    return [rule.describe() for rule in rules_for(film)]


def evaluate(screening: Screening) -> list[str]:
    """The film's rules this screening breaks, in words; empty when it meets them all."""
    broken: list[str] = []
    for rule in rules_for(screening.film):
        broken.extend(rule.evaluate(screening))
    return broken


def save_settings(film: Film, values: Mapping[str, Any]) -> None:
    """Store the rule settings from the film form (the caller commits)."""
    clean = {}
    for key, value in values.items():
        if key in LIST_RULES:
            value = sorted({str(item) for item in value or () if item})
        elif key == "blackout_dates":
            value = sorted({day.isoformat() if isinstance(day, date) else day for day in value})
        if value:
            clean[key] = value
    film.rules_json = json.dumps(clean, sort_keys=True)


# ---------------------------------------------------------------- trusted hosts
def _domain(email: str) -> str:
    return email.rpartition("@")[2].casefold()


def is_trusted(screening: Screening) -> bool:
    """Whether the organizer's e-mail, or a domain the producer chose to trust, is trusted."""
    email = screening.contact_email.casefold()
    return (
        db.session.scalar(
            select(TrustedHost.id).where(
                ((TrustedHost.kind == "email") & (TrustedHost.value == email))
                | ((TrustedHost.kind == "domain") & (TrustedHost.value == _domain(email)))
            )
        )
        is not None
    )


def trust(screening: Screening, *, whole_domain: bool, actor: str) -> TrustedHost:
    """Trust this screening's organizer (their exact e-mail, or its domain); caller commits."""
    email = screening.contact_email.casefold()
    kind, value = ("domain", _domain(email)) if whole_domain else ("email", email)
    host = db.session.scalar(
        select(TrustedHost).where(TrustedHost.kind == kind, TrustedHost.value == value)
    )
    if host is None:
        host = TrustedHost(
            kind=kind,
            value=value,
            organization_name=screening.organization_name,
            created_by=actor[:300],
            created_at=utcnow(),
        )
        db.session.add(host)
    return host


def trusted_hosts() -> list[TrustedHost]:
    return list(db.session.scalars(select(TrustedHost).order_by(TrustedHost.created_at)))


def revoke_trust(host_id: int) -> None:
    """Stop trusting a host: their next bookings go through review again."""
    host = db.session.get(TrustedHost, host_id)
    if host is not None:
        db.session.delete(host)
    db.session.commit()


def decide(screening: Screening) -> tuple[list[str], str | None]:
    """At booking: the broken rules, and who approves at once (None: the queue decides).

    A booking that breaks a rule always waits for the producer, trusted or not. One that
    meets them all is approved at once on a film without approval, on a film that
    auto-approves compliant bookings, or when its organizer is a trusted host.
    """
    broken = evaluate(screening)
    film = screening.film
    if broken:
        return broken, None
    if not film.requires_approval:
        return broken, "system:auto-approval"
    if film.auto_approve_compliant:
        return broken, "system:licence-rules"
    if is_trusted(screening):
        return broken, "system:trusted-host"
    return broken, None
