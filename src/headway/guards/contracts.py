"""Output contracts: the answer must be the JSON the caller asked for, tool arguments must fit their tool.

A request gets a contract when it carries ``response_format`` ``json_schema`` (the
answer's content must parse and satisfy the schema) or ``json_object`` (it must parse
to an object), when its model's config declares ``contract.schema``, or when it offers
``tools`` (each tool call's ``arguments`` must parse and satisfy that tool's
``parameters``). The executor checks each answer; on a violation it re-asks with
``repair`` — the rejected answer and the validation error appended — up to
``max_repairs`` times, then falls back, then fails with ``output_contract_failed``.

Compiled validators are shared across requests in a bounded LRU (``ContractBook``):
compiling a schema costs far more than checking an answer against it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson
from jsonschema import exceptions as schema_errors
from jsonschema import validators

from headway.config import OutputContractConfig
from headway.errors import InvalidRequestError
from headway.types import JSON

Validator = Any  # a jsonschema validator instance (jsonschema ships no usable protocol type)

REPAIR_INSTRUCTION = (
    "Your previous answer was rejected by an automatic check: {violation}. "
    "Answer the original request again. Reply with only the corrected output, nothing else."
)


class OutputContract:
    """The checks one request's answers must pass, and the bookkeeping of its repairs."""

    __slots__ = ("json_required", "max_repairs", "repairs", "schemas", "tools")

    def __init__(
        self,
        *,
        schemas: list[Validator],
        json_required: bool,
        tools: dict[str, Validator | None] | None,
        max_repairs: int,
    ) -> None:
        self.schemas = schemas
        self.json_required = json_required or bool(schemas)
        self.tools = tools  # function name -> validator of its arguments (None: any object)
        self.max_repairs = max_repairs
        self.repairs = 0

    def violation(self, body: JSON) -> str | None:
        """The first way ``body`` breaks the contract, as a message a model can act on; None if it holds."""
        choices = body.get("choices")
        if not isinstance(choices, list):
            return "the answer has no choices"
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                return "the answer has no message"
            calls = message.get("tool_calls")
            if calls and self.tools is not None:
                problem = self._check_tool_calls(calls)
            elif self.json_required:
                problem = self._check_content(message.get("content"))
            else:
                problem = None
            if problem is not None:
                return problem
        return None

    def _check_content(self, content: Any) -> str | None:
        if not isinstance(content, str):
            return "the answer has no text content; a JSON value was required"
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            return f"the answer is not valid JSON ({exc})"
        if not self.schemas and not isinstance(value, dict):
            return "the answer must be a JSON object"
        for validator in self.schemas:
            problem = _first_error(validator, value)
            if problem is not None:
                return f"the answer does not match the required JSON schema: {problem}"
        return None

    def _check_tool_calls(self, calls: Any) -> str | None:
        assert self.tools is not None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                return "a tool call has no function"
            name = function.get("name")
            if name not in self.tools:
                return f"the tool call names an unknown function {name!r} (offered: {', '.join(sorted(self.tools))})"
            try:
                value = orjson.loads(function.get("arguments") or "")
            except orjson.JSONDecodeError as exc:
                return f"the arguments of the call to {name!r} are not valid JSON ({exc})"
            if not isinstance(value, dict):
                return f"the arguments of the call to {name!r} must be a JSON object"
            validator = self.tools[name]
            problem = _first_error(validator, value) if validator is not None else None
            if problem is not None:
                return f"the arguments of the call to {name!r} do not match its parameters schema: {problem}"
        return None

    def repair(self, request: JSON, body: JSON, violation: str) -> JSON:
        """The re-ask: the request with the rejected answer and the validation error appended."""
        messages = list(request.get("messages") or ())
        messages.append({"role": "assistant", "content": _answer_text(body)})
        messages.append({"role": "user", "content": REPAIR_INSTRUCTION.format(violation=violation)})
        return {**request, "messages": messages}

    def note(self, quality: JSON, outcome: str, error: str | None = None) -> None:
        """Record the outcome as quality signals: ``contract`` (passed | repaired | failed), ``contract_repairs``."""
        quality["contract"] = outcome
        quality["contract_repairs"] = self.repairs
        if error is not None:
            quality["contract_error"] = error[:500]


def _first_error(validator: Validator, value: Any) -> str | None:
    error = schema_errors.best_match(validator.iter_errors(value))
    if error is None:
        return None
    return f"at {error.json_path}: {error.message}"


def _answer_text(body: JSON) -> str:
    """The rejected answer as plain text (tool calls spelled out: replaying them would need tool results)."""
    parts: list[str] = []
    for choice in body.get("choices") or ():
        message = (choice.get("message") if isinstance(choice, dict) else None) or {}
        if isinstance(message.get("content"), str):
            parts.append(message["content"])
        for call in message.get("tool_calls") or ():
            function = (call.get("function") if isinstance(call, dict) else None) or {}
            parts.append(f"(tool call) {function.get('name')}({function.get('arguments')})")
    return "\n".join(parts) or "(empty answer)"


class ContractBook:
    """Builds each request's ``OutputContract``; keeps compiled validators in a bounded LRU."""

    def __init__(self, max_validators: int = 512) -> None:
        self._validators: OrderedDict[bytes, Validator] = OrderedDict()
        self._max = max_validators

    def validator(self, schema: Any, *, param: str) -> Validator:
        """A compiled validator for ``schema``; an invalid schema is the caller's error (400)."""
        if not isinstance(schema, dict | bool):
            raise InvalidRequestError(f"'{param}' must be a JSON schema object", param=param)
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        validator = self._validators.get(key)
        if validator is not None:
            self._validators.move_to_end(key)
            return validator
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except schema_errors.SchemaError as exc:
            raise InvalidRequestError(f"'{param}' is not a valid JSON schema: {exc.message}", param=param) from None
        validator = cls(schema)
        self._validators[key] = validator
        if len(self._validators) > self._max:
            self._validators.popitem(last=False)
        return validator

    def for_request(self, config: OutputContractConfig, request: JSON) -> OutputContract | None:
        """The contract of one request, or None when nothing about its answer is checked (the common case)."""
        fmt = request.get("response_format") if config.enforce_response_format else None
        tools = request.get("tools") if config.enforce_tools else None
        if not fmt and not tools and config.json_schema is None:
            return None
        schemas: list[Validator] = []
        json_required = False
        if isinstance(fmt, dict):
            kind = fmt.get("type")
            if kind == "json_schema":
                spec = fmt.get("json_schema")
                schema = spec.get("schema") if isinstance(spec, dict) else None
                if schema is not None:
                    schemas.append(self.validator(schema, param="response_format.json_schema.schema"))
                json_required = True
            elif kind == "json_object":
                json_required = True
        if config.json_schema is not None:
            schemas.append(self.validator(config.json_schema, param="model contract.schema"))
        tool_validators = self._tools(tools) if isinstance(tools, list) and tools else None
        if not json_required and not schemas and tool_validators is None:
            return None
        return OutputContract(
            schemas=schemas, json_required=json_required, tools=tool_validators, max_repairs=config.max_repairs
        )

    def _tools(self, tools: list[Any]) -> dict[str, Validator | None]:
        found: dict[str, Validator | None] = {}
        for index, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                continue
            parameters = function.get("parameters")
            found[function["name"]] = (
                self.validator(parameters, param=f"tools[{index}].function.parameters") if parameters is not None else None
            )
        return found
