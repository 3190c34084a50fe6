"""The provider interface: what routing needs from any model API.

Requests and responses cross this boundary in OpenAI's chat-completions shape, whatever
the provider speaks on the wire; each implementation translates both ways. Failures are
raised as ``headway.errors.UpstreamError`` with a ``kind`` so routing never parses
provider-specific messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from headway.types import JSON, Usage


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; ``None`` means no limit of that kind."""

    connect: float | None = 5.0
    first_token: float | None = 30.0  # for non-streaming calls: the whole response head
    idle: float | None = 30.0  # longest gap between stream chunks
    total: float | None = 120.0


@dataclass(slots=True)
class ChatResult:
    """A complete (non-streaming) chat completion, already in OpenAI's shape."""

    body: JSON
    usage: Usage
    status: int = 200


@dataclass(slots=True)
class StreamEvent:
    """One OpenAI ``chat.completion.chunk`` dict, plus the usage if this chunk carries it."""

    chunk: JSON
    usage: Usage | None = None


class Provider(Protocol):
    """A model API. Implementations: ``openai.py`` (any OpenAI-compatible server), ``anthropic.py``."""

    name: str

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        """Send a chat completion; ``request`` is OpenAI-shaped, ``model`` the provider's own name."""
        ...

    def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        """Stream a chat completion as OpenAI chunks. Raises ``UpstreamError`` before or during iteration."""
        ...

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        """Create embeddings; the result body is OpenAI's ``list`` of embeddings."""
        ...

    async def close(self) -> None: ...
