"""Keep secrets and personal data out of logs.

Redaction happens when a log record is *created* (a record factory), not in one handler,
so it covers every handler and formatter an operator or a test attaches later. The
message is rendered once, redacted, and frozen; string ``extra`` fields and tracebacks
are redacted too. ``structlog_processor`` does the same for structlog event dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from headway.guards.pii import Redactor

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact_log_record(record: logging.LogRecord, redactor: Redactor) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not lose the log line
        message = str(record.msg)
    record.msg, record.args = redactor.text(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redactor.text(logging.Formatter().formatException(record.exc_info))
    for key, value in list(record.__dict__.items()):
        if key not in _STANDARD and isinstance(value, str):
            record.__dict__[key] = redactor.text(value)
    return record


class LogRedaction:
    """Installs a redacting log-record factory for as long as a runtime runs."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.active = False
        self._previous: Callable[..., logging.LogRecord] | None = None

    def install(self) -> None:
        if self.active:
            return
        previous = logging.getLogRecordFactory()
        self._previous = previous

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            return redact_log_record(record, self.redactor) if self.active else record

        self._factory = factory
        logging.setLogRecordFactory(factory)
        self.active = True

    def uninstall(self) -> None:
        # Another runtime may have stacked its factory on ours: then ours stays in the chain, inert.
        self.active = False
        if self._previous is not None and logging.getLogRecordFactory() is getattr(self, "_factory", None):
            logging.setLogRecordFactory(self._previous)


def structlog_processor(redactor: Redactor) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    """A structlog processor redacting every string value of the event dict."""

    def process(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if isinstance(value, str):
                event[key] = redactor.text(value)
        return event

    return process
