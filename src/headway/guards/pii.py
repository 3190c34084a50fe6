"""Find and redact personal data and credentials in text.

Each kind is a pattern plus, where one exists, a checksum that turns "looks like" into
"is very likely" (Luhn for payment cards, the ATO weights for Australian TFNs). Detection
favours recall: a redacted false positive costs a word in a log line, a missed card
number costs a breach notification.

Overlaps resolve by priority: secrets first (a key can contain digits that look like a
phone number), then the checksummed and structured identifiers, then phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from headway.config import PII_KINDS

_SECRET = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:sk|rk|pk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"
    r"|\bhw_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|\bwhsec_[A-Za-z0-9+/=]{16,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{20,}=*"
    r"|(?i:\b(?:api[_-]?key|secret|password|passwd|token)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{8,}"
)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
# Numbers glued to letters are parts of identifiers (request ids, hashes, hex tokens), not
# cards or tax numbers: 9 checksummed digits turn up inside a hex id often enough that
# redacting them broke the links between records (a request id read "req_…[REDACTED:au_tfn]…").
_CARD = re.compile(r"(?<![\w-])\d(?:[ \-]?\d){12,18}(?![\w-])")
_US_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([ \-])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_AU_TFN = re.compile(r"(?<![\w-])\d{3}[ \-]?\d{3}[ \-]?\d{2,3}(?![\w-])")
_UK_NINO = re.compile(
    r"(?i)\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4}(?![\w])")

_TFN_WEIGHTS_9 = (1, 4, 3, 7, 5, 8, 6, 9, 10)
_TFN_WEIGHTS_8 = (10, 7, 8, 4, 6, 3, 5, 1)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in _digits(number)]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def tfn_valid(number: str) -> bool:
    digits = [int(c) for c in _digits(number)]
    weights = _TFN_WEIGHTS_9 if len(digits) == 9 else _TFN_WEIGHTS_8 if len(digits) == 8 else None
    if weights is None or len(set(digits)) == 1:
        return False
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def _phone_like(text: str) -> bool:
    # 8 to 15 digits (E.164 maximum) and some phone-ish shape: a + prefix or separators; not a date.
    if _DATE.fullmatch(text):
        return False
    count = len(_digits(text))
    return 8 <= count <= 15 and (text.startswith(("+", "(")) or any(c in text for c in " .-") or count >= 10)


# Priority order matters: earlier kinds claim their span first.
_DETECTORS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    ("secret", _SECRET, None),
    ("email", _EMAIL, None),
    ("payment_card", _CARD, luhn_valid),
    ("us_ssn", _US_SSN, None),
    ("uk_nino", _UK_NINO, None),
    ("au_tfn", _AU_TFN, tfn_valid),
    ("phone", _PHONE, _phone_like),
)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS, literals: Iterable[str] = ()) -> list[Finding]:
    """Non-overlapping findings in ``text``, in text order. ``literals`` are exact secrets to find too."""
    enabled = frozenset(kinds)
    taken: list[Finding] = []

    def free(start: int, end: int) -> bool:
        return all(end <= f.start or start >= f.end for f in taken)

    for literal in literals:
        start = text.find(literal)
        while start != -1:
            if free(start, start + len(literal)):
                taken.append(Finding("secret", start, start + len(literal)))
            start = text.find(literal, start + len(literal))
    for kind, pattern, check in _DETECTORS:
        if kind not in enabled:
            continue
        for match in pattern.finditer(text):
            if free(match.start(), match.end()) and (check is None or check(match.group())):
                taken.append(Finding(kind, match.start(), match.end()))
    return sorted(taken, key=lambda f: f.start)


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


class Redactor:
    """Redacts the configured kinds (and exact secret values) from text and from JSON-like values."""

    def __init__(self, kinds: Iterable[str] = PII_KINDS, *, literals: Iterable[str] = ()) -> None:
        self.kinds = frozenset(kinds)
        # Short literals would redact ordinary words; real credentials are long.
        self.literals = tuple(sorted({s for s in literals if len(s) >= 8}, key=len, reverse=True))

    def findings(self, text: str) -> list[Finding]:
        return find_pii(text, self.kinds, self.literals)

    def text(self, text: str) -> str:
        findings = self.findings(text)
        if not findings:
            return text
        parts: list[str] = []
        cursor = 0
        for finding in findings:
            parts.append(text[cursor : finding.start])
            parts.append(placeholder(finding.kind))
            cursor = finding.end
        parts.append(text[cursor:])
        return "".join(parts)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


class Pseudonyms:
    """Stable, keyed stand-ins for identifiers that are themselves personal data.

    ``of("ann@example.com")`` is always the same ``psn_…`` for one key, so records stay
    linkable (and erasable) without storing the identifier. With a secret key the mapping
    cannot be reversed by hashing guesses.
    """

    def __init__(self, key: bytes = b"") -> None:
        self._key = key or b"headway-pseudonym-v1"

    def of(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"psn_{digest[:24]}"
