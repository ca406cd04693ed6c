"""WHERE-clause pieces that both engines accept."""

from __future__ import annotations

from datetime import datetime

from core.models import iso


def time_range(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """A condition for `since <= column < until` (ISO text columns), either end open when None.

    Built in Python rather than as `(? IS NULL OR column >= ?)`: PostgreSQL cannot tell the
    type of a parameter that is only compared with NULL, and refuses the statement.
    """
    conditions, params = ["1 = 1"], []
    for operator, moment in ((">=", since), ("<", until)):
        text = iso(moment)
        if text is not None:
            conditions.append(f"{column} {operator} ?")
            params.append(text)
    return " AND ".join(conditions), params
