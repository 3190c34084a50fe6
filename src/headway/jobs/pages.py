"""A caller's own rows, newest first, a page at a time (jobs, batches and files list alike).

Ownership is the same caller and the same team (or both without one), as ``models.owned_by``
says for one row. Pages are keyset-paginated on ``(created_at, id)`` after the last id of
the previous page, so a row added meanwhile neither repeats nor skips one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, CursorResult, Select, Table, and_, or_, select


def owned_page(
    connection: Connection, table: Table, statement: Select[Any], *, caller: str, team: str | None, after: str | None, limit: int
) -> CursorResult[Any]:
    c = table.c
    statement = statement.where(c.caller == caller, c.team.is_(None) if team is None else c.team == team)
    if after is not None:
        cursor = connection.execute(select(c.created_at).where(c.id == after)).first()
        if cursor is not None:
            statement = statement.where(
                or_(c.created_at < cursor.created_at, and_(c.created_at == cursor.created_at, c.id < after))
            )
    return connection.execute(statement.order_by(c.created_at.desc(), c.id.desc()).limit(limit))
