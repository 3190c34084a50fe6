"""Conditions over a model's structured output or a tool call's arguments: ``$.amount > 500``.

The left side is a JSONPath (RFC 9535, evaluated by ``python-jsonpath``); the right side a
JSON literal (a number, a quoted string, ``true``/``false``/``null``) or a bare word taken
as a string. A condition holds when any value the path selects compares true: numbers
compare as numbers, strings as strings; values of different kinds are unequal and never
ordered (``"900"`` is not ``> 500``); a missing field holds nothing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonpath
import orjson

_FORM = re.compile(r"^\s*(\$\S*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return None


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    path: jsonpath.JSONPath | Any
    op: str
    value: Any

    def holds(self, data: Any) -> bool:
        compare = _OPERATORS[self.op]
        wanted = _kind(self.value)
        for found in self.path.findall(data):
            kind = _kind(found)
            if kind != wanted or kind is None:  # different kinds are never equal, and never ordered
                if self.op == "!=":
                    return True
                continue
            if kind in ("bool", "null") and self.op not in ("==", "!="):
                continue
            if compare(found, self.value):
                return True
        return False


def parse(text: str) -> Condition:
    """``ValueError`` naming what is wrong when ``text`` is not ``<$path> <op> <literal>``."""
    form = _FORM.fullmatch(text)
    if form is None:
        raise ValueError(f"condition {text!r} must read '<$.json.path> <op> <value>', op one of > >= < <= == !=")
    path_text, op, literal = form.groups()
    try:
        path = jsonpath.compile(path_text)
    except jsonpath.JSONPathError as exc:
        raise ValueError(f"condition {text!r}: bad JSONPath {path_text!r}: {exc}") from None
    try:
        value = orjson.loads(literal)
    except orjson.JSONDecodeError:
        if not _BARE_WORD.fullmatch(literal):
            raise ValueError(f"condition {text!r}: {literal!r} is not a JSON value or a bare word") from None
        value = literal  # a bare word: compared as a string
    if _kind(value) is None:
        raise ValueError(f"condition {text!r}: compare with a number, string, true, false or null")
    return Condition(text, path, op, value)
