"""Input guards of the request path (limits, injection heuristics, output contracts) and the redaction of what Headway stores or logs. See ``README.md``."""

from headway.guards.contracts import ContractBook, OutputContract
from headway.guards.inspect import Guards
from headway.guards.logs import LogRedaction, structlog_processor
from headway.guards.messages import message_texts
from headway.guards.pii import Redactor
from headway.guards.recording import RedactingRequestLog

__all__ = [
    "ContractBook",
    "Guards",
    "LogRedaction",
    "OutputContract",
    "RedactingRequestLog",
    "Redactor",
    "message_texts",
    "structlog_processor",
]
