"""Inbound dialects: other clients' wire formats translated onto chat completions and back.

Pure translation (no I/O) per dialect, plus the store of Responses kept for
``previous_response_id``. ``serving`` runs the translated requests through the one chat path.
"""

from headway.dialects import responses
from headway.dialects.anthropic_messages import MessageEvents, error_body
from headway.dialects.anthropic_messages import model_list as anthropic_model_list
from headway.dialects.anthropic_messages import model_object as anthropic_model_object
from headway.dialects.anthropic_messages import sse as message_event_sse
from headway.dialects.anthropic_messages import to_chat as messages_to_chat
from headway.dialects.anthropic_messages import to_message as chat_to_message
from headway.dialects.completions import to_chat as completion_to_chat
from headway.dialects.completions import to_completion as chat_to_completion
from headway.dialects.completions import to_completion_chunk as chat_chunk_to_completion
from headway.dialects.responses import queued_response
from headway.dialects.responses_native import NativeRelay, adopt_native, native_answer
from headway.dialects.stored import ResponseStore, StoredResponse, erasure_hook, subject_of

__all__ = [
    "MessageEvents",
    "NativeRelay",
    "ResponseStore",
    "StoredResponse",
    "adopt_native",
    "anthropic_model_list",
    "anthropic_model_object",
    "chat_chunk_to_completion",
    "chat_to_completion",
    "chat_to_message",
    "completion_to_chat",
    "erasure_hook",
    "error_body",
    "message_event_sse",
    "messages_to_chat",
    "native_answer",
    "queued_response",
    "responses",
    "subject_of",
]
