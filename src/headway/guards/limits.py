"""Token and shape limits: refuse what would cost too much before a model sees it.

Prompt tokens are estimated at four characters each: exact counts need the model's own
tokenizer, and a limit is a guard against abuse, not an invoice.
"""

from __future__ import annotations

from typing import Any

from headway.config import LimitsConfig
from headway.errors import InvalidRequestError
from headway.guards.messages import total_chars

CHARS_PER_TOKEN = 4


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def check_chat_limits(body: dict[str, Any], limits: LimitsConfig) -> None:
    messages = body.get("messages") or []
    if limits.max_messages is not None and len(messages) > limits.max_messages:
        raise InvalidRequestError(
            f"the request has {len(messages)} messages; this gateway accepts at most {limits.max_messages}",
            param="messages",
            code="too_many_messages",
        )
    if limits.max_input_tokens is not None:
        estimated = estimate_tokens(total_chars(messages))
        if estimated > limits.max_input_tokens:
            raise InvalidRequestError(
                f"the prompt is about {estimated} tokens; this gateway accepts at most {limits.max_input_tokens}",
                param="messages",
                code="input_tokens_exceeded",
            )
    if limits.max_output_tokens is not None:
        for key in ("max_tokens", "max_completion_tokens"):
            asked = body.get(key)
            if isinstance(asked, int) and not isinstance(asked, bool) and asked > limits.max_output_tokens:
                raise InvalidRequestError(
                    f"'{key}' is {asked}; this gateway allows at most {limits.max_output_tokens}",
                    param=key,
                    code="max_tokens_exceeded",
                )


def check_embeddings_limits(body: dict[str, Any], limits: LimitsConfig) -> None:
    if limits.max_input_tokens is None:
        return
    value = body.get("input")
    texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    estimated = max((estimate_tokens(len(t)) for t in texts), default=0)
    if estimated > limits.max_input_tokens:
        raise InvalidRequestError(
            f"an input is about {estimated} tokens; this gateway accepts at most {limits.max_input_tokens}",
            param="input",
            code="input_tokens_exceeded",
        )
