"""``ResponseStore``: stored Responses for retrieve, delete, input items and ``previous_response_id``.

A response is visible only to the caller that created it (another caller's id is a 404, as
if it did not exist). Erasure removes a subject's responses, matched by caller and by the
request's ``user`` / ``metadata.subject``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from headway.auth import ErasureHook, Subject
from headway.dialects.tables import stored_responses
from headway.store import Database, SqlRepository
from headway.types import JSON


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response_id: str
    caller: str
    response: JSON
    input_items: list[JSON]
    conversation: list[JSON]  # chat messages up to and including this response's output


def subject_of(body: JSON) -> str | None:
    metadata = body.get("metadata")
    subject = metadata.get("subject") if isinstance(metadata, dict) else None
    value = subject if isinstance(subject, str) else body.get("user")
    return value[:200] if isinstance(value, str) and value else None


class ResponseStore(SqlRepository):
    def save(self, stored: StoredResponse, *, subject: str | None) -> None:
        row: dict[str, Any] = {
            "response_id": stored.response_id,
            "caller": stored.caller,
            "subject": subject,
            "created_at": time.time(),
            "status": str(stored.response.get("status")),
            "response": stored.response,
            "input_items": stored.input_items,
            "conversation": stored.conversation,
        }
        with self.transaction("store a response") as connection:
            connection.execute(insert(stored_responses).values(**row))

    def get(self, response_id: str, caller: str) -> StoredResponse | None:
        table = stored_responses
        statement = select(table).where(table.c.response_id == response_id, table.c.caller == caller)
        with self.reading("read a stored response") as connection:
            row = connection.execute(statement).mappings().first()
        if row is None:
            return None
        return StoredResponse(row["response_id"], row["caller"], row["response"], row["input_items"], row["conversation"])

    def set_response(self, response_id: str, caller: str, response: JSON) -> bool:
        table = stored_responses
        statement = (
            update(table)
            .where(table.c.response_id == response_id, table.c.caller == caller)
            .values(response=response, status=str(response.get("status")))
        )
        with self.transaction("update a stored response") as connection:
            return bool(connection.execute(statement).rowcount)

    def transition(
        self, response_id: str, caller: str, response: JSON, *, only_from: tuple[str, ...], conversation: list[JSON] | None = None
    ) -> bool:
        """Replace a response (and its conversation) only while its status is one of ``only_from``.

        A background response moves queued → in_progress → completed/failed this way, so a
        cancel that landed first is never overwritten."""
        table = stored_responses
        values: dict[str, Any] = {"response": response, "status": str(response.get("status"))}
        if conversation is not None:
            values["conversation"] = conversation
        statement = (
            update(table)
            .where(table.c.response_id == response_id, table.c.caller == caller, table.c.status.in_(only_from))
            .values(**values)
        )
        with self.transaction("update a stored response") as connection:
            return bool(connection.execute(statement).rowcount)

    def delete(self, response_id: str, caller: str) -> bool:
        table = stored_responses
        statement = delete(table).where(table.c.response_id == response_id, table.c.caller == caller)
        with self.transaction("delete a stored response") as connection:
            return bool(connection.execute(statement).rowcount)

    def erase(self, subject: Subject) -> int:
        table = stored_responses
        ids = list(subject.identifiers)
        statement = delete(table).where(or_(table.c.caller.in_(ids), table.c.subject.in_(ids)))
        with self.transaction("erase stored responses") as connection:
            return int(connection.execute(statement).rowcount or 0)


def erasure_hook(database: Database) -> ErasureHook:
    """The erasure hook the runtime registers as ``responses``."""
    return ResponseStore(database).erase
