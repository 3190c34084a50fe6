"""What the simulated model says, independent of any wire format.

Dialects translate a request into a ``Prompt`` and a ``Completion`` back into their
wire shape. Generation is a pure function of (seed, prompt): the same request to the
same scenario always gets the same text, tool arguments and JSON, whatever order
requests arrive in. Text opens with ``Simulated reply to: <first 40 characters of the
last user message>`` so tests can tell answers apart, then filler words up to the
scenario's ``output_tokens``; ``max_tokens`` and stop sequences cut it like a model's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Literal

import orjson

from headway.sim.faults import strip_directives
from headway.sim.scenario import FaultKind
from headway.sim.schema_values import schema_value
from headway.sim.tokens import count_tokens, truncate_tokens

Finish = Literal["end", "length", "stop_sequence", "tool"]
SNIPPET_CHARS = 40
_VOCAB = (
    "the", "signal", "route", "steady", "answer", "model", "quiet", "river", "beacon",
    "orbit", "harbor", "lattice", "ember", "summit", "vector", "canvas", "meadow",
    "relay", "pulse", "anchor", "delta", "prism", "cobalt", "willow", "tandem",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    parameters: Any  # the tool's JSON schema for its arguments


@dataclass(slots=True)
class Prompt:
    """A request reduced to what generation needs."""

    model: str
    last_user_text: str  # raw, directives included
    fingerprint: str  # stable digest of the conversation; seeds the content
    prompt_tokens: int
    n: int = 1
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tool: ToolSpec | None = None  # set when the answer must call this tool
    tool_result_text: str | None = None  # set when the conversation ends with a tool result
    json_schema: Any = None  # response_format json_schema's schema
    json_object: bool = False
    stream: bool = False
    include_usage: bool = False
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def wants_json(self) -> bool:
        return self.json_object or self.json_schema is not None


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text (invalid JSON under the bad_tool_json fault)
    value: Any  # the parsed arguments, or the broken text itself under bad_tool_json


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    text: str | None
    tool_call: ToolCall | None
    finish: Finish
    stop_sequence: str | None
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Completion:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int


def snippet(text: str) -> str:
    return " ".join(strip_directives(text).split())[:SNIPPET_CHARS]


def filler_words(key: bytes, count: int) -> list[str]:
    """``count`` words drawn from ``key``'s hash: seeding a ``random.Random`` per answer costs more."""
    words: list[str] = []
    block = 0
    while len(words) < count:
        digest = blake2b(key + block.to_bytes(4, "little"), digest_size=64).digest()
        words += [_VOCAB[byte % len(_VOCAB)] for byte in digest[: count - len(words)]]
        block += 1
    return words


def reply_text(prompt: Prompt, key: bytes, output_tokens: int) -> tuple[str, int]:
    """The reply and its token count (known without recounting the text)."""
    if prompt.tool_result_text is not None:
        head = f"Simulated reply to tool result: {snippet(prompt.tool_result_text)}"
    elif prompt.last_user_text:
        head = f"Simulated reply to: {snippet(prompt.last_user_text)}"
    else:
        head = "Simulated reply."
    tokens = count_tokens(head)
    missing = output_tokens - tokens
    if missing <= 0:
        return head, tokens
    return head + " " + " ".join(filler_words(key, missing)), output_tokens


def _cut(text: str, tokens: int, prompt: Prompt) -> tuple[str, int, Finish, str | None]:
    """Apply stop sequences and ``max_tokens`` the way a model stops generating."""
    finish: Finish = "end"
    matched: str | None = None
    if prompt.stop:
        found = [(text.find(stop), stop) for stop in prompt.stop if stop and stop in text]
        if found:
            index, matched = min(found)
            text, finish = text[:index], "stop_sequence"
            tokens = count_tokens(text)
    if prompt.max_tokens is not None and tokens > prompt.max_tokens:
        text, _ = truncate_tokens(text, prompt.max_tokens)
        return text, prompt.max_tokens, "length", None
    return text, tokens, finish, matched


def _json_text(prompt: Prompt, key: bytes, output_tokens: int, broken: bool) -> str:
    if prompt.json_schema is not None:
        value = schema_value(prompt.json_schema, random.Random(key))
        if broken:
            # Valid JSON of the wrong top-level type: fails validation, not parsing.
            value = {"value": value} if isinstance(value, list) else [value]
        return orjson.dumps(value).decode()
    text = orjson.dumps({"reply": reply_text(prompt, key, output_tokens)[0]}).decode()
    # json_object under the fault: a truncated object, so parsing itself fails.
    return text[: len(text) // 2] if broken else text


def _tool_call(tool: ToolSpec, rng: random.Random, broken: bool) -> ToolCall:
    value = schema_value(tool.parameters or {"type": "object"}, rng)
    if not isinstance(value, dict):  # tool arguments are always an object on the wire
        value = {"value": value}
    arguments = orjson.dumps(value).decode()
    if broken:
        # A proper prefix of a JSON object is never valid JSON.
        arguments = arguments[: max(1, len(arguments) // 2)]
        return ToolCall(tool.name, arguments, arguments)
    return ToolCall(tool.name, arguments, value)


def generate(prompt: Prompt, *, seed: int, output_tokens: int, fault: FaultKind | None) -> Completion:
    choices: list[Choice] = []
    for index in range(prompt.n):
        key = f"{seed}:{prompt.fingerprint}:{index}".encode()
        if prompt.tool is not None:
            call = _tool_call(prompt.tool, random.Random(key), broken=fault == "bad_tool_json")
            tokens = count_tokens(call.name) + count_tokens(call.arguments)
            choices.append(Choice(index, None, call, "tool", None, tokens))
            continue
        if prompt.wants_json:
            text = _json_text(prompt, key, output_tokens, broken=fault == "bad_json_schema")
            tokens = count_tokens(text)
        else:
            text, tokens = reply_text(prompt, key, output_tokens)
        text, tokens, finish, matched = _cut(text, tokens, prompt)
        choices.append(Choice(index, text, None, finish, matched, tokens))
    completion_tokens = sum(choice.completion_tokens for choice in choices)
    return Completion(choices, prompt.prompt_tokens, completion_tokens)
