"""What the data is: films, licence terms, screenings, licences, history, outbox, producers.

Timestamps named ``*_at`` are naive UTC. A screening's local start is stored beside its
IANA zone so the venue's wall-clock time survives changes to the zone rules.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every ``*_at`` column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def normalize_email(address: str) -> str:
    """An address as every ``email_normalized`` column and the suppression list hold it."""
    return address.strip().lower()


def one_of(column: str, values: Iterable[str], name: str | None = None) -> CheckConstraint:
    """A CHECK that holds a state stored as text to the values its enum names: a typo or a
    stale writer fails in the database, not later on a page. A new value needs a migration
    (tests/test_migrations.py compares the constraints)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or f"{column}_known")


@cache
def zone_named(name: str) -> ZoneInfo:
    """ZoneInfo(name), kept: ZoneInfo's own cache holds eight zones strongly, so a list of
    screenings in more zones than that re-read a tz file for nearly every row."""
    return ZoneInfo(name)


class OrganizationType(enum.StrEnum):
    SCHOOL = "school"
    UNIVERSITY = "university"
    FAITH_COMMUNITY = "faith_community"
    COMMUNITY_GROUP = "community_group"
    CINEMA = "cinema"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ScreeningStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    # Sent, then a delivery status notification came back to its VERP address.
    BOUNCED = "bounced"
    # Never sent: the address had hard-bounced before (services/bounces.py).
    SUPPRESSED = "suppressed"


class Film(Model):
    __tablename__ = "films"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short upper-case prefix of licence numbers, e.g. "TKR" in TKR-7Q4M-K2XD.
    code: Mapped[str] = mapped_column(String(8), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int]
    genre: Mapped[str] = mapped_column(String(60), default="documentary")
    director: Mapped[str] = mapped_column(String(200))
    production_company: Mapped[str] = mapped_column(String(200))
    synopsis: Mapped[str] = mapped_column(Text)
    runtime_minutes: Mapped[int]
    content_advisory: Mapped[str] = mapped_column(Text, default="")
    # The synopsis and advisory in other languages: {language: {field: text}} (film_text).
    translations_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    requires_approval: Mapped[bool] = mapped_column(default=False)
    # A booking that meets every licence rule is approved at once (services/rules.py).
    auto_approve_compliant: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The film's licence rules as JSON {rule key: setting}; read only by services/rules.py.
    rules_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Raised in the transaction of every change to the row (caching.py): part of the cache
    # key of each page and calendar file that shows the film.
    cache_version: Mapped[int] = mapped_column(default=1, server_default="1")

    terms_versions: Mapped[list[LicenceTerms]] = relationship(
        back_populates="film", order_by="LicenceTerms.version"
    )

    @property
    def current_terms(self) -> LicenceTerms | None:
        return self.terms_versions[-1] if self.terms_versions else None

    def text_in(self, name: str, language: str) -> str:
        """The synopsis or content advisory in ``language``, or in English (see film_text)."""
        return film_text(getattr(self, name), self.translations_json, name, language)

    def __repr__(self) -> str:
        return f"<Film {self.code} {self.title!r}>"


def film_text(english: str, translations_json: str, name: str, language: str) -> str:
    """A film's text ``name`` (synopsis, content_advisory) as written in ``language``, or
    the English one where the producer wrote none: the one rule for every page, e-mail and
    calendar entry (feeds read the columns alone, without the model)."""
    if language == "en" or not translations_json:
        return english
    return json.loads(translations_json).get(language, {}).get(name) or english


class LicenceTerms(Model):
    """One version of a film's licence terms; a licence keeps the version it was issued under."""

    __tablename__ = "licence_terms"
    __table_args__ = (UniqueConstraint("film_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id"), index=True)
    version: Mapped[int]
    # The English text, which every version has; its other languages beside it.
    text: Mapped[str] = mapped_column(Text)
    # {language: text} for the languages besides English this version was written in.
    translations_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    film: Mapped[Film] = relationship(back_populates="terms_versions")

    @property
    def texts(self) -> dict[str, str]:
        """Every text of this version by language, English first."""
        return {"en": self.text, **json.loads(self.translations_json or "{}")}

    def language_for(self, language: str) -> str:
        """The language a reader of ``language`` is shown: theirs if written, else English."""
        return language if language in self.texts else "en"

    def text_in(self, language: str) -> str:
        """The text in ``language``, or the English one where it was not written in it."""
        return self.texts[self.language_for(language)]

    def __repr__(self) -> str:
        return f"<LicenceTerms film={self.film_id} v{self.version}>"


class Screening(Model):
    """A booked screening: the organization, its contact, the venue and time, and its status."""

    __tablename__ = "screenings"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint(
            "seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"
        ),
        Index("ix_screenings_status_starts_at", "status", "starts_at"),
        # The public list in its order (status, is_public fixed; starts_at, id sorted): a deep
        # page's OFFSET skips index entries without reading the rows it skips.
        Index("ix_screenings_listed", "status", "is_public", "starts_at", "id"),
        # "Near me" (services/radius.py): the listed screenings in a latitude band around a
        # town (SQLite picks this over ix_screenings_listed: 1.6 ms, not 650, at 100,000).
        Index(
            "ix_screenings_public_point",
            "status",
            "is_public",
            "public_latitude",
            "public_longitude",
        ),
        # The dashboard's cancellations by cause: counted in the index, no row read.
        Index("ix_screenings_status_cancel_cause", "status", "cancel_cause"),
        CheckConstraint("visibility IN ('public', 'guests', 'private')", name="visibility_known"),
        # is_public is "listed": every screening but a private one (services/visibility.py).
        CheckConstraint("(visibility = 'private') <> is_public", name="listed_unless_private"),
        CheckConstraint(
            "address_check IN ('off', 'large_parties', 'everyone')", name="address_check_known"
        ),
        one_of("status", ScreeningStatus),
        one_of("organization_type", OrganizationType),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ScreeningStatus.PENDING)
    # Random per rendered booking form: the same form posted twice is one booking.
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Raised to revoke every manage link sent so far (the token is derived from it).
    manage_token_version: Mapped[int] = mapped_column(default=1)
    language: Mapped[str] = mapped_column(String(8), default="en")

    organization_name: Mapped[str] = mapped_column(String(200))
    organization_type: Mapped[str] = mapped_column(String(32))
    organization_website: Mapped[str] = mapped_column(String(300), default="")
    organization_country: Mapped[str] = mapped_column(String(2))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(40), default="")

    venue_name: Mapped[str] = mapped_column(String(200))
    street_address: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(120), index=True)
    region: Mapped[str] = mapped_column(String(120), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), index=True)
    # indoor_hall, cinema, classroom, worship, outdoor, private_home (services/rules.py);
    # "" for bookings made before it was asked.
    venue_kind: Mapped[str] = mapped_column(String(16), default="", server_default="")
    timezone: Mapped[str] = mapped_column(String(64))
    local_start: Mapped[datetime]
    starts_at: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int]
    expected_audience: Mapped[int]
    capacity: Mapped[int]
    seats_taken: Mapped[int] = mapped_column(default=0)
    # Listed on the public list, feeds, API and embed: false exactly for private screenings.
    is_public: Mapped[bool] = mapped_column(default=True)
    # Who learns the street address: public (anyone), guests (confirmed guests only), private
    # (unlisted; reached only through the share link). Rules in services/visibility.py.
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    # The private share link /s/<token>: derived from this random key, stored hashed; both
    # cleared to revoke it.
    share_key: Mapped[str | None] = mapped_column(String(64))
    share_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    rsvps_enabled: Mapped[bool] = mapped_column(default=True)
    # Largest party one RSVP may reserve seats for.
    max_party_size: Mapped[int] = mapped_column(default=10)
    # Guests and the door (services/guests.py holds the defaults and labels): replies wait
    # for the organizer's approval, holding no seat; who confirms their e-mail address before
    # their seats are theirs ("off", "large_parties", "everyone"); the optional question on
    # the RSVP form ("" none, "heard_from", "affiliation").
    approves_guests: Mapped[bool] = mapped_column(default=False, server_default=false())
    address_check: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    host_question: Mapped[str] = mapped_column(String(16), default="", server_default="")
    format_id: Mapped[int | None] = mapped_column(ForeignKey("screening_formats.id"), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    # Where the public lists measure distances from (visibility.public_point, kept on every
    # flush): the venue's own point when its street is public, else its city's; None: unknown.
    public_latitude: Mapped[float | None]
    public_longitude: Mapped[float | None]
    reminder_sent_at: Mapped[datetime | None]
    report_requested_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    # The host's note for guests (doors time, ID, bag checks, parking, accessibility): shown
    # to confirmed guests only, on their RSVP page and in their confirmation and reminder
    # e-mails; never on a public page, feed or embed.
    host_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The organizer's public words about the event (speakers, Q&A, doors), at most
    # services/bookings.DESCRIPTION_MAX characters: shown as plain text on the screening's
    # page (reached only by those visibility.py lets see it) and in confirmed guests' invites.
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    # Why the organizer cancelled (services/alerts.CANCEL_CAUSES); "" when not cancelled by them.
    cancel_cause: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The terms version the organizer accepted: every revision of the licence keeps it
    # until they accept a newer one (None: bookings made before this was recorded).
    accepted_terms_id: Mapped[int | None] = mapped_column(ForeignKey("licence_terms.id"))
    # The language of the text they accepted (theirs, or English where it was not written).
    accepted_terms_language: Mapped[str] = mapped_column(
        String(8), default="en", server_default="en"
    )
    # iCalendar SEQUENCE: raised on every change of time, place or status.
    calendar_sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    # Raised in the transaction of every change to the row, seats included (caching.py): the
    # cache key of the screening's page and .ics file.
    cache_version: Mapped[int] = mapped_column(default=1, server_default="1")

    film: Mapped[Film] = relationship()
    accepted_terms: Mapped[LicenceTerms | None] = relationship()
    licences: Mapped[list[Licence]] = relationship(
        back_populates="screening", order_by="Licence.revision"
    )
    changes: Mapped[list[ScreeningChange]] = relationship(
        back_populates="screening", order_by="ScreeningChange.id"
    )

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.timezone)

    @property
    def starts_at_utc(self) -> datetime:
        return self.starts_at.replace(tzinfo=UTC)

    @property
    def ends_at_utc(self) -> datetime:
        return self.starts_at_utc + timedelta(minutes=self.duration_minutes)

    @property
    def local_start_aware(self) -> datetime:
        """The start in the venue's zone, with the offset that applies on the day."""
        return self.starts_at_utc.astimezone(self.zone)

    @property
    def has_started(self) -> bool:
        """The start has passed: a booking still waiting can no longer be approved."""
        return self.starts_at_utc <= datetime.now(UTC)

    @property
    def is_past(self) -> bool:
        return self.ends_at_utc <= datetime.now(UTC)

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def current_licence(self) -> Licence | None:
        return self.licences[-1] if self.licences else None

    @property
    def is_open_for_changes(self) -> bool:
        return (
            self.status in (ScreeningStatus.PENDING, ScreeningStatus.APPROVED) and not self.is_past
        )

    def __repr__(self) -> str:
        return f"<Screening {self.id} {self.status} {self.organization_name!r} {self.starts_at}>"


class Licence(Model):
    """A revision of a screening's licence; a material change issues a new revision."""

    __tablename__ = "licences"
    __table_args__ = (UniqueConstraint("number", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(default=1)
    terms_id: Mapped[int] = mapped_column(ForeignKey("licence_terms.id"))
    # The language of the terms text the organizer accepted, which the licence states.
    terms_language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # The particulars as issued, so the licence reads the same after later edits.
    particulars_json: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on the current revision when the producer revokes the licence.
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    screening: Mapped[Screening] = relationship(back_populates="licences")
    terms: Mapped[LicenceTerms] = relationship()

    @property
    def particulars(self) -> dict[str, Any]:
        return json.loads(self.particulars_json)

    @property
    def is_current(self) -> bool:
        return self.screening.current_licence is self

    @property
    def validity(self) -> str:
        """valid, superseded, revoked, cancelled or past: what the verification page says."""
        current = self.screening.current_licence
        if current is not None and current.revoked_at is not None:
            return "revoked"
        if self.screening.status == ScreeningStatus.CANCELLED:
            return "cancelled"
        if not self.is_current:
            return "superseded"
        if self.screening.is_past:
            return "past"
        return "valid"

    def __repr__(self) -> str:
        return f"<Licence {self.number} r{self.revision}>"


class ScreeningChange(Model):
    """History of a screening: who did what, when, and which fields changed."""

    __tablename__ = "screening_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(40))
    details_json: Mapped[str] = mapped_column(Text, default="{}")

    screening: Mapped[Screening] = relationship(back_populates="changes")

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json)

    def __repr__(self) -> str:
        return f"<ScreeningChange {self.screening_id} {self.action} by {self.actor}>"


class OutboxMessage(Model):
    """An e-mail written in the same transaction as the change that caused it, sent after commit."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        one_of("status", OutboxStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # "<kind>:<id>" of a message the outbox composes when it first delivers it (raw empty
    # until then): the request that caused it only commits this reference (outbox.py).
    compose_ref: Mapped[str | None] = mapped_column(String(80))
    screening_id: Mapped[int | None] = mapped_column(ForeignKey("screenings.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    # The last message to someone who asked to be erased: redacted once sent (services/privacy).
    erase_after_sending: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Digest of the token in this message's envelope sender (bounce+<token>@…): a delivery
    # status notification sent back to it names this row, and no other.
    bounce_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    bounced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status} to {self.recipient}>"


class ProducerRole(enum.StrEnum):
    """What an account may do: services/producers.py (PERMISSIONS) is the one home of that rule."""

    OWNER = "owner"
    REVIEWER = "reviewer"
    VIEWER = "viewer"


class Producer(UserMixin, Model):
    """A producer account. Each logged-in device holds its own ProducerSession."""

    __tablename__ = "producers"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'reviewer', 'viewer')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # Empty until an invited account sets its password (it cannot log in before).
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(
        String(16), default=ProducerRole.OWNER, server_default=ProducerRole.OWNER
    )
    # The producer's own IANA zone: the dashboard shows each screening's time in it too.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Failed password attempts since the last success or lockout (one counter for all workers).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    # TOTP two-factor: the base32 secret once enrolment is confirmed, and the last time step
    # accepted (a code is never accepted twice).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]
    # How the producer hears of bookings, changes, cancellations and dead mail
    # (services/alerts.py): "immediate", "digest" (daily) or "none".
    alert_mode: Mapped[str] = mapped_column(
        String(16), default="immediate", server_default="immediate"
    )

    # The raw id of the session this object was loaded for (set by services/producers.py).
    # Not a column: declared to the type checker only, as an annotation without Mapped[]
    # in the class body would be refused by the declarative mapping.
    if TYPE_CHECKING:
        session_token: str | None
    session_token = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def __repr__(self) -> str:
        return f"<Producer {self.email} {self.role}>"


class ChangeCounter(Model):
    """A number raised in the transaction of every change to what a kind of cached answer
    shows ("listing": public lists and the dashboard; "feeds": the calendar feeds), so the
    answers cached under the old number are never served again (caching.py)."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"<ChangeCounter {self.name}={self.value}>"


class TrustedHost(Model):
    """An organizer the producer trusts: their later compliant bookings skip review.

    Matched on the organizer's exact e-mail (kind "email") or, only when the producer chose
    it, on the e-mail's domain (kind "domain"). Rules in services/rules.py.
    """

    __tablename__ = "trusted_hosts"
    __table_args__ = (
        UniqueConstraint("kind", "value"),
        CheckConstraint("kind IN ('email', 'domain')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(254))
    organization_name: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<TrustedHost {self.kind} {self.value!r}>"
