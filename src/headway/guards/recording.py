"""A request log that redacts each record as it is handed over, before it is buffered.

Redacting at the hand-over (not at the store) means the spill journal, any later sink
and every reader of the buffer only ever see the redacted record.
"""

from __future__ import annotations

from typing import Any

from headway.guards.inspect import Guards
from headway.observe import RequestLog
from headway.types import RequestRecord


class RedactingRequestLog(RequestLog):
    def __init__(self, *args: Any, guards: Guards, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guards = guards

    def record(self, record: RequestRecord) -> None:
        super().record(self.guards.redact_record(record))
