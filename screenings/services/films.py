"""The film catalogue and its versioned licence terms."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flask_babel import gettext as _
from sqlalchemy import select

from ..caching import kept_until_change
from ..extensions import db
from ..models import Film, LicenceTerms, ScreeningFormat
from . import DomainError, rules
from .distribution import formats_for

THE_KILLING_ROADS_TERMS = """\
1. Grant. Chutzpa Productions grants the organization named in this licence a non-exclusive, \
non-transferable, royalty-free licence to show the film "The Killing Roads" (2024) once, \
at the venue, date and time stated in this licence.
2. Free admission. The screening must be free of charge to every attendee. No ticket, \
entry fee, suggested donation at the door or paid membership may be required to attend. \
Voluntary collections for unrelated charitable causes are not permitted during the screening.
3. Registration. The screening must be registered in advance and this licence number shown \
on request. Any change of date, time or venue must be registered before the screening.
4. Integrity of the work. The film must be shown complete and unaltered, including its \
credits. It may not be edited, dubbed, re-titled or excerpted without written permission.
5. Content advisory. The film contains graphic footage of the 7 October 2023 attacks. \
Organizers must tell attendees in advance, must not admit minors without the consent of a \
parent or guardian, and should offer a quiet space and a discussion after the screening.
6. No recording or broadcast. The screening may not be recorded, streamed or broadcast.
7. Promotion. Organizers may use the film's title, poster and trailer to promote the \
screening, and must credit "The Killing Roads, a film by Igal Hecht, Chutzpa Productions".
8. Cancellation. This licence ends if the screening is cancelled, and may be revoked if \
these terms are breached.
"""

THE_KILLING_ROADS_TERMS_FR = """\
1. Concession. Chutzpa Productions concède à l'organisation désignée dans la présente licence \
une licence non exclusive, incessible et gratuite pour projeter une fois le film \
« The Killing Roads » (2024), au lieu, à la date et à l'heure indiqués dans la présente licence.
2. Entrée gratuite. La projection doit être gratuite pour chaque spectateur. Aucun billet, \
droit d'entrée, don suggéré à l'entrée ni adhésion payante ne peut être exigé pour y assister. \
Les collectes volontaires pour des causes caritatives sans rapport ne sont pas permises \
pendant la projection.
3. Inscription. La projection doit être inscrite à l'avance et le numéro de la présente \
licence présenté sur demande. Tout changement de date, d'heure ou de lieu doit être inscrit \
avant la projection.
4. Intégrité de l'œuvre. Le film doit être projeté en entier et sans modification, génériques \
compris. Il ne peut être monté, doublé, retitré ni projeté par extraits sans autorisation écrite.
5. Avertissement sur le contenu. Le film contient des images très dures des attaques du \
7 octobre 2023. Les organisateurs doivent en prévenir les spectateurs à l'avance, ne doivent \
pas admettre de mineurs sans le consentement d'un parent ou d'un tuteur, et devraient offrir \
un espace calme et une discussion après la projection.
6. Ni enregistrement ni diffusion. La projection ne peut être enregistrée, diffusée en direct \
ni retransmise.
7. Promotion. Les organisateurs peuvent utiliser le titre, l'affiche et la bande-annonce du \
film pour annoncer la projection, et doivent mentionner « The Killing Roads, un film d'Igal \
Hecht, Chutzpa Productions ».
8. Annulation. La présente licence prend fin si la projection est annulée, et peut être \
révoquée si ces conditions ne sont pas respectées.
"""

THE_KILLING_ROADS_TERMS_HE = """\
1. הענקה. Chutzpa Productions מעניקה לארגון הנקוב ברישיון זה רישיון שאינו בלעדי, שאינו ניתן \
להעברה ופטור מתמלוגים להקרין את הסרט "The Killing Roads" \u200f(2024) פעם אחת, במקום, בתאריך \
ובשעה הנקובים ברישיון זה.
2. כניסה חופשית. ההקרנה תהיה ללא תשלום לכל צופה. אין לדרוש כרטיס, דמי כניסה, תרומה מוצעת \
בכניסה או חברות בתשלום כתנאי להשתתפות. אין לערוך במהלך ההקרנה התרמות למטרות צדקה שאינן \
קשורות לסרט.
3. רישום. יש לרשום את ההקרנה מראש ולהציג את מספר הרישיון לפי דרישה. כל שינוי בתאריך, בשעה \
או במקום יש לרשום לפני ההקרנה.
4. שלמות היצירה. יש להקרין את הסרט במלואו וללא שינוי, כולל הקרדיטים. אין לערוך אותו, לדבב \
אותו, לשנות את שמו או להקרין קטעים ממנו ללא אישור בכתב.
5. אזהרת תוכן. הסרט כולל צילומים קשים מהמתקפות של 7 באוקטובר 2023. על המארגנים ליידע את \
הצופים מראש, אין להכניס קטינים ללא הסכמת הורה או אפוטרופוס, ומומלץ להציע מרחב שקט ושיחה \
לאחר ההקרנה.
6. ללא הקלטה או שידור. אין להקליט, להזרים או לשדר את ההקרנה.
7. קידום. המארגנים רשאים להשתמש בשם הסרט, בכרזה ובקדימון שלו כדי לפרסם את ההקרנה, ועליהם \
לציין "The Killing Roads, סרט מאת איגל הכט, Chutzpa Productions".
8. ביטול. רישיון זה פוקע אם ההקרנה מבוטלת, וניתן לשלול אותו אם תנאים אלה מופרים.
"""


@dataclass(frozen=True)
class CatalogueFilm:
    """A film the site ships with: its Film columns, its terms (English, then translated),
    its texts in other languages, and how it reaches a host unless the producer adds others."""

    columns: dict[str, Any]
    terms: str
    terms_translations: dict[str, str] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    default_format: dict[str, str] | None = None


CATALOGUE = [
    CatalogueFilm(
        columns={
            "code": "TKR",
            "slug": "the-killing-roads",
            "title": "The Killing Roads",
            "year": 2024,
            "genre": "documentary",
            "director": "Igal Hecht",
            "production_company": "Chutzpa Productions",
            "synopsis": (
                "A documentary about the massacres on Routes 232 and 34 in southern Israel on "
                "7 October 2023, told through survivors, first responders and the footage of "
                "that day. Free for public screenings; organizers must register."
            ),
            "runtime_minutes": 115,
            "content_advisory": (
                "Contains graphic footage of the 7 October 2023 attacks on Routes 232 and 34, "
                "including violence and its aftermath. Viewer discretion is strongly advised; "
                "not suitable for children."
            ),
            "requires_approval": False,
        },
        texts={
            "fr": {
                "synopsis": (
                    "Un documentaire sur les massacres des routes 232 et 34, dans le sud "
                    "d'Israël, le 7 octobre 2023, raconté par des survivants, des secouristes "
                    "et les images de ce jour-là. Gratuit pour les projections publiques ; "
                    "les organisateurs doivent s'inscrire."
                ),
                "content_advisory": (
                    "Contient des images très dures des attaques du 7 octobre 2023 sur les "
                    "routes 232 et 34, dont des scènes de violence et leurs suites. Public "
                    "averti ; ne convient pas aux enfants."
                ),
            },
            "he": {
                "synopsis": (
                    "סרט תיעודי על הטבח בכבישים 232 ו־34 בדרום ישראל ב־7 באוקטובר 2023, "
                    "מפי ניצולים, כוחות ההצלה הראשונים והצילומים מאותו יום. ללא תשלום "
                    "להקרנות ציבוריות; על המארגנים להירשם."
                ),
                "content_advisory": (
                    "כולל צילומים קשים מהמתקפות של 7 באוקטובר 2023 בכבישים 232 ו־34, ובהם "
                    "אלימות ותוצאותיה. מומלץ מאוד לנהוג שיקול דעת; לא מתאים לילדים."
                ),
            },
        },
        terms=THE_KILLING_ROADS_TERMS,
        terms_translations={"fr": THE_KILLING_ROADS_TERMS_FR, "he": THE_KILLING_ROADS_TERMS_HE},
        # How the film reaches a host unless the producer adds others (a download needs the
        # file's address, which only the producer has): a disc shipped to the venue.
        default_format={"name": "Blu-ray disc", "kind": "physical"},
    )
]


def set_terms(film: Film, text: str, translations: dict[str, str] | None = None) -> LicenceTerms:
    """Add a new terms version when any of its texts changed; issued licences keep theirs.

    ``text`` is the English text, which every version has; ``translations`` the others by
    language (an empty one is left out: readers of that language are shown the English).
    A version never changes once made, so a licence states the very text that was accepted.
    """
    current = film.current_terms
    others = {lang: body for lang, body in sorted((translations or {}).items()) if body.strip()}
    if current is not None and current.texts == {"en": text, **others}:
        return current
    terms = LicenceTerms(
        film=film,
        version=(current.version + 1) if current else 1,
        text=text,
        translations_json=json.dumps(others, ensure_ascii=False, sort_keys=True),
    )
    db.session.add(terms)
    film.terms_versions.append(terms)
    return terms


def set_film_texts(film: Film, texts: dict[str, dict[str, str]]) -> None:
    """The synopsis and advisory in other languages, {language: {field: text}}; empty ones
    are left out, so readers of that language are shown the English (models.film_text)."""
    kept = {
        language: {name: text for name, text in sorted(fields.items()) if text.strip()}
        for language, fields in sorted(texts.items())
    }
    film.translations_json = json.dumps(
        {language: fields for language, fields in kept.items() if fields}, ensure_ascii=False
    )


def seed_catalogue() -> list[Film]:
    """Create the catalogue's films if missing (idempotent: safe on every start)."""
    films = []
    for entry in CATALOGUE:
        terms, translations = entry.terms, entry.terms_translations
        film = db.session.scalar(select(Film).where(Film.code == entry.columns["code"]))
        if film is None:
            film = Film(**entry.columns)
            set_film_texts(film, entry.texts)
            db.session.add(film)
            set_terms(film, terms, translations)
        elif film.current_terms is not None and film.current_terms.texts == {"en": terms}:
            # Seeded before the terms were translated, and untouched since: add the translations.
            set_terms(film, terms, translations)
        if film.translations_json in (None, "{}") and film.synopsis == entry.columns["synopsis"]:
            # Seeded before its texts were translated, and untouched since: translate them.
            set_film_texts(film, entry.texts)
        if entry.default_format and not _has_any_format(film):
            db.session.add(ScreeningFormat(film=film, **entry.default_format))
        films.append(film)
    db.session.commit()
    return films


def _has_any_format(film: Film) -> bool:
    """Any format at all, even one the producer switched off: their choice stands."""
    if film.id is None:
        return False
    return (
        db.session.scalar(
            select(ScreeningFormat.id).where(ScreeningFormat.film_id == film.id).limit(1)
        )
        is not None
    )


def films_without_format(films: Sequence[Film]) -> list[Film]:
    """The films organizers could book but not receive: no active screening format."""
    served = {fmt.film_id for fmt in formats_for(films)}
    return [film for film in films if film.is_active and film.id not in served]


def active_films() -> list[Film]:
    return list(db.session.scalars(select(Film).where(Film.is_active).order_by(Film.title)))


class FilmOption(NamedTuple):
    slug: str
    title: str


def film_options() -> tuple[FilmOption, ...]:
    """The active films' slugs and titles, by title (the public lists' film filter and feed
    names): read again only after a change to a film (caching.kept_until_change), not with
    every whole row on every request."""
    return kept_until_change("feeds", _read_film_options)


def _read_film_options() -> tuple[FilmOption, ...]:
    rows = db.session.execute(
        select(Film.slug, Film.title).where(Film.is_active).order_by(Film.title)
    )
    return tuple(FilmOption(slug, title) for slug, title in rows)


# -- the producer's catalogue editing -----------------------------------------------------------

FILM_FIELDS = (
    "code",
    "slug",
    "title",
    "year",
    "genre",
    "director",
    "production_company",
    "synopsis",
    "runtime_minutes",
    "content_advisory",
    "requires_approval",
    "is_active",
)


def _check_unique(film: Film | None, code: str, slug: str) -> None:
    for column, value, name in ((Film.code, code, "code"), (Film.slug, slug, "slug")):
        other = db.session.scalar(select(Film).where(column == value))
        if other is not None and other is not film:
            raise DomainError(_("Another film uses this already."), field=name)


def create_film(values: dict, terms: str, translations: dict[str, str] | None = None) -> Film:
    """Add a film with its first licence terms (English, and ``translations`` by language)."""
    _check_unique(None, values["code"], values["slug"])
    film = Film(**{name: values[name] for name in FILM_FIELDS})
    film.auto_approve_compliant = bool(values.get("auto_approve_compliant"))
    rules.save_settings(film, values.get("rules", {}))
    set_film_texts(film, values.get("texts", {}))
    db.session.add(film)
    set_terms(film, terms, translations)
    db.session.commit()
    return film


def update_film(
    film: Film, values: dict, terms: str, translations: dict[str, str] | None = None
) -> LicenceTerms:
    """Change a film; changed terms become a new version, issued licences keep theirs."""
    _check_unique(film, values["code"], values["slug"])
    for name in FILM_FIELDS:
        setattr(film, name, values[name])
    if "texts" in values:
        set_film_texts(film, values["texts"])
    if "rules" in values:
        film.auto_approve_compliant = bool(values.get("auto_approve_compliant"))
        rules.save_settings(film, values["rules"])
    version = set_terms(film, terms, translations)
    db.session.commit()
    return version


def all_films() -> list[Film]:
    return list(db.session.scalars(select(Film).order_by(Film.title)))
