"""The ``x-ratelimit-*`` headers, shaped as OpenAI sends them.

Durations are Go-style (``1s``, ``6m0s``, ``250ms``), as OpenAI writes them. ``reset`` is
the time until the oldest request (or token) counted in the window leaves it, that is
when ``remaining`` next grows; with ``remaining`` at 0 it equals ``Retry-After``.
"""

from __future__ import annotations

import math

from headway.backends import WindowState


def go_duration(seconds: float) -> str:
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def tightest(states: list[WindowState]) -> WindowState | None:
    """The window a client should pace itself by: the fewest units left."""
    return min(states, key=lambda s: (s.remaining, -s.reset_s)) if states else None


def ratelimit_headers(requests: WindowState | None, tokens: WindowState | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for metric, state in (("requests", requests), ("tokens", tokens)):
        if state is None:
            continue
        headers[f"x-ratelimit-limit-{metric}"] = str(state.limit)
        headers[f"x-ratelimit-remaining-{metric}"] = str(state.remaining)
        headers[f"x-ratelimit-reset-{metric}"] = go_duration(state.reset_s)
    return headers


def retry_after_headers(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds (rounded up) and ``retry-after-ms``, which the OpenAI SDKs prefer."""
    return {"retry-after": str(max(1, math.ceil(seconds))), "retry-after-ms": str(max(1, math.ceil(seconds * 1000)))}
