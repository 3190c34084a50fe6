"""OpenAI's Responses API wire format (``POST /v1/responses``): Response objects and SSE events.

The request's ``input`` items, ``instructions``, flat function ``tools``, ``text.format``
and ``max_output_tokens`` are read into the same ``Prompt`` the chat dialect builds, so
the answer (text, tool call, JSON) and every fault are the chat dialect's. The answer is
a Response object; a stream is the Responses event sequence (``response.created``,
``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta`` …, ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``, ``response.completed``;
function calls stream ``response.function_call_arguments.delta``/``.done``), each with
its ``sequence_number``. ``reasoning`` adds a ``reasoning`` output item (with
``encrypted_content`` when ``include`` asks for ``reasoning.encrypted_content``) and
reasoning tokens to the usage, so a test can see both fields arrive natively.
Errors are OpenAI's (``OpenAIDialect.error``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from headway.errors import InvalidRequestError
from headway.sim.content import Choice, Completion, Prompt
from headway.sim.dialect import Frame, new_id, token_pauses
from headway.sim.openai_dialect import OpenAIDialect
from headway.sim.tokens import split_pieces

REASONING_TOKENS = 8  # what a simulated reasoning item costs, in output tokens


@dataclass(slots=True)
class ResponsesPrompt(Prompt):
    """A Responses request: the chat prompt plus what only this API has."""

    body: Any = None  # the request, echoed into the Response as OpenAI does
    reasoning: bool = False
    encrypted_reasoning: bool = False


def _text(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return [
        {"type": "text", "text": part.get("text", "")}
        for part in content
        if isinstance(part, dict) and "text" in part
    ]


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat messages (enough for the simulated answer and its token count)."""
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError("'input' must be a string or a non-empty array", param="input")
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidRequestError(f"input[{index}] must be an object", param=f"input[{index}]")
        kind = item.get("type") or "message"
        if kind == "message":
            messages.append({"role": item.get("role", "user"), "content": _text(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": output if isinstance(output, str) else orjson.dumps(output).decode(),
                }
            )
        elif kind != "reasoning":
            raise InvalidRequestError(
                f"input[{index}].type {kind!r} is not simulated", param=f"input[{index}].type"
            )
    return messages


def _chat_body(body: dict[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": _messages(body),
        "stream": bool(body.get("stream")),
    }
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    if any(tool.get("type") != "function" for tool in tools):
        raise InvalidRequestError("only function tools are simulated", param="tools")
    if tools:
        chat["tools"] = [
            {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}} for tool in tools
        ]
    choice = body.get("tool_choice")
    chat["tool_choice"] = (
        {"type": "function", "function": {"name": choice.get("name")}} if isinstance(choice, dict) else choice
    )
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.get("name"), "schema": fmt.get("schema")},
        }
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    return chat


class ResponsesDialect(OpenAIDialect):
    name = "responses"

    def parse(self, body: Any) -> Prompt:
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        chat = super().parse(_chat_body(body))
        include: list[Any] = body["include"] if isinstance(body.get("include"), list) else []
        fields = {name: getattr(chat, name) for name in Prompt.__dataclass_fields__}
        return ResponsesPrompt(
            **fields,
            body=body,
            reasoning=isinstance(body.get("reasoning"), dict) and bool(body["reasoning"].get("effort")),
            encrypted_reasoning="reasoning.encrypted_content" in include,
        )

    # -- the Response -------------------------------------------------------------------------

    @staticmethod
    def _request(prompt: Prompt) -> dict[str, Any]:
        body = prompt.body if isinstance(prompt, ResponsesPrompt) and isinstance(prompt.body, dict) else {}
        return body

    def _responses_usage(self, completion: Completion, prompt: Prompt) -> dict[str, Any]:
        reasoning = REASONING_TOKENS if isinstance(prompt, ResponsesPrompt) and prompt.reasoning else 0
        output = completion.completion_tokens + reasoning
        return {
            "input_tokens": completion.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": completion.prompt_tokens + output,
        }

    def _envelope(self, prompt: Prompt, response_id: str, status: str) -> dict[str, Any]:
        body = self._request(prompt)
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": prompt.model,
            "output": [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    @staticmethod
    def _reasoning_item(prompt: Prompt) -> dict[str, Any] | None:
        if not (isinstance(prompt, ResponsesPrompt) and prompt.reasoning):
            return None
        item: dict[str, Any] = {"id": new_id("rs_"), "type": "reasoning", "summary": []}
        if prompt.encrypted_reasoning:
            item["encrypted_content"] = "sim-encrypted-" + prompt.fingerprint
        return item

    @staticmethod
    def _items(choice: Choice) -> list[dict[str, Any]]:
        if choice.tool_call is not None:
            call = choice.tool_call
            return [
                {
                    "id": new_id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": new_id("call_"),
                    "name": call.name,
                    "arguments": call.arguments,
                }
            ]
        part = {"type": "output_text", "text": choice.text or "", "annotations": [], "logprobs": []}
        return [
            {
                "id": new_id("msg_"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        ]

    @staticmethod
    def _status(choice: Choice) -> tuple[str, dict[str, Any] | None]:
        if choice.finish == "length":
            return "incomplete", {"reason": "max_output_tokens"}
        return "completed", None

    def response(self, completion: Completion, prompt: Prompt, response_id: str) -> dict[str, Any]:
        choice = completion.choices[0]
        status, incomplete = self._status(choice)
        response = self._envelope(prompt, response_id, status)
        reasoning = self._reasoning_item(prompt)
        response["output"] = ([reasoning] if reasoning else []) + self._items(choice)
        response["incomplete_details"] = incomplete
        response["usage"] = self._responses_usage(completion, prompt)
        return response

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        return orjson.dumps(self.response(completion, prompt, new_id("resp_")))

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        response_id = new_id("resp_")
        final = self.response(completion, prompt, response_id)
        sequence = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal sequence
            payload = {"type": kind, "sequence_number": sequence, **fields}
            sequence += 1
            return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

        opening = {**self._envelope(prompt, response_id, "in_progress")}
        frames = [
            Frame(event("response.created", response=opening)),
            Frame(event("response.in_progress", response=opening)),
        ]
        if malformed:
            frames.append(
                Frame(
                    b'event: response.output_item.added\ndata: {"type": "response.output_item.added", "item": {\n\n'
                )
            )
        first = next((index for index, item in enumerate(final["output"]) if item["type"] != "reasoning"), 0)
        for index, item in enumerate(final["output"]):
            frames += self._item_frames(event, index, item, first=index == first)
        frames.append(
            Frame(
                event(
                    "response.completed" if final["status"] == "completed" else "response.incomplete",
                    response=final,
                )
            )
        )
        return frames

    @staticmethod
    def _item_frames(event: Any, index: int, item: dict[str, Any], *, first: bool) -> list[Frame]:
        kind = item["type"]
        if kind == "reasoning":
            return [
                Frame(event("response.output_item.added", output_index=index, item=item)),
                Frame(event("response.output_item.done", output_index=index, item=item)),
            ]
        opened = {**item, "status": "in_progress"}
        if kind == "function_call":
            opened["arguments"] = ""
            pieces = split_pieces(item["arguments"])
            frames = [Frame(event("response.output_item.added", output_index=index, item=opened))]
            pauses = token_pauses(len(pieces), first=first)
            frames += [
                Frame(
                    event(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=index,
                        delta=piece,
                    ),
                    pause,
                    content=True,
                )
                for piece, pause in zip(pieces, pauses, strict=True)
            ]
            frames.append(
                Frame(
                    event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
            )
            frames.append(Frame(event("response.output_item.done", output_index=index, item=item)))
            return frames
        part = item["content"][0]
        opened["content"] = []
        common = {"item_id": item["id"], "output_index": index, "content_index": 0}
        frames = [
            Frame(event("response.output_item.added", output_index=index, item=opened)),
            Frame(event("response.content_part.added", **common, part={**part, "text": ""})),
        ]
        pieces = split_pieces(part["text"])
        pauses = token_pauses(len(pieces), first=first)
        frames += [
            Frame(
                event("response.output_text.delta", **common, delta=piece, logprobs=[]), pause, content=True
            )
            for piece, pause in zip(pieces, pauses, strict=True)
        ]
        frames.append(Frame(event("response.output_text.done", **common, text=part["text"], logprobs=[])))
        frames.append(Frame(event("response.content_part.done", **common, part=part)))
        frames.append(Frame(event("response.output_item.done", output_index=index, item=item)))
        return frames
