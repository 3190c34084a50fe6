"""Pure parts: token rule, schema-driven values, scenario merging, timing draws."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headway.sim import Scenario
from headway.sim.faults import Applicability, FaultQueue, choose_fault, parse_directives, strip_directives
from headway.sim.schema_values import schema_value
from headway.sim.timing import draw_timing
from headway.sim.tokens import count_tokens, split_pieces, truncate_tokens

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string", "minLength": 30, "maxLength": 40},
    {"type": "string", "maxLength": 3},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "date-time"},
    {"type": "integer", "minimum": -5, "maximum": -2},
    {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 12},
    {"type": "integer", "minimum": 7, "multipleOf": 5},
    {"type": "number", "minimum": 0.5, "maximum": 0.75},
    {"type": ["null", "boolean"]},
    {"enum": ["red", "green", 3]},
    {"const": {"fixed": True}},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 4},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 2, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "minItems": 2},
    {
        "anyOf": [
            {"type": "null"},
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        ]
    },
    {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"]}]},
    {
        "type": "object",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "integer"}},
            }
        },
        "properties": {"root": {"$ref": "#/$defs/node"}},
        "required": ["root"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "definitions": {"tag": {"type": "string", "enum": ["x", "y"]}},
        "properties": {"tags": {"type": "array", "items": {"$ref": "#/definitions/tag"}}},
        "required": ["tags"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_schema_values_validate(schema: dict[str, Any], seed: int) -> None:
    value = schema_value(schema, random.Random(seed))
    jsonschema.validate(value, schema)


def test_schema_values_are_deterministic() -> None:
    schema = SCHEMAS[-2]
    assert schema_value(schema, random.Random(5)) == schema_value(schema, random.Random(5))


def test_token_rule() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("  spaced   out  ") == 2
    assert count_tokens('{"a": 12}') == 7  # { " a " : 12 }
    assert truncate_tokens("one, two three", 2) == ("one,", True)
    assert truncate_tokens("one two", 5) == ("one two", False)


@given(st.text(max_size=80))
def test_pieces_rebuild_text_one_token_each(text: str) -> None:
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    if text.strip():
        assert len(pieces) == count_tokens(text)


def test_directives() -> None:
    text = "Summarise this [sim:fault=500] please [sim:latency_ms=20]"
    assert parse_directives(text) == {"fault": "500", "latency_ms": "20"}
    assert strip_directives(text) == "Summarise this  please "
    assert parse_directives("no directives here") == {}


def test_choose_fault_skips_what_cannot_show() -> None:
    scenario = Scenario.model_validate({"faults": {"rates": {"bad_tool_json": 1.0}}})
    queue = FaultQueue()
    queue.add("bad_json_schema", count=1)
    plain = Applicability(generates=True, has_tool_call=False, wants_json=False)
    args: dict[str, Any] = {
        "headers": {},
        "directives": {},
        "queue": queue,
        "rng": random.Random(0),
        "model": "m",
    }
    assert choose_fault(settings=scenario.faults, applicability=plain, **args) == (None, "none")
    assert len(queue) == 1  # not consumed by a request it cannot affect
    with_json = Applicability(generates=True, has_tool_call=False, wants_json=True)
    assert choose_fault(settings=scenario.faults, applicability=with_json, **args) == (
        "bad_json_schema",
        "queue",
    )
    with_tool = Applicability(generates=True, has_tool_call=True, wants_json=False)
    assert choose_fault(settings=scenario.faults, applicability=with_tool, **args) == (
        "bad_tool_json",
        "rate",
    )


def test_per_model_dials_inherit_unset_fields() -> None:
    scenario = Scenario.model_validate(
        {
            "latency_ms": 10,
            "output_tokens": 5,
            "faults": {"retry_after_s": 7, "rates": {"500": 0.5}},
            "models": {"m": {"latency_ms": 99, "faults": {"rates": {"429": 0.1}}}},
        }
    )
    model = scenario.dials_for("m")
    assert model.latency_ms == 99 and model.output_tokens == 5
    assert model.faults.rates == {"429": 0.1} and model.faults.retry_after_s == 7
    other = scenario.dials_for("other")
    assert other.latency_ms == 10 and other.faults.rates == {"500": 0.5}


def test_timing_draws_and_overrides() -> None:
    scenario = Scenario.model_validate(
        {
            "latency_ms": {"dist": "normal", "mean": 5, "stddev": 50},
            "ttft_ms": {"dist": "lognormal", "median": 20, "sigma": 1},
        }
    )
    rng = random.Random(1)
    draws = [draw_timing(scenario, rng, {}) for _ in range(200)]
    assert all(timing.latency >= 0 and timing.ttft > 0 for timing in draws)
    assert len({timing.ttft for timing in draws}) > 100
    forced = draw_timing(scenario, rng, {"latency_ms": 250, "itl_ms": 4})
    assert (forced.latency, forced.itl) == (0.25, 0.004)
    slow = draw_timing(scenario, rng, {}, slow_first_token=True)
    assert slow.ttft == scenario.faults.slow_first_token_ms / 1000
