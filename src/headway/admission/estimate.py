"""What a request may cost before it runs: tokens in, tokens out, and dollars.

Prompt tokens are estimated at four characters each (plus a few per message for the
chat framing): exact counts need each model's own tokenizer, and an estimate is only
held until the provider reports the real usage. Output is what the request allows
(``max_completion_tokens``/``max_tokens`` times ``n``), as OpenAI counts it against a
tokens-per-minute limit.
"""

from __future__ import annotations

import math
from typing import Any

from headway.observe import Price

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(_text_chars(part.get("text")) if isinstance(part, dict) else _text_chars(part) for part in content)
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if isinstance(messages, list):
        chars = sum(_text_chars(m.get("content")) if isinstance(m, dict) else 0 for m in messages)
        tools = body.get("tools")
        if tools:
            chars += len(str(tools))
        return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)
    # Embeddings: ``input`` is a string or a list of strings (token arrays count one each).
    return max(1, math.ceil(_text_chars(body.get("input")) / CHARS_PER_TOKEN))


def output_tokens(body: dict[str, Any], default: int) -> int:
    if "messages" not in body:
        return 0  # embeddings produce no tokens
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    choices = body.get("n")
    per_choice = limit if isinstance(limit, int) and limit > 0 else default
    return per_choice * (choices if isinstance(choices, int) and choices > 1 else 1)


def cost_usd(input_tokens: int, output_tokens: int, price: Price | None) -> float:
    if price is None:
        return 0.0
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
