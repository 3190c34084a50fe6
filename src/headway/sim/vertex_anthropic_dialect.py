"""Claude on Vertex AI: Anthropic's Messages format at Vertex's ``rawPredict`` / ``streamRawPredict``.

The body is Anthropic's without ``model`` (it is in the path) and with
``anthropic_version: "vertex-2023-10-16"`` instead of the ``anthropic-version`` header;
answers, stream events and errors are Anthropic's.
"""

from __future__ import annotations

from typing import Any

from headway.errors import InvalidRequestError
from headway.sim.anthropic_dialect import AnthropicDialect
from headway.sim.content import Prompt

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexAnthropicDialect(AnthropicDialect):
    name = "vertex-anthropic"

    def parse(self, body: Any) -> Prompt:
        if isinstance(body, dict) and body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
            raise InvalidRequestError(
                f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r}", param="anthropic_version"
            )
        return super().parse(body)
