"""The one reading of ``--since``: a date, an ISO datetime, or ``last``.

Import-light (the standard library only), so the CLI and recipe models can use it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

__all__ = ["SINCE_FORMS", "parse_since"]

SINCE_FORMS = "YYYY-MM-DD, an ISO datetime (e.g. 2024-02-15T12:00:00+00:00; UTC when no offset is given) or 'last'"


def parse_since(text: str | None) -> datetime | Literal["last"] | None:
    """``--since`` as the miners take it: None for no bound (None or blank text),
    ``"last"`` (what is new since the last completed run), else a time-zone aware
    datetime (a date is its midnight UTC). Raises ``ValueError`` naming the accepted forms."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if value.lower() == "last":
        return "last"
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "zZ" else value)
    except ValueError:
        raise ValueError(f"--since {text!r} is not understood: give {SINCE_FORMS}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
