"""Model provider adapters behind one interface (``base.Provider``)."""

from headway.providers._anthropic_translate import FINISH_REASONS as ANTHROPIC_FINISH_REASONS
from headway.providers._anthropic_translate import tool_input as anthropic_tool_input
from headway.providers._eventstream import encode_message
from headway.providers._responses_wire import (
    NATIVE_ANSWER,
    NATIVE_EVENT,
    NATIVE_REQUEST,
    PASSED_THROUGH,
    output_text,
)
from headway.providers._sigv4 import parse_authorization, sha256_hex, signature
from headway.providers.base import ChatResult, Provider, StreamEvent, Timeouts
from headway.providers.registry import build_provider, build_providers

__all__ = [
    "ANTHROPIC_FINISH_REASONS",
    "NATIVE_ANSWER",
    "NATIVE_EVENT",
    "NATIVE_REQUEST",
    "PASSED_THROUGH",
    "ChatResult",
    "Provider",
    "StreamEvent",
    "Timeouts",
    "anthropic_tool_input",
    "build_provider",
    "build_providers",
    "encode_message",
    "output_text",
    "parse_authorization",
    "sha256_hex",
    "signature",
]
