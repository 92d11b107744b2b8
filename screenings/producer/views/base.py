"""What every section of the producer's pages shares: who is acting, the templates' helpers,
a screening by its id, and CSV downloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, request, stream_with_context, url_for
from flask_login import current_user

from ...extensions import db
from ...models import Screening, utcnow
from ...services import dashboard as board
from .. import bp


def actor() -> str:
    """Who the history and the audit log say made a change."""
    return f"producer:{current_user.email}"


@bp.context_processor
def producer_helpers() -> dict[str, object]:
    """Template helpers: the producer's own time, and links that keep the current query."""
    zone = producer_zone()

    def producer_time(screening: Screening) -> str:
        return time_in_zone(screening.starts_at, zone)

    def query_with(**changes: int | str | None) -> str:
        args: dict[str, int | str] = {**request.args.to_dict()}
        args.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            args.pop(key, None)
        values: dict[str, Any] = {**(request.view_args or {}), **args}
        return url_for(request.endpoint or "", **values)

    return {
        "producer_time": producer_time,
        "producer_zone": zone.key,
        "query_with": query_with,
        "pending_total": board.pending_count,
    }


def producer_zone() -> ZoneInfo:
    """The zone the producer reads times in (their settings)."""
    return ZoneInfo(getattr(current_user, "timezone", None) or "UTC")


def time_in_zone(starts_at: datetime, zone: ZoneInfo) -> str:
    """A screening's start (naive UTC) as the producer reads it, with their zone's name."""
    local = starts_at.replace(tzinfo=UTC).astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M} ({zone.key})"


def screening_or_404(screening_id: int) -> Screening:
    """The screening a producer URL names, or 404."""
    screening = db.session.get(Screening, screening_id)
    if screening is None:
        abort(404)
    return screening


def csv_download(lines: Iterator[str], name: str) -> Response:
    """Stream CSV lines as a dated attachment that no cache keeps."""
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
