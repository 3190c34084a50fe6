"""Model provider adapters behind one interface (``base.Provider``)."""

from headway.providers.base import ChatResult, Provider, StreamEvent, Timeouts
from headway.providers.registry import build_provider, build_providers

__all__ = ["ChatResult", "Provider", "StreamEvent", "Timeouts", "build_provider", "build_providers"]
