"""The cache stage of the request path: look up before the models, remember after, stale on failure.

``CacheStage.lookup`` runs before routing: an exact hit (same scope, same canonical
request, within its TTL) or a semantic hit (same scope and parameters, prompt embedding
at or above the threshold) answers at once with ``served_by = "cache"``, no upstream
attempt and no cost. Otherwise the returned ``Lookup`` rides along: the executor asks it
for a stale answer (``stale_body``) when every model failed, and ``remember`` stores
the answer that came back. Per request, ``Cache-Control: no-cache`` skips reading
(fresh and stale) and ``no-store`` skips writing. Errors, degraded, stale and cached
answers are never stored; streams are answered from the cache but never stored.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from headway.cache.base import CacheBackend, CacheEntry, CacheHit
from headway.cache.embedded import EmbeddedCache
from headway.cache.keys import exact_key, output_fields, params_key, prompt_text, scope_of
from headway.cache.persist import CacheRepository
from headway.cache.shared_cache import shared_cache
from headway.config import CacheConfig, HeadwayConfig
from headway.errors import ConfigError
from headway.providers import ChatResult
from headway.routing import Executor, ExhaustedError, Route, Served
from headway.store import Store
from headway.types import JSON, Attempt, CallContext, Usage, header

if TYPE_CHECKING:
    from headway.auth import ErasureRegistry, Subject
    from headway.backends import Backend

log = logging.getLogger("headway.cache")

# Answers that did not come from a model this time, or came from a stand-in: never stored.
_NOT_STORED = frozenset({"cache", "stale-cache", "degraded"})
ERASE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ModelCache:
    """One model's effective cache settings (the model's own over the gateway-wide ones)."""

    ttl_s: float
    semantic: bool


_NO_DIRECTIVES: frozenset[str] = frozenset()


def cache_control(value: str | None) -> frozenset[str]:
    """The directive names of a ``Cache-Control`` header, lower-cased (``no-cache``, ``no-store``...)."""
    if not value:
        return _NO_DIRECTIVES
    return frozenset(part.split("=", 1)[0].strip().lower() for part in value.split(","))


@dataclass(slots=True)
class Lookup:
    """One request's cache state: its key, what was found, and whether it may read and write."""

    stage: CacheStage
    settings: ModelCache
    key: str
    scope: str
    caller: str
    team: str | None
    read: bool
    write: bool
    model: str
    params: str = ""  # ``params_key`` once a semantic lookup ran: the group its entry joins
    hit: CacheHit | None = None
    stale_entry: CacheEntry | None = None
    vector: bytes | None = None

    @property
    def served(self) -> Served | None:
        if self.hit is None:
            return None
        return Served(None, ChatResult(self.hit.entry.answer(), Usage()), "cache")

    def quality(self) -> JSON:
        if self.hit is None:
            return {"kind": "miss"}
        signal: JSON = {"kind": self.hit.kind}
        if self.hit.kind == "semantic":
            signal["similarity"] = self.hit.similarity
        return signal

    async def stale_body(self) -> JSON | None:
        """For the executor after every model failed: an answer past its TTL, within ``stale_ttl_s``."""
        if not self.read:
            return None
        now = self.stage.clock()
        entry = self.stale_entry or await self.stage.backend_get(self.key, now)
        if entry is None or entry.stale_until <= now:
            return None
        return entry.answer()



class CacheStage:
    def __init__(
        self,
        config: CacheConfig,
        backend: CacheBackend | None,
        models: Mapping[str, ModelCache],
        *,
        embeddings: Route | None = None,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.backend = backend
        self._models = dict(models) if backend is not None else {}
        self._embeddings = embeddings
        self._executor = executor
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def build(
        cls, config: HeadwayConfig, store: Store, routes: Mapping[str, Route], executor: Executor, *, shared: Backend | None = None
    ) -> CacheStage:
        """The cache stage from config; with a Redis ``shared`` backend, the embedded cache sits behind Redis."""
        section = config.cache
        models: dict[str, ModelCache] = {}
        for name, model in config.models.items():
            own = model.cache
            enabled = own.enabled if own.enabled is not None else section.enabled
            if not enabled or model.kind != "chat":
                continue
            semantic = own.semantic if own.semantic is not None else section.semantic.enabled
            if semantic and not section.semantic.embeddings_model:
                raise ConfigError("semantic caching needs cache.semantic.embeddings_model", path=f"models.{name}.cache.semantic")
            models[name] = ModelCache(ttl_s=own.ttl_s or section.ttl_s, semantic=semantic)
        if not models:
            return cls(section, None, {})
        repository = CacheRepository(store.database) if section.persist else None
        backend: CacheBackend | None = EmbeddedCache(
            max_entries=section.max_entries,
            max_candidates=section.semantic.max_candidates,
            repository=repository,
            flush_interval=section.flush_interval_ms / 1000,
        )
        if shared is not None:
            backend = shared_cache(backend, shared, max_candidates=section.semantic.max_candidates)
        embeddings = routes.get(section.semantic.embeddings_model or "")
        return cls(section, backend, models, embeddings=embeddings, executor=executor)

    @classmethod
    def disabled(cls) -> CacheStage:
        return cls(CacheConfig(), None, {})

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.backend is not None:
            await self.backend.start()

    async def close(self) -> None:
        if self.backend is not None:
            await self.backend.close()

    async def backend_get(self, key: str, now: float) -> CacheEntry | None:
        return await self.backend.get(key, now) if self.backend is not None else None

    async def erase(self, callers: Sequence[str]) -> int:
        """Forget the cached answers stored for these callers."""
        if self.backend is None:
            return 0
        return await self.backend.erase(callers)

    def register_erasure(self, registry: ErasureRegistry) -> None:
        """Register ``erasure_hook`` with the security part's erasure registry, when caching is on."""
        if self.enabled:
            registry.register("cache", self.erasure_hook())

    def erasure_hook(self) -> Callable[[Subject], int]:
        """The synchronous hook ``runtime.erasure`` runs in a worker thread for a data subject."""

        def erase_cached(subject: Subject) -> int:
            loop = self._loop
            if loop is None or loop.is_closed():
                return 0  # not started: nothing in memory, and nothing written since the last run
            if _running_loop() is loop:
                raise RuntimeError("the cache erasure hook must run in a worker thread, not on the event loop")
            return asyncio.run_coroutine_threadsafe(self.erase(subject.identifiers), loop).result(ERASE_TIMEOUT_S)

        return erase_cached

    # -- the request path ----------------------------------------------------------------
    async def lookup(self, ctx: CallContext, route: Route, body: JSON) -> Lookup | None:
        """None when caching is off for this request; else the lookup, with ``hit`` set on a hit."""
        settings = self._models.get(route.name)
        if settings is None or self.backend is None:
            return None
        directives = cache_control(header(ctx.headers, "cache-control"))
        read, write = "no-cache" not in directives, "no-store" not in directives
        if not read and not write:
            return None
        scope = scope_of(self.config.scope, ctx.caller, ctx.team)
        # Answers are shared only within one residency partition (region set and data class):
        # a caller held to a stricter class never receives an answer cached for a looser one.
        residency = ctx.attributes.get("residency")
        if residency is not None:
            scope = f"{scope}|{residency.partition_key()}"
        model = route.name
        fields = output_fields(body, model)
        key = exact_key(scope, fields)
        lookup = Lookup(self, settings, key, scope, ctx.caller, ctx.team, read, write, model)
        if not read:
            return lookup
        now = self.clock()
        entry = await self.backend.get(key, now)
        if entry is not None:
            if now < entry.expires_at:
                lookup.hit = CacheHit(entry, "exact")
                return lookup
            lookup.stale_entry = entry
        if settings.semantic:
            lookup.vector = await self._embed(prompt_text(body.get("messages")))
            if lookup.vector is not None:
                lookup.params = params_key(scope, fields)  # only after an exact miss, and only with a vector
                threshold = self.config.semantic.threshold
                lookup.hit = await self.backend.nearest(scope, lookup.params, lookup.vector, threshold, now)
        return lookup

    async def remember(self, lookup: Lookup | None, served: Served) -> None:
        """Store a model's answer for later requests (not errors, stand-ins or ``no-store``)."""
        if lookup is None or not lookup.write or lookup.hit is not None or self.backend is None:
            return
        if served.deployment is None or served.served_by in _NOT_STORED:
            return
        body = served.result.body
        if not isinstance(body.get("choices"), list):
            return
        now = self.clock()
        expires_at = now + lookup.settings.ttl_s
        # Positional, in CacheEntry's field order: CPython 3.11 builds a dict of keyword arguments
        # for every call, and this runs once per miss (tests/cache/test_stage.py checks each field).
        entry = CacheEntry(
            lookup.key, lookup.scope, lookup.params, lookup.model, lookup.caller, lookup.team, orjson.dumps(body),
            now, expires_at, expires_at + self.config.stale_ttl_s, lookup.vector,
        )
        await self.backend.put(entry)

    async def _embed(self, text: str) -> bytes | None:
        """The prompt's unit-norm embedding; None (no semantic lookup) when the model fails."""
        if self._embeddings is None or self._executor is None or not text:
            return None
        import numpy as np  # only with a semantic cache: numpy stays out of a process without one

        request = {"model": self._embeddings.name, "input": [text], "encoding_format": "float"}
        attempts: list[Attempt] = []  # the embedding call is not an attempt of the chat request
        try:
            served = await self._executor.chat(self._embeddings, request, attempts)
            raw = served.result.body["data"][0]["embedding"]
            vector = (
                np.frombuffer(base64.b64decode(raw), dtype="<f4")
                if isinstance(raw, str)
                else np.asarray(raw, dtype=np.float32)
            )
        except (ExhaustedError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("cache: semantic lookup skipped, embedding failed: %s", exc)
            return None
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return None
        return (vector / norm).astype("<f4").tobytes()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
