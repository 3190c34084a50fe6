"""Hold one record to a data contract: required, type, range, pattern, allowed values.

Uniqueness spans records, so ``UniqueTracker`` sees them in order and reports the later
copies. Everything here is pure: a list of violations in, a list of violations out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headway.config import FieldRule
from headway.pipelines.schema import conforms, epoch, to_number


@dataclass(frozen=True, slots=True)
class Violation:
    field: str
    rule: str  # required | type | min | max | pattern | allowed | unique | schema_new_column | ...
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "detail": self.detail}


def _bound(value: Any, rule_type: str) -> float | None:
    return epoch(value) if rule_type == "datetime" else to_number(value)


def check_value(
    name: str, value: Any, rule: FieldRule, patterns: Mapping[str, re.Pattern[str]]
) -> list[Violation]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return [Violation(name, "required", "missing")] if rule.required else []
    if not conforms(value, rule.type):
        return [Violation(name, "type", f"{str(value)[:80]!r} is not {rule.type}")]
    found: list[Violation] = []
    if rule.min is not None or rule.max is not None:
        measured = (
            _bound(value, rule.type)
            if rule.type in ("integer", "number", "datetime")
            else float(len(str(value)))
        )
        low = (
            None
            if rule.min is None
            else _bound(rule.min, rule.type)
            if rule.type == "datetime"
            else to_number(rule.min)
        )
        high = (
            None
            if rule.max is None
            else _bound(rule.max, rule.type)
            if rule.type == "datetime"
            else to_number(rule.max)
        )
        if measured is not None and low is not None and measured < low:
            found.append(Violation(name, "min", f"{value!r} is below {rule.min!r}"))
        if measured is not None and high is not None and measured > high:
            found.append(Violation(name, "max", f"{value!r} is above {rule.max!r}"))
    pattern = patterns.get(name)
    if pattern is not None and not pattern.fullmatch(str(value)):
        found.append(Violation(name, "pattern", f"{str(value)[:80]!r} does not match {pattern.pattern!r}"))
    if (
        rule.allowed is not None
        and value not in rule.allowed
        and str(value) not in {str(a) for a in rule.allowed}
    ):
        found.append(Violation(name, "allowed", f"{str(value)[:80]!r} is not one of the allowed values"))
    return found


def compile_patterns(rules: Mapping[str, FieldRule]) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(rule.pattern) for name, rule in rules.items() if rule.pattern}


def check_record(
    fields: Mapping[str, Any],
    rules: Mapping[str, FieldRule],
    patterns: Mapping[str, re.Pattern[str]],
    *,
    absent_ok: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Violations of one record; fields in ``absent_ok`` (removed by an accepted schema change) are not required."""
    found: list[Violation] = []
    for name, rule in rules.items():
        if name in absent_ok and name not in fields:
            continue
        found.extend(check_value(name, fields.get(name), rule, patterns))
    return found


@dataclass(slots=True)
class UniqueTracker:
    """Sees records in order; a value seen before under a unique field is a violation."""

    fields: tuple[str, ...]
    _seen: dict[str, set[str]] = field(default_factory=dict)

    def check(self, record: Mapping[str, Any]) -> list[Violation]:
        found = []
        for name in self.fields:
            value = record.get(name)
            if value is None:
                continue
            seen = self._seen.setdefault(name, set())
            marker = str(value).strip().lower()
            if marker in seen:
                found.append(Violation(name, "unique", f"{str(value)[:80]!r} appears more than once"))
            else:
                seen.add(marker)
        return found
