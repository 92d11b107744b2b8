"""The history of a screening: who did what, when, and which fields changed."""

from __future__ import annotations

import json
from typing import Any

from ..extensions import db
from ..models import Screening, ScreeningChange


def record_change(screening: Screening, actor: str, action: str, **details: Any) -> None:
    """Add a history entry to the caller's transaction."""
    db.session.add(
        ScreeningChange(
            screening=screening,
            actor=actor[:300],
            action=action,
            details_json=json.dumps(details, ensure_ascii=False, default=str),
        )
    )
