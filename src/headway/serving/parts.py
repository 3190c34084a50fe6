"""What the request path needs from the gateway it runs in, and nothing more.

``serve_chat``/``serve_embeddings`` take any object with these parts; the ``Runtime`` (the
composition root) is one. Typing against this instead of the ``Runtime`` keeps ``chat.py``
from importing the module that builds it, so the runtime can hand serving's functions to
the parts that run requests later (jobs and batches).
"""

from __future__ import annotations

from typing import Protocol

from headway.admission import Admission
from headway.auth import AuthService
from headway.cache import CacheStage
from headway.guards import Guards
from headway.retrieval import Retriever
from headway.review import ReviewService
from headway.routing import Executor, Route
from headway.serving.records import RequestSink
from headway.store import Store


class ServingParts(Protocol):
    @property
    def auth(self) -> AuthService: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def guards(self) -> Guards: ...
    @property
    def review(self) -> ReviewService | None: ...
    @property
    def cache(self) -> CacheStage: ...
    @property
    def retrieval(self) -> Retriever | None: ...
    @property
    def executor(self) -> Executor: ...
    @property
    def request_log(self) -> RequestSink: ...
    @property
    def store(self) -> Store: ...  # background Responses keep their state in it

    def route(self, name: str, kind: str) -> Route: ...
