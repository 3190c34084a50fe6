"""The request path as plain async functions, independent of HTTP (used by the API, jobs and batches).

Other parts import what they use from here; the modules behind it are this part's own.
"""

from headway.serving.chat import Reply, StreamReply, serve_chat, serve_embeddings
from headway.serving.parts import ServingParts
from headway.serving.records import RecordedCall, recorded
from headway.serving.runtime import Readiness, Runtime
from headway.serving.stored import serve_stored

__all__ = [
    "Readiness",
    "RecordedCall",
    "Reply",
    "Runtime",
    "ServingParts",
    "StreamReply",
    "recorded",
    "serve_chat",
    "serve_embeddings",
    "serve_stored",
]
