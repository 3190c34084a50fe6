"""Field types as seen in data, observed schemas, and the difference between two schemas.

Values are typed by what they look like, so a CSV's "42" is an integer and
"2026-01-05" a datetime. A column's type is its dominant type; integers count as
numbers when both occur. Renames are found as a removed-plus-added pair whose values
overlap (a sample of value hashes is kept per column), or, failing that, as the only
removed and the only added column of the same type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_BOOL = {"true": True, "false": False}
SAMPLE_SIZE = 200


def parse_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def epoch(value: Any) -> float | None:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.replace(tzinfo=dt.UTC).timestamp()


def infer_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if not isinstance(value, str):
        return "string"
    stripped = value.strip()
    if _INT.fullmatch(stripped):
        return "integer"
    if _FLOAT.fullmatch(stripped):
        return "number"
    if stripped.lower() in _BOOL:
        return "boolean"
    if parse_datetime(stripped) is not None:
        return "datetime"
    return "string"


def conforms(value: Any, expected: str) -> bool:
    """Whether a non-null value is of ``expected`` type (an integer is also a number; anything is a string)."""
    actual = infer_type(value)
    return actual == expected or (expected == "number" and actual == "integer") or expected == "string"


def to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def value_hash(value: Any) -> str:
    return hashlib.blake2b(str(value).strip().lower().encode(), digest_size=6).hexdigest()


@dataclass(slots=True)
class ObservedColumn:
    types: Counter[str] = field(default_factory=Counter)
    nulls: int = 0
    sample: set[str] = field(default_factory=set)

    @property
    def dominant(self) -> str:
        if not self.types:
            return "string"
        numbers = self.types["integer"] + self.types["number"]
        best, count = self.types.most_common(1)[0]
        if self.types["number"] and numbers >= count:
            return "number"
        return best

    @property
    def consistency(self) -> float:
        total = sum(self.types.values())
        if not total:
            return 1.0
        dominant = self.dominant
        good = self.types[dominant] + (self.types["integer"] if dominant == "number" else 0)
        return good / total


def observe(rows: Iterable[dict[str, Any]]) -> dict[str, ObservedColumn]:
    columns: dict[str, ObservedColumn] = {}
    for row in rows:
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = ObservedColumn()
            kind = infer_type(value)
            if kind is None:
                column.nulls += 1
                continue
            column.types[kind] += 1
            if len(column.sample) < SAMPLE_SIZE:
                column.sample.add(value_hash(value))
    return columns


@dataclass(slots=True)
class SchemaDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    type_changed: list[dict[str, str]] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.type_changed or self.renamed)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "type_changed": self.type_changed,
            "renamed": self.renamed,
        }


def compatible(expected: str, observed: str) -> bool:
    return expected == observed or expected == "string" or (expected == "number" and observed == "integer")


def diff(accepted: dict[str, Any], observed: dict[str, ObservedColumn]) -> SchemaDiff:
    result = SchemaDiff()
    added = [name for name in observed if name not in accepted]
    removed = [name for name in accepted if name not in observed]
    for name in accepted:
        if name in observed and observed[name].types.total():
            before, now = accepted[name]["type"], observed[name].dominant
            if not compatible(before, now):
                result.type_changed.append({"field": name, "from": before, "to": now})
    for old in list(removed):
        old_sample = set(accepted[old].get("sample") or [])
        best, best_overlap = None, 0.0
        for new in added:
            new_sample = observed[new].sample
            if old_sample and new_sample:
                overlap = len(old_sample & new_sample) / min(len(old_sample), len(new_sample))
                if overlap > best_overlap:
                    best, best_overlap = new, overlap
        if best is not None and best_overlap >= 0.5:
            result.renamed.append({"from": old, "to": best})
            removed.remove(old)
            added.remove(best)
    if (
        len(removed) == 1
        and len(added) == 1
        and compatible(accepted[removed[0]]["type"], observed[added[0]].dominant)
    ):
        result.renamed.append({"from": removed.pop(), "to": added.pop()})
    result.added, result.removed = added, removed
    return result
