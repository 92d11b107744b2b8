"""Films: the catalogue, each film's terms and rules, its formats and materials."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from ...extensions import db
from ...models import Film, ScreeningFormat, ScreeningMaterial
from ...services import DomainError, distribution, films, rules
from ...views import form_error
from .. import bp
from ..forms import FilmForm, FormatForm, MaterialForm, RemoveForm


@bp.route("/films")
def films_page() -> str:
    catalogue = films.all_films()
    return render_template(
        "producer/films.html", films=catalogue, unserved=films.films_without_format(catalogue)
    )


@bp.route("/films/new", methods=["GET", "POST"])
def film_new() -> BaseResponse | tuple[str, int]:
    form = FilmForm()
    if form.validate_on_submit():
        try:
            film = films.create_film(form.values(), form.terms.data, form.terms_translations())
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Film added."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/film_form.html", form=form, film=None), status


def _film(film_id: int) -> Film:
    film = db.session.get(Film, film_id)
    if film is None:
        abort(404)
    return film


def _film_page(film: Film, form: FilmForm, **forms: FlaskForm) -> str:
    return render_template(
        "producer/film_form.html",
        form=form,
        film=film,
        film_rules=rules.describe(film),
        formats=list(
            db.session.scalars(
                db.select(ScreeningFormat)
                .where(ScreeningFormat.film_id == film.id)
                .order_by(ScreeningFormat.id)
            )
        ),
        materials=distribution.materials_for(film.id),
        format_form=forms.get("format_form") or FormatForm(formdata=None),
        material_form=forms.get("material_form") or MaterialForm(formdata=None),
        remove_form=RemoveForm(),
    )


@bp.route("/films/<int:film_id>", methods=["GET", "POST"])
def film_edit(film_id: int) -> BaseResponse | tuple[str, int]:
    film = _film(film_id)
    form = FilmForm(obj=film)
    if request.method == "GET":
        form.fill_terms(film.current_terms)
        form.fill_film_texts(film)
        form.fill_rules(film)
    elif form.validate_on_submit():
        before = film.current_terms.version if film.current_terms else 0
        try:
            terms = films.update_film(
                film, form.values(), form.terms.data, form.terms_translations()
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if terms.version != before:
                flash(
                    _(
                        "Saved. The terms are now version %(v)s; licences already issued keep "
                        "theirs.",
                        v=terms.version,
                    ),
                    "success",
                )
            else:
                flash(_("Saved."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    status = 422 if request.method == "POST" else 200
    return _film_page(film, form), status


@bp.route("/films/<int:film_id>/formats", methods=["POST"])
def format_add(film_id: int) -> BaseResponse | tuple[str, int]:
    film = _film(film_id)
    form = FormatForm()
    if form.validate_on_submit():
        try:
            distribution.add_format(
                film,
                name=form.name.data,
                kind=form.kind.data,
                download_url=form.download_url.data or "",
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Format added."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    return _film_page(film, FilmForm(obj=film, formdata=None), format_form=form), 422


@bp.route("/formats/<int:format_id>", methods=["POST"])
def format_edit(format_id: int) -> BaseResponse:
    fmt = db.session.get(ScreeningFormat, format_id)
    if fmt is None:
        abort(404)
    form = FormatForm()
    if form.validate_on_submit():
        try:
            distribution.update_format(
                fmt,
                name=form.name.data,
                kind=form.kind.data,
                download_url=form.download_url.data or "",
                is_active=bool(form.is_active.data),
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Format saved."), "success")
    else:
        flash(_("Check the format's fields: %(errors)s", errors=form.errors), "error")
    return redirect(url_for(".film_edit", film_id=fmt.film_id))


@bp.route("/films/<int:film_id>/materials", methods=["POST"])
def material_add(film_id: int) -> BaseResponse | tuple[str, int]:
    film = _film(film_id)
    form = MaterialForm()
    if form.validate_on_submit():
        try:
            distribution.add_material(
                film, kind=form.kind.data, label=form.label.data, url=form.url.data
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Material added; it goes into every licence e-mail."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    return _film_page(film, FilmForm(obj=film, formdata=None), material_form=form), 422


@bp.route("/materials/<int:material_id>/delete", methods=["POST"])
def material_delete(material_id: int) -> BaseResponse:
    material = db.session.get(ScreeningMaterial, material_id)
    if material is None:
        abort(404)
    film_id = material.film_id
    if RemoveForm().validate_on_submit():
        distribution.remove_material(material)
        flash(_("Material removed."), "success")
    return redirect(url_for(".film_edit", film_id=film_id))
