"""Inbound dialects: other clients' wire formats translated onto chat completions and back.

Pure translation (no I/O) per dialect, plus the store of Responses kept for
``previous_response_id``. ``serving`` runs the translated requests through the one chat path.
"""

from headway.dialects.anthropic_messages import MessageEvents, error_body
from headway.dialects.anthropic_messages import model_list as anthropic_model_list
from headway.dialects.anthropic_messages import model_object as anthropic_model_object
from headway.dialects.anthropic_messages import sse as message_event_sse
from headway.dialects.anthropic_messages import to_chat as messages_to_chat
from headway.dialects.anthropic_messages import to_message as chat_to_message
from headway.dialects.completions import to_chat as completion_to_chat
from headway.dialects.completions import to_completion as chat_to_completion
from headway.dialects.completions import to_completion_chunk as chat_chunk_to_completion
from headway.dialects.responses import ResponseEvents, queued_response
from headway.dialects.responses import Translated as TranslatedResponsesRequest
from headway.dialects.responses import new_id as new_object_id
from headway.dialects.responses import output_messages as response_output_messages
from headway.dialects.responses import sse as response_event_sse
from headway.dialects.responses import to_chat as responses_to_chat
from headway.dialects.responses import to_response as chat_to_response
from headway.dialects.responses_native import NativeRelay, adopt_native, native_answer
from headway.dialects.stored import ResponseStore, StoredResponse, erasure_hook, subject_of

__all__ = [
    "MessageEvents",
    "NativeRelay",
    "ResponseEvents",
    "ResponseStore",
    "StoredResponse",
    "TranslatedResponsesRequest",
    "adopt_native",
    "anthropic_model_list",
    "anthropic_model_object",
    "chat_chunk_to_completion",
    "chat_to_completion",
    "chat_to_message",
    "chat_to_response",
    "completion_to_chat",
    "erasure_hook",
    "error_body",
    "message_event_sse",
    "messages_to_chat",
    "native_answer",
    "new_object_id",
    "queued_response",
    "response_event_sse",
    "response_output_messages",
    "responses_to_chat",
    "subject_of",
]
