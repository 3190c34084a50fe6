"""Inbound dialects: other clients' wire formats translated onto chat completions and back.

Pure translation (no I/O) per dialect, plus the store of Responses kept for
``previous_response_id``. ``serving`` runs the translated requests through the one chat path.
"""

from headway.dialects import anthropic_messages, responses
from headway.dialects.anthropic_messages import error_body
from headway.dialects.responses import queued_response
from headway.dialects.responses_native import NativeRelay, adopt_native, native_answer
from headway.dialects.stored import ResponseStore, StoredResponse, erasure_hook, subject_of

__all__ = [
    "NativeRelay",
    "ResponseStore",
    "StoredResponse",
    "adopt_native",
    "anthropic_messages",
    "erasure_hook",
    "error_body",
    "native_answer",
    "queued_response",
    "responses",
    "subject_of",
]
