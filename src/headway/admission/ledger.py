"""Spend so far in a budget period, read from the request log: the durable ledger of budgets.

Backends keep budgets as fast counters; when one holds no figure for a period (the
period just began, Redis restarted, or a degraded replica refreshes its local view), the
figure is the sum of ``cost_usd`` the request log holds for that key or team since the
period began. Records still buffered in a replica (at most a flush interval old) are
not in the sum.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import func, select

from headway.store import Database, requests


class SpendLedger:
    def __init__(self, database: Database | None) -> None:
        # Without a database (an admission stage built for tests or disabled), spend starts at zero.
        self._database = database

    def spent_usd(self, scope: Literal["key", "team"], name: str, since: float) -> float:
        if self._database is None:
            return 0.0
        column = requests.c.caller if scope == "key" else requests.c.team
        statement = select(func.coalesce(func.sum(requests.c.cost_usd), 0.0)).where(
            column == name, requests.c.created_at >= since
        )
        with self._database.connect(f"read spend for {scope} {name!r}") as connection:
            return float(connection.execute(statement).scalar() or 0.0)
