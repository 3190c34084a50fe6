"""The HTTP surface: OpenAI-compatible ``/v1/*``, admin ``/admin/*``, health and OpenAPI."""

from headway.api.app import build_app, create_app
from headway.serving.runtime import Runtime

__all__ = ["Runtime", "build_app", "create_app"]
