"""The simulator's token rule, applied identically to prompts and completions.

One token is a run of word characters (``\\w+``) or one other non-space character, so
``"Hello, world!"`` is 4 tokens. Whitespace is free. Streams send one token per chunk, so
a streamed answer has exactly as many content chunks as ``completion_tokens``.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")
# The same tokens, each carrying the whitespace before it: joined they rebuild the text.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def split_pieces(text: str) -> list[str]:
    """One piece per token, whitespace attached in front; joined they give back ``text``."""
    pieces: list[str] = _PIECE.findall(text)
    covered = sum(map(len, pieces))
    if covered < len(text):  # trailing whitespace rides on the last piece
        if pieces:
            pieces[-1] += text[covered:]
        else:
            pieces.append(text)
    return pieces


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` tokens of ``text`` and whether anything was cut."""
    if limit <= 0:
        return "", bool(text.strip())
    end = 0
    for index, match in enumerate(_TOKEN.finditer(text)):
        if index == limit:
            return text[:end], True
        end = match.end()
    return text, False
