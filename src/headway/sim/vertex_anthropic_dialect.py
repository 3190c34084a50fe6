"""Claude on Vertex AI: Anthropic's Messages format at Vertex's ``rawPredict`` / ``streamRawPredict``.

The body is Anthropic's without ``model`` (it is in the path) and with an
``anthropic_version`` field instead of the ``anthropic-version`` header. Google documents
``vertex-2023-10-16``; the current anthropic SDK's Vertex client sends its own dated API
version there, so both are accepted and anything else (or nothing) is a 400. Answers,
stream events and errors are Anthropic's.
"""

from __future__ import annotations

import re
from typing import Any

from headway.errors import InvalidRequestError
from headway.sim.anthropic_dialect import AnthropicDialect
from headway.sim.content import Prompt

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_DATED_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")


class VertexAnthropicDialect(AnthropicDialect):
    name = "vertex-anthropic"

    def parse(self, body: Any) -> Prompt:
        if isinstance(body, dict):
            version = body.get("anthropic_version")
            if not isinstance(version, str) or not (version == VERTEX_ANTHROPIC_VERSION or _DATED_VERSION.fullmatch(version)):
                raise InvalidRequestError(
                    f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r} (or a dated API version)", param="anthropic_version"
                )
        return super().parse(body)
