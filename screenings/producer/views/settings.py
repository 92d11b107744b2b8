"""The producer's own settings, the embed snippet and the private feed's address."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from ...services import DomainError, alerts, producers
from ...urls import external_url
from ...views import form_error
from .. import bp
from ..forms import SettingsForm


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> BaseResponse | tuple[str, int]:
    form = SettingsForm()
    if request.method == "GET":
        form.timezone.data = current_user.timezone
        form.alert_mode.data = current_user.alert_mode
    elif form.validate_on_submit():
        try:
            producers.set_timezone(current_user._get_current_object(), form.timezone.data)
            alerts.set_alert_mode(current_user._get_current_object(), form.alert_mode.data)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for(".settings"))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/settings.html", form=form, **_sharing()), status


def _sharing() -> dict:
    """The embed snippet for the film's website and the private feed's address, if set."""
    secret = current_app.config.get("PRODUCER_FEED_TOKEN") or ""
    feed_url = external_url("public.feed_producer", token=secret) if len(secret) >= 16 else None
    embed_url = external_url("public.embed")
    snippet = (
        f'<iframe src="{embed_url}" title="Screenings near you" width="100%" height="640" '
        'loading="lazy" style="border:0"></iframe>'
    )
    return {"feed_url": feed_url, "embed_snippet": snippet}
