"""Anthropic's Messages API wire format: messages (plain and SSE events) and errors."""

from __future__ import annotations

from hashlib import blake2b
from typing import Any

import orjson
from aiohttp import web

from headway.errors import InvalidRequestError
from headway.sim.content import Completion, Prompt, ToolSpec
from headway.sim.dialect import Frame, json_response, new_id, sse, token_pauses
from headway.sim.faults import parse_directives
from headway.sim.tokens import count_tokens, split_pieces

_STOP_REASON = {
    "end": "end_turn",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool": "tool_use",
}
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    404: ("not_found_error", "Not found."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit (simulated)."),
    500: ("api_error", "Internal server error (simulated)."),
    503: ("overloaded_error", "Overloaded (simulated)."),
}


def block_text(content: Any, kind: str = "text") -> str:
    """Text of a content string or of its blocks of type ``kind`` (tool results flattened)."""
    if isinstance(content, str):
        return content if kind == "text" else ""
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") != kind:
            continue
        if kind == "text":
            parts.append(str(block.get("text", "")))
        else:  # tool_result: content is a string or text blocks
            parts.append(block_text(block.get("content")))
    return " ".join(parts)


def _content_tokens(content: Any) -> int:
    tokens = count_tokens(block_text(content)) + count_tokens(block_text(content, "tool_result"))
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                tokens += count_tokens(str(block.get("name", "")))
                tokens += count_tokens(orjson.dumps(block.get("input", {})).decode())
    return tokens


def _has_tool_result(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def _pick_tool(tools: list[Any], choice: dict[str, Any]) -> ToolSpec:
    wanted = choice.get("name") if choice.get("type") == "tool" else None
    for tool in tools:
        if isinstance(tool, dict) and (wanted is None or tool.get("name") == wanted):
            return ToolSpec(str(tool.get("name", "")), tool.get("input_schema"))
    raise InvalidRequestError(f"tool_choice: unknown tool {wanted!r}", param="tool_choice")


class AnthropicDialect:
    name = "anthropic"
    stream_content_type = "text/event-stream"

    def parse(self, body: Any) -> Prompt:
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("model: Field required", param="model")
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise InvalidRequestError("max_tokens: Field required", param="max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequestError("max_tokens: must be a positive integer", param="max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise InvalidRequestError("messages: must be a non-empty list of objects", param="messages")
        system = body.get("system")
        prompt_tokens = count_tokens(block_text(system)) + sum(
            _content_tokens(m.get("content")) for m in messages
        )
        last_user_text = next(
            (
                text
                for m in reversed(messages)
                if m.get("role") == "user" and (text := block_text(m.get("content")))
            ),
            "",
        )
        last = messages[-1]
        ends_with_result = last.get("role") == "user" and _has_tool_result(last)
        tools = body.get("tools") or []
        raw_choice = body.get("tool_choice")
        choice: dict[str, Any] = raw_choice if isinstance(raw_choice, dict) else {}
        tool = None
        if tools and choice.get("type") != "none" and last.get("role") == "user" and not ends_with_result:
            tool = _pick_tool(tools, choice)
        stops = tuple(s for s in body.get("stop_sequences") or () if isinstance(s, str))
        fingerprint = orjson.dumps([system, messages], option=orjson.OPT_SORT_KEYS)
        return Prompt(
            model=model,
            last_user_text=last_user_text,
            fingerprint=blake2b(fingerprint, digest_size=16).hexdigest(),
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            stop=stops,
            tool=tool,
            tool_result_text=block_text(last.get("content"), "tool_result") if ends_with_result else None,
            stream=bool(body.get("stream")),
            directives=parse_directives(last_user_text),
        )

    def _blocks(self, completion: Completion) -> list[dict[str, Any]]:
        choice = completion.choices[0]
        if choice.tool_call is not None:
            call = choice.tool_call
            # Under bad_tool_json ``value`` is the broken text: input is then not an object.
            return [{"type": "tool_use", "id": new_id("toolu_"), "name": call.name, "input": call.value}]
        return [{"type": "text", "text": choice.text or ""}]

    @staticmethod
    def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        choice = completion.choices[0]
        return orjson.dumps(
            {
                "id": new_id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": prompt.model,
                "content": self._blocks(completion),
                "stop_reason": _STOP_REASON[choice.finish],
                "stop_sequence": choice.stop_sequence,
                "usage": self._usage(completion.prompt_tokens, completion.completion_tokens),
            }
        )

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        choice = completion.choices[0]
        message: dict[str, Any] = {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._usage(completion.prompt_tokens, 1),
        }
        call = choice.tool_call
        if call is not None:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": new_id("toolu_"),
                "name": call.name,
                "input": {},
            }
            deltas = [
                {"type": "input_json_delta", "partial_json": piece} for piece in split_pieces(call.arguments)
            ]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in split_pieces(choice.text or "")]
        frames = [
            Frame(sse({"type": "message_start", "message": message}, "message_start")),
            Frame(
                sse(
                    {"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"
                )
            ),
            Frame(sse({"type": "ping"}, "ping")),
        ]
        if malformed:
            frames.append(Frame(b"event: content_block_delta\ndata: {not json\n\n"))
        frames += [
            Frame(
                sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"),
                pause,
                True,
            )
            for delta, pause in zip(deltas, token_pauses(len(deltas), first=True), strict=True)
        ]
        stop = {"stop_reason": _STOP_REASON[choice.finish], "stop_sequence": choice.stop_sequence}
        frames += [
            Frame(sse({"type": "content_block_stop", "index": 0}, "content_block_stop")),
            Frame(
                sse(
                    {
                        "type": "message_delta",
                        "delta": stop,
                        "usage": {"output_tokens": choice.completion_tokens},
                    },
                    "message_delta",
                )
            ),
            Frame(sse({"type": "message_stop"}, "message_stop")),
        ]
        return frames

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        kind, _ = _ERRORS.get(status, _ERRORS[500])
        return json_response(
            orjson.dumps({"type": "error", "error": {"type": kind, "message": message}}), status, headers
        )

    @staticmethod
    def default_message(status: int) -> str:
        return _ERRORS.get(status, _ERRORS[500])[1]

    def malformed_body(self) -> bytes:
        return b"<html><body><h1>502 Bad Gateway</h1>simulated malformed upstream body</body></html>"

    def models_body(self, names: list[str]) -> bytes:
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2024-01-01T00:00:00Z"}
            for name in names
        ]
        first, last = (names[0], names[-1]) if names else (None, None)
        return orjson.dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})
