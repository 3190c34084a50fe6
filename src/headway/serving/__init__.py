"""The request path as plain async functions, independent of HTTP (used by the API, jobs and batches).

Other parts import what they use from here; the modules behind it are this part's own.
"""

from headway.serving.chat import Reply, StreamReply, serve_chat, serve_embeddings
from headway.serving.completions import serve_completion
from headway.serving.messages import count_tokens, serve_messages
from headway.serving.parts import ServingParts
from headway.serving.passthrough import PASSTHROUGH_PATHS, Forward, serve_passthrough
from headway.serving.records import RecordedCall, recorded
from headway.serving.responses import serve_response
from headway.serving.responses_background import cancel as cancel_response_job
from headway.serving.responses_background import current as current_response
from headway.serving.responses_background import delete as delete_stored_response
from headway.serving.responses_background import submit_response
from headway.serving.runtime import Readiness, Runtime
from headway.serving.stored import serve_stored

__all__ = [
    "PASSTHROUGH_PATHS",
    "Forward",
    "Readiness",
    "RecordedCall",
    "Reply",
    "Runtime",
    "ServingParts",
    "StreamReply",
    "cancel_response_job",
    "count_tokens",
    "current_response",
    "delete_stored_response",
    "recorded",
    "serve_chat",
    "serve_completion",
    "serve_embeddings",
    "serve_messages",
    "serve_passthrough",
    "serve_response",
    "serve_stored",
    "submit_response",
]
