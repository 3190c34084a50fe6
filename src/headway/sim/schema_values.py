"""Deterministic JSON values that satisfy a JSON schema (tool arguments, structured output).

Supported: ``type`` (one or a list), ``properties``/``required`` (every property is
filled, as OpenAI's strict mode demands), ``items``/``prefixItems``, ``minItems``/
``maxItems``, ``enum``, ``const``, ``minimum``/``maximum`` (and exclusive forms),
``multipleOf`` for integers, ``minLength``/``maxLength``, common string ``format``\\s,
``anyOf``/``oneOf`` (the first non-null option), ``allOf`` (merged), and local ``$ref``
(``#/$defs/...``, ``#/definitions/...``). Not supported: ``pattern`` and
``patternProperties`` — the value is generated as if they were absent.
"""

from __future__ import annotations

import random
from typing import Any

_WORDS = (
    "alpha", "bravo", "cedar", "delta", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kestrel", "lumen", "meadow", "nimbus", "orchid", "prairie",
)  # fmt: skip
_FORMATS = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/sim",
    "url": "https://example.com/sim",
    "uri-reference": "https://example.com/sim",
    "iri": "https://example.com/sim",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "duration": "PT1M",
}
_MAX_DEPTH = 8  # below this only required properties and minimum lengths are produced


class SchemaValues:
    """Generates values for ``root`` (which also holds the ``$defs`` that refs point into)."""

    def __init__(self, root: Any, rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def generate(self) -> Any:
        return self.value(self._root, "value", 0)

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if schema is True or not isinstance(schema, dict):
            return self._string({}, name)
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self._rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self._resolve(option) for option in schema[key] if isinstance(option, dict)]
                usable = [option for option in options if option.get("type") != "null"] or options
                return self.value(usable[0], name, depth) if usable else None
        if schema.get("allOf"):
            return self.value(self._merge_all_of(schema), name, depth)
        kind = self._type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, name)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            target = self._pointer(schema["$ref"])
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **rest} if isinstance(target, dict) else rest
            seen += 1
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}  # remote refs are out of scope: fall back to "any"
        node: Any = self._root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            if not isinstance(part, dict):
                continue
            part = self._resolve(part)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete = [item for item in kind if item != "null"]
            kind = concrete[0] if concrete else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        result: dict[str, Any] = {}
        for key, subschema in properties.items():
            if depth >= _MAX_DEPTH and key not in required:
                continue
            result[key] = self.value(subschema, key, depth + 1)
        for key in required - result.keys():  # required but undeclared: any value will do
            result[key] = self._string({}, key)
        return result

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # draft-4 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = low if depth >= _MAX_DEPTH else max(low, 1)
        if high is not None:
            count = min(count, int(high))
        values: list[Any] = []
        for index in range(count):
            if prefix and index < len(prefix):
                candidate = self.value(prefix[index], name, depth + 1)
            else:
                candidate = self.value(items, name, depth + 1)
            if schema.get("uniqueItems"):
                for _ in range(8):
                    if candidate not in values:
                        break
                    candidate = self.value(items, name, depth + 1)
            values.append(candidate)
        return values

    def _bounds(self, schema: dict[str, Any], step: float) -> tuple[float, float]:
        low = float(schema.get("minimum", float("-inf")))
        high = float(schema.get("maximum", float("inf")))
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            low = max(low, float(schema["exclusiveMinimum"]) + step)
        if isinstance(schema.get("exclusiveMaximum"), int | float):
            high = min(high, float(schema["exclusiveMaximum"]) - step)
        if low == float("-inf"):
            low = min(0.0, high - 100.0) if high != float("inf") else 0.0
        if high == float("inf"):
            high = low + 100.0
        return low, max(low, high)

    def _integer(self, schema: dict[str, Any]) -> int:
        low, high = self._bounds(schema, 1.0)
        lo, hi = int(-(-low // 1)), int(high // 1)  # ceil, floor
        value = self._rng.randint(lo, max(lo, hi))
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            value = -(-lo // step) * step  # the smallest multiple within bounds
        return value

    def _number(self, schema: dict[str, Any]) -> float:
        low, high = self._bounds(schema, 0.01)
        if high <= low:
            return low
        return min(max(round(self._rng.uniform(low, high), 2), low), high)

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            text = "%08x-%04x-4%03x-8%03x-%012x" % (  # noqa: UP031 - fixed-width hex fields
                self._rng.getrandbits(32),
                self._rng.getrandbits(16),
                self._rng.getrandbits(12),
                self._rng.getrandbits(12),
                self._rng.getrandbits(48),
            )
        elif fmt in _FORMATS:
            text = _FORMATS[fmt]
        else:
            text = f"{name} {self._rng.choice(_WORDS)}"
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None:
            text = text[: int(high)]
        return text


def schema_value(schema: Any, rng: random.Random) -> Any:
    """A value satisfying ``schema`` (within the limits listed in this module's docstring)."""
    return SchemaValues(schema, rng).generate()
