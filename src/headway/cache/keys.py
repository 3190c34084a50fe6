"""Cache keys: which requests count as the same request, for whom.

The exact key is a hash of the request's canonical JSON (sorted keys, compact) without
the fields that cannot change the answer (``stream``, ``user``, ``metadata``...), plus
the *scope* — who may share the entry: one caller, one team, or everyone. The semantic
cache groups entries by the same hash taken *without* the messages (the parameters
must match exactly) and compares the messages' text by embedding similarity.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any, Literal

import orjson

from headway.types import JSON

# Fields that never change what the model answers; everything else (known or not) is part of the key.
NOT_OUTPUT_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
MAX_PROMPT_CHARS = 8000  # what the semantic cache embeds of a conversation (its end matters most)


def scope_of(scope: Literal["caller", "team", "global"], caller: str, team: str | None) -> str:
    if scope == "global":
        return "global"
    if scope == "team" and team:
        return f"team:{team}"
    return f"caller:{caller}"


def _digest(scope: str, fields: dict[str, Any]) -> str:
    payload = scope.encode() + b"\x00" + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return blake2b(payload, digest_size=20).hexdigest()


def output_fields(body: JSON, model: str) -> dict[str, Any]:
    """The fields that make the key; ``body`` itself (no copy) when nothing in it is left out
    and it names ``model`` already (the common case), so callers must not change the result."""
    if body.get("model") == model and NOT_OUTPUT_FIELDS.isdisjoint(body):
        return body
    fields = {key: value for key, value in body.items() if key not in NOT_OUTPUT_FIELDS}
    fields["model"] = model
    return fields


def exact_key(scope: str, fields: dict[str, Any]) -> str:
    """The hash that identifies a request within a scope."""
    return _digest(scope, fields)


def params_key(scope: str, fields: dict[str, Any]) -> str:
    """The hash of everything but the messages: semantic matches must agree on it."""
    return _digest(scope, {key: value for key, value in fields.items() if key != "messages"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_text(messages: Any) -> str:
    """The conversation as ``role: text`` lines, cut from the front to ``MAX_PROMPT_CHARS``."""
    lines = [
        f"{m.get('role')}: {_text(m.get('content'))}" for m in messages or () if isinstance(m, dict)
    ]
    text = "\n".join(lines)
    return text[-MAX_PROMPT_CHARS:]
