"""``Guards``: the input guards of the request path, composed from config.

One object per runtime. ``inspect_chat`` / ``inspect_embeddings`` run before routing
(limits, injection heuristics, optional upstream redaction) and return the body to send
upstream; ``inspect_context`` judges retrieved text; ``redact_record`` cleans a request
record before it is buffered, so nothing unredacted reaches the store or the spill file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from headway.config import GuardsConfig
from headway.errors import InvalidRequestError
from headway.guards.injection import InjectionFinding, scan_texts
from headway.guards.limits import check_chat_limits, check_embeddings_limits
from headway.guards.messages import message_texts, rewrite_message
from headway.guards.pii import Pseudonyms, Redactor
from headway.types import RequestRecord

REVIEW_REQUESTED = "requested"
# Metadata keys that identify the person a request is about; erasure finds records by them.
SUBJECT_KEYS = ("subject", "user")


@dataclass(frozen=True, slots=True)
class ContextVerdict:
    """Which retrieved texts to keep (indices) and what the heuristics found in the others."""

    keep: list[int]
    findings: list[InjectionFinding]


class Guards:
    def __init__(self, config: GuardsConfig, *, secrets: Iterable[str] = (), pseudonym_key: bytes = b"") -> None:
        self.config = config
        self.pseudonyms = Pseudonyms(pseudonym_key)
        kinds = set(config.pii.kinds) if config.pii.enabled else set()
        # Credentials are redacted from what is stored and logged even when PII redaction is off.
        self.redactor = Redactor(kinds | {"secret"}, literals=secrets)
        self._untrusted_roles = frozenset(config.injection.roles)

    # -- before routing -----------------------------------------------------------------
    def inspect_chat(self, body: dict[str, Any], record: RequestRecord) -> dict[str, Any]:
        check_chat_limits(body, self.config.limits)
        messages = body.get("messages") or []
        if self.config.injection.enabled:
            sources = (
                (f"messages[{i}]", text)
                for i, message in enumerate(messages)
                if isinstance(message, dict) and message.get("role") in self._untrusted_roles
                for text in message_texts(message)
            )
            self._act_on_injection(scan_texts(sources), record, "input")
        if self.config.pii.redact_upstream:
            redacted = [rewrite_message(m, self.redactor.text) for m in messages]
            if any(new is not old for new, old in zip(redacted, messages, strict=True)):
                record.quality["pii_redacted_upstream"] = True
                return {**body, "messages": redacted}
        return body

    def inspect_embeddings(self, body: dict[str, Any], record: RequestRecord) -> dict[str, Any]:
        check_embeddings_limits(body, self.config.limits)
        if not self.config.pii.redact_upstream:
            return body
        value = body.get("input")
        if isinstance(value, str):
            new: Any = self.redactor.text(value)
        elif isinstance(value, list):
            new = [self.redactor.text(v) if isinstance(v, str) else v for v in value]
        else:
            return body
        if new == value:
            return body
        record.quality["pii_redacted_upstream"] = True
        return {**body, "input": new}

    def inspect_context(self, texts: Sequence[str], record: RequestRecord) -> ContextVerdict:
        """Judge retrieved texts: with ``action: block`` the suspicious ones are dropped, not the request."""
        if not self.config.injection.enabled:
            return ContextVerdict(list(range(len(texts))), [])
        findings = scan_texts((f"context[{i}]", t) for i, t in enumerate(texts))
        if findings:
            flagged = {int(f.source[len("context[") : -1]) for f in findings}
            self._note(findings, record, "context")
            if self.config.injection.action == "block":
                return ContextVerdict([i for i in range(len(texts)) if i not in flagged], findings)
        return ContextVerdict(list(range(len(texts))), findings)

    def _act_on_injection(self, findings: list[InjectionFinding], record: RequestRecord, where: str) -> None:
        if not findings:
            return
        self._note(findings, record, where)
        if self.config.injection.action == "block":
            rules = sorted({rule for f in findings for rule in f.rules})
            raise InvalidRequestError(
                f"the request was refused by the prompt-injection guard (rules: {', '.join(rules)}; "
                f"in {', '.join(f.source for f in findings)})",
                param=findings[0].source,
                code="prompt_injection_detected",
            )

    def _note(self, findings: list[InjectionFinding], record: RequestRecord, where: str) -> None:
        action = self.config.injection.action
        entry = record.quality.setdefault("injection", {"action": action, "findings": []})
        entry["findings"].extend({**f.to_dict(), "in": where} for f in findings)
        if action == "review":
            record.quality["review"] = REVIEW_REQUESTED

    # -- before storing -----------------------------------------------------------------
    def redact_record(self, record: RequestRecord) -> RequestRecord:
        """Redact, in place, every free-text field of a record; returns it for chaining."""
        text = self.redactor.text
        if record.error_message:
            record.error_message = text(record.error_message)
        if record.metadata:
            record.metadata = self._redact_metadata(record.metadata)
        for attempt in record.attempts:
            if attempt.error_message:
                attempt.error_message = text(attempt.error_message)
        if record.quality:
            record.quality = self.redactor.value(record.quality)
        return record

    def _redact_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        # A subject that is itself personal data (an email) is stored as a pseudonym, so the
        # record stays clean and erasure can still find it (see ``Pseudonyms``).
        subjects = {
            key: self.pseudonyms.of(value)
            for key in SUBJECT_KEYS
            if isinstance(value := metadata.get(key), str) and self.redactor.findings(value)
        }
        cleaned = self.redactor.value({k: v for k, v in metadata.items() if k not in subjects})
        return {**cleaned, **subjects}
