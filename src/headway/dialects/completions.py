"""Legacy ``/v1/completions`` (prompt in, ``choices[].text`` out), translated onto chat (pure; no I/O).

A prompt becomes one user message; each chat choice becomes a text choice (``echo`` puts
the prompt in front). What chat cannot reproduce (token-array prompts, several prompts in
one call, ``suffix``, ``logprobs``, ``best_of`` > 1) is a precise 400.
"""

from __future__ import annotations

from headway.errors import InvalidRequestError
from headway.types import JSON

_SAME_FIELDS = (
    "model", "temperature", "top_p", "n", "stream", "stop", "user", "presence_penalty", "frequency_penalty", "seed",
    "logit_bias", "metadata",
)
_KNOWN_FIELDS = frozenset({*_SAME_FIELDS, "prompt", "max_tokens", "echo", "suffix", "logprobs", "best_of", "stream_options"})
DEFAULT_MAX_TOKENS = 16  # the legacy API's own default


def _fail(message: str, param: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


def prompt_of(body: JSON) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt
    if prompt is None:
        raise _fail("'prompt' is required", "prompt", "missing_required_parameter")
    raise _fail("'prompt' must be a string (or a list of one string); token arrays and several prompts are not supported", "prompt")


def to_chat(body: JSON) -> JSON:
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise _fail(f"unknown parameter {unknown[0]!r} for /v1/completions", unknown[0], "unknown_parameter")
    for key, allowed in (("suffix", (None,)), ("logprobs", (None, 0)), ("best_of", (None, 1))):
        if body.get(key) not in allowed:
            raise _fail(f"'{key}' is not supported by Headway's /v1/completions", key, "unsupported_parameter")
    chat: JSON = {key: body[key] for key in _SAME_FIELDS if body.get(key) is not None}
    chat["messages"] = [{"role": "user", "content": prompt_of(body)}]
    chat["max_tokens"] = body.get("max_tokens", DEFAULT_MAX_TOKENS)
    if body.get("stream") and body.get("stream_options") is not None:
        chat["stream_options"] = body["stream_options"]
    return chat


def _text(body: JSON, text: str) -> str:
    return prompt_of(body) + text if body.get("echo") else text


def to_completion(body: JSON, chat_reply: JSON) -> JSON:
    choices = [
        {
            "text": _text(body, (choice.get("message") or {}).get("content") or ""),
            "index": choice.get("index", index),
            "logprobs": None,
            "finish_reason": choice.get("finish_reason"),
        }
        for index, choice in enumerate(chat_reply.get("choices") or [])
    ]
    completion: JSON = {
        "id": f"cmpl-{str(chat_reply.get('id') or '').removeprefix('chatcmpl-')}",
        "object": "text_completion",
        "created": chat_reply.get("created"),
        "model": chat_reply.get("model") or body.get("model"),
        "choices": choices,
    }
    if chat_reply.get("usage") is not None:
        completion["usage"] = chat_reply["usage"]
    return completion


def to_completion_chunk(body: JSON, chunk: JSON, echoed: set[int]) -> JSON | None:
    """A chat chunk as a text-completion chunk (``None`` for one that carries nothing)."""
    choices: list[JSON] = []
    for choice in chunk.get("choices") or []:
        index = int(choice.get("index") or 0)
        text = (choice.get("delta") or {}).get("content") or ""
        if body.get("echo") and index not in echoed:
            echoed.add(index)
            text = prompt_of(body) + text
        if text or choice.get("finish_reason"):
            choices.append({"text": text, "index": index, "logprobs": None, "finish_reason": choice.get("finish_reason")})
    if not choices and chunk.get("usage") is None:
        return None
    converted: JSON = {
        "id": f"cmpl-{str(chunk.get('id') or '').removeprefix('chatcmpl-')}",
        "object": "text_completion",
        "created": chunk.get("created"),
        "model": chunk.get("model") or body.get("model"),
        "choices": choices,
    }
    if chunk.get("usage") is not None:
        converted["usage"] = chunk["usage"]
    return converted
