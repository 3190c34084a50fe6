"""Validate OpenAI-shaped request bodies before any work is done.

Hand-written checks rather than a model class: the body must survive unchanged (unknown
fields are forwarded to OpenAI-type providers) and this runs on every request. Each
failure names the offending parameter the way OpenAI does (``messages[2].role``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headway.errors import InvalidRequestError
from headway.types import MAX_JSON_DEPTH, json_depth_exceeds

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MAX_N = 128
# Above any embedding model's width (the widest are a few thousand); a larger number is a
# mistake or an attack on the upstream's memory, not a request to forward.
_MAX_DIMENSIONS = 65536


def _fail(message: str, param: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _expect(body: dict[str, Any], key: str, types: tuple[type, ...], label: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in types:
        raise _fail(f"'{key}' must be {label}, got boolean", key, "invalid_type")
    if not isinstance(value, types):
        raise _fail(f"'{key}' must be {label}, got {_type_name(value)}", key, "invalid_type")
    return value


def _check_depth(body: dict[str, Any]) -> None:
    # Also here, not only at parse: stored jobs and batch lines reach serving without the API.
    # One walk of the whole body (its values are one level down); the key is looked for only
    # when it is too deep.
    if not json_depth_exceeds(body, MAX_JSON_DEPTH):
        return
    for key, value in body.items():
        if json_depth_exceeds(value, MAX_JSON_DEPTH - 1):
            raise _fail(f"'{key}' nests objects and arrays deeper than {MAX_JSON_DEPTH} levels", str(key), "too_deep")


def validate_model(body: dict[str, Any]) -> str:
    _check_depth(body)
    model = body.get("model")
    if model is None:
        raise _fail("'model' is required", "model", "missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise _fail("'model' must be a non-empty string", "model", "invalid_type")
    return model


def _validate_content(content: Any, param: str, role: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return
        raise _fail(f"'{param}' is required for role {role!r}", param, "missing_required_parameter")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"'{param}' must be a string or an array of content parts", param, "invalid_type")
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _fail(f"'{param}[{index}]' must be an object with a 'type'", f"{param}[{index}]", "invalid_type")


def validate_messages(messages: Any) -> None:
    if messages is None:
        raise _fail("'messages' is required", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _fail(f"'messages' must be an array, got {_type_name(messages)}", "messages", "invalid_type")
    if not messages:
        raise _fail("'messages' must contain at least one message", "messages", "empty_array")
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _fail(f"'{param}' must be an object, got {_type_name(message)}", param, "invalid_type")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _fail(
                f"'{param}.role' must be one of {', '.join(sorted(_ROLES))}, got {role!r}", f"{param}.role"
            )
        content = message.get("content")
        if role == "assistant" and content is None and not message.get("tool_calls") and not message.get("function_call"):
            raise _fail(f"'{param}' needs 'content' or 'tool_calls'", f"{param}.content", "missing_required_parameter")
        _validate_content(content, f"{param}.content", role)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _fail(f"'{param}.tool_call_id' is required for role 'tool'", f"{param}.tool_call_id", "missing_required_parameter")
        tool_calls = message.get("tool_calls")
        if tool_calls is not None and not isinstance(tool_calls, list):
            raise _fail(f"'{param}.tool_calls' must be an array", f"{param}.tool_calls", "invalid_type")


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _fail("'tools' must be an array", "tools", "invalid_type")
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _fail(f"'{param}' must be an object with type 'function'", param, "invalid_type")
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise _fail(f"'{param}.function.name' is required", f"{param}.function.name", "missing_required_parameter")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _fail(f"'{param}.function.parameters' must be a JSON Schema object", f"{param}.function.parameters", "invalid_type")


def _validate_response_format(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _fail("'response_format' must be an object", "response_format", "invalid_type")
    kind = value.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _fail(
            f"'response_format.type' must be text, json_object or json_schema, got {kind!r}", "response_format.type"
        )
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _fail(
                "'response_format.json_schema' must be an object with a 'name'",
                "response_format.json_schema",
                "missing_required_parameter",
            )
        if "schema" in spec and not isinstance(spec["schema"], dict):
            raise _fail("'response_format.json_schema.schema' must be an object", "response_format.json_schema.schema", "invalid_type")


# Headway's own side channels on a chat body (``providers.NATIVE_REQUEST`` and its kin) are
# set by the dialects that translate onto chat, never by a client: one sent on
# /v1/chat/completions would reach a native deployment as if Headway had put it there.
_INTERNAL_PREFIX = "x_headway_"


def validate_chat_request(body: dict[str, Any], *, translated: bool = False) -> str:
    """Check a chat-completions body; return the model name.

    ``translated``: the body was built by Headway from another dialect (Responses, Messages),
    so its side channels are Headway's own.
    """
    if not translated:
        for key in body:
            if isinstance(key, str) and key.startswith(_INTERNAL_PREFIX):
                raise _fail(f"'{key}' is not a request parameter", key, "unknown_parameter")
    model = validate_model(body)
    validate_messages(body.get("messages"))
    get = body.get
    # Each optional parameter in a fixed order (the first wrong one is the one reported); a
    # body usually carries two or three of them, so an absent one costs one lookup, not a call.
    for key, check in _CHAT_OPTIONAL:
        value = get(key)
        if value is not None:
            check(key, value)
    return model


def _is(types: tuple[type, ...], label: str) -> Callable[[str, Any], Any]:
    """``_expect`` for a value known to be present."""

    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) and bool not in types:
            raise _fail(f"'{key}' must be {label}, got boolean", key, "invalid_type")
        if not isinstance(value, types):
            raise _fail(f"'{key}' must be {label}, got {_type_name(value)}", key, "invalid_type")
        return value

    return check


_boolean, _object, _integer, _number, _string = (
    _is((bool,), "a boolean"), _is((dict,), "an object"), _is((int,), "an integer"), _is((int, float), "a number"), _is((str,), "a string"),
)


def _stream_options(key: str, value: Any) -> None:
    _object(key, value)
    if not isinstance(value.get("include_usage", False), bool):
        raise _fail("'stream_options.include_usage' must be a boolean", "stream_options.include_usage", "invalid_type")


def _n(key: str, value: Any) -> None:
    if not 1 <= _integer(key, value) <= _MAX_N:
        raise _fail(f"'n' must be between 1 and {_MAX_N}, got {value}", "n")


def _at_least_one(key: str, value: Any) -> None:
    if _integer(key, value) < 1:
        raise _fail(f"'{key}' must be at least 1, got {value}", key)


def _between(low: float, high: float) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if not low <= _number(key, value) <= high:
            raise _fail(f"'{key}' must be between {low:g} and {high:g}, got {value}", key)

    return check


def _stop(key: str, value: Any) -> None:
    if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
        raise _fail("'stop' must be a string or an array of strings", "stop", "invalid_type")


def _tool_choice(key: str, value: Any) -> None:
    if not isinstance(value, str | dict):
        raise _fail("'tool_choice' must be a string or an object", "tool_choice", "invalid_type")


_CHAT_OPTIONAL: tuple[tuple[str, Callable[[str, Any], Any]], ...] = (
    ("stream", _boolean),
    ("stream_options", _stream_options),
    ("n", _n),
    ("max_tokens", _at_least_one),
    ("max_completion_tokens", _at_least_one),
    ("temperature", _between(0, 2)),
    ("top_p", _between(0, 1)),
    ("presence_penalty", _between(-2, 2)),
    ("frequency_penalty", _between(-2, 2)),
    ("stop", _stop),
    ("tools", lambda _key, value: _validate_tools(value)),
    ("tool_choice", _tool_choice),
    ("response_format", lambda _key, value: _validate_response_format(value)),
    ("metadata", _object),
    ("user", _string),
)


def validate_embeddings_request(body: dict[str, Any]) -> str:
    model = validate_model(body)
    value = body.get("input")
    if value is None:
        raise _fail("'input' is required", "input", "missing_required_parameter")
    if isinstance(value, str):
        if not value:
            raise _fail("'input' must not be an empty string", "input", "empty_string")
    elif isinstance(value, list):
        if not value:
            raise _fail("'input' must not be an empty array", "input", "empty_array")
        all_strings = all(isinstance(v, str) for v in value)
        all_token_ids = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        all_token_lists = all(isinstance(v, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in v) for v in value)
        if not (all_strings or all_token_ids or all_token_lists):
            raise _fail("'input' must be a string, an array of strings, or token arrays", "input", "invalid_type")
        if all_strings and any(not v for v in value):
            raise _fail("'input' must not contain empty strings", "input", "empty_string")
        if all_token_lists and any(not v for v in value):
            raise _fail("'input' must not contain empty token arrays", "input", "empty_array")
    else:
        raise _fail(f"'input' must be a string or an array, got {_type_name(value)}", "input", "invalid_type")
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        raise _fail("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dimensions = _expect(body, "dimensions", (int,), "an integer")
    if dimensions is not None and not 1 <= dimensions <= _MAX_DIMENSIONS:
        raise _fail(f"'dimensions' must be between 1 and {_MAX_DIMENSIONS}, got {dimensions}", "dimensions")
    return model
