"""Output contracts: what is checked, the messages a model can act on, the re-ask, validator reuse."""

from __future__ import annotations

from typing import Any

import pytest

from headway.config import OutputContractConfig
from headway.errors import InvalidRequestError
from headway.guards.contracts import ContractBook

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def answer(content: str | None = None, calls: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)
        ]
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def json_schema_request(schema: Any = SCHEMA) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "q"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    }


def tools_request() -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}],
    }


def test_plain_requests_get_no_contract() -> None:
    assert ContractBook().for_request(OutputContractConfig(), {"messages": []}) is None


def test_json_schema_answers_are_validated() -> None:
    contract = ContractBook().for_request(OutputContractConfig(), json_schema_request())
    assert contract is not None
    assert contract.violation(answer('{"answer": 3}')) is None
    assert "not valid JSON" in (contract.violation(answer("three")) or "")
    problem = contract.violation(answer('{"answer": "three"}')) or ""
    assert "$.answer" in problem and "'three' is not of type 'integer'" in problem
    assert "no text content" in (contract.violation(answer(None)) or "")


def test_json_object_requires_an_object() -> None:
    contract = ContractBook().for_request(OutputContractConfig(), {"response_format": {"type": "json_object"}})
    assert contract is not None
    assert contract.violation(answer('{"a": 1}')) is None
    assert "JSON object" in (contract.violation(answer("[1, 2]")) or "")


def test_model_config_schema_applies_without_response_format() -> None:
    config = OutputContractConfig.model_validate({"schema": SCHEMA})
    contract = ContractBook().for_request(config, {"messages": []})
    assert contract is not None
    assert "required property" in (contract.violation(answer("{}")) or "")


def test_enforcement_can_be_switched_off() -> None:
    config = OutputContractConfig(enforce_response_format=False, enforce_tools=False)
    assert ContractBook().for_request(config, json_schema_request()) is None
    assert ContractBook().for_request(config, tools_request()) is None


def test_tool_arguments_are_validated_against_their_parameters() -> None:
    contract = ContractBook().for_request(OutputContractConfig(), tools_request())
    assert contract is not None
    assert contract.violation(answer(calls=[("weather", '{"city": "Oslo"}')])) is None
    assert "not valid JSON" in (contract.violation(answer(calls=[("weather", '{"city": "Os')])) or "")
    assert "'city' is a required property" in (contract.violation(answer(calls=[("weather", "{}")])) or "")
    assert "unknown function 'time'" in (contract.violation(answer(calls=[("time", "{}")])) or "")
    assert contract.violation(answer("plain text, no call")) is None  # tools offered, text answered: nothing to check


def test_repair_appends_the_rejected_answer_and_the_error() -> None:
    book = ContractBook()
    request = tools_request()
    contract = book.for_request(OutputContractConfig(), request)
    assert contract is not None
    bad = answer(calls=[("weather", "{}")])
    problem = contract.violation(bad) or ""
    repaired = contract.repair(request, bad, problem)
    assert request["messages"] == [{"role": "user", "content": "q"}]  # the original is untouched
    assert repaired["messages"][-2] == {"role": "assistant", "content": "(tool call) weather({})"}
    assert repaired["messages"][-1]["role"] == "user" and problem in repaired["messages"][-1]["content"]
    assert repaired["tools"] == request["tools"]


def test_outcome_is_noted_as_quality_signals() -> None:
    contract = ContractBook().for_request(OutputContractConfig(), json_schema_request())
    assert contract is not None
    contract.repairs = 2
    quality: dict[str, Any] = {}
    contract.note(quality, "failed", "bad answer")
    assert quality == {"contract": "failed", "contract_repairs": 2, "contract_error": "bad answer"}


def test_an_invalid_schema_is_the_callers_error() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ContractBook().for_request(OutputContractConfig(), json_schema_request({"type": "no-such-type"}))
    assert caught.value.param == "response_format.json_schema.schema"


def test_compiled_validators_are_reused_and_bounded() -> None:
    book = ContractBook(max_validators=2)
    first = book.validator({"type": "object", "a": 1}, param="p")
    assert book.validator({"a": 1, "type": "object"}, param="p") is first  # key order does not matter
    book.validator({"type": "string"}, param="p")
    book.validator({"type": "number"}, param="p")
    assert book.validator({"type": "object", "a": 1}, param="p") is not first  # evicted, recompiled
