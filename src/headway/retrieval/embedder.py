"""Turn texts into unit vectors: through a configured embeddings model, or a local one.

``GatewayEmbedder`` calls a ``kind: embeddings`` route through the same executor the
gateway uses, so retries, fallbacks and deployments apply to indexing too.
``LocalEmbedder`` runs a sentence-transformers model in process from weights an installed
package carries (``local_models.py``): all-MiniLM-L6-v2 by default, offline, with no
per-request load; all-mpnet-base-v2 once its weight packages are installed.
Every embedder counts its calls and texts so tests and benchmarks can see the work done.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from headway.errors import ConfigError, UpstreamError
from headway.retrieval.local_models import LOCAL_MODELS
from headway.routing import Executor, ExhaustedError, Route
from headway.types import Attempt

if TYPE_CHECKING:
    import numpy as np

# numpy (~16 MB resident) is imported where vectors are made, not with the module: a gateway
# process that holds no collection and no semantic cache never loads it.

LOCAL_PREFIX = "local:"


class EmbeddingError(UpstreamError):
    """Embedding failed after the executor tried every deployment."""


@dataclass(slots=True)
class EmbedderStats:
    calls: int = 0
    texts: int = 0


class Embedder(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def stats(self) -> EmbedderStats: ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 matrix, one L2-normalised row per text."""
        ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def to_blob(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype="<f4")


@dataclass
class GatewayEmbedder:
    route: Route
    executor: Executor
    dimensions: int | None = None
    batch_size: int = 64
    stats: EmbedderStats = field(default_factory=EmbedderStats)

    @property
    def model(self) -> str:
        return self.route.name

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            rows.append(await self._batch(list(texts[start : start + self.batch_size])))
        if not rows:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return np.vstack(rows)

    async def _batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        request: dict[str, Any] = {"model": self.route.name, "input": texts, "encoding_format": "base64"}
        if self.dimensions:
            request["dimensions"] = self.dimensions
        attempts: list[Attempt] = []
        self.stats.calls += 1
        self.stats.texts += len(texts)
        try:
            served = await self.executor.chat(self.route, request, attempts)
        except ExhaustedError as exc:
            last = exc.last
            raise EmbeddingError(
                last.kind if last else "connection", f"embeddings model {self.route.name!r} failed: {exc}"
            ) from None
        data = served.result.body.get("data")
        if not isinstance(data, list) or len(data) != len(texts):
            raise EmbeddingError(
                "bad_response", f"embeddings model {self.route.name!r} returned {type(data).__name__}"
            )
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        return normalise(np.vstack([_vector(item.get("embedding")) for item in ordered]))


def _vector(value: Any) -> np.ndarray:
    import numpy as np

    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise EmbeddingError("bad_response", "an embedding is neither a list nor base64")


DEFAULT_LOCAL_MODEL = f"{LOCAL_PREFIX}all-minilm-l6-v2"


@dataclass
class LocalEmbedder:
    """A sentence-transformers model on the CPU, from weights an installed package carries.

    ``load`` reads the model once (about a second after the import; the import of torch and
    sentence-transformers takes longer) and is safe to call from many threads: one loads,
    the rest wait. The retriever loads its models at start-up in the background and never
    waits for a load on the request path; a pipeline run loads before it embeds.
    """

    model: str = DEFAULT_LOCAL_MODEL
    batch_size: int = 32
    threads: int = 1  # torch intra-op threads: more only adds contention on a busy 2-core host
    stats: EmbedderStats = field(default_factory=EmbedderStats)
    _encoder: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self._encoder is not None

    @property
    def dimensions(self) -> int:
        return LOCAL_MODELS[self.model.removeprefix(LOCAL_PREFIX)].dimensions

    def load(self) -> None:
        with self._lock:
            if self._encoder is not None:
                return
            local = LOCAL_MODELS[self.model.removeprefix(LOCAL_PREFIX)]
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                self.load_error = f"the local embedder needs torch and sentence-transformers: {exc}"
                raise ConfigError(self.load_error) from None
            try:
                path = local.folder()
            except ConfigError as exc:
                self.load_error = str(exc)
                raise
            torch.set_num_threads(self.threads)
            self._encoder = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            self.load_error = None

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        self.stats.calls += 1
        self.stats.texts += len(texts)
        if self._encoder is None:
            await asyncio.to_thread(self.load)
        vectors = await asyncio.to_thread(
            self._encoder.encode, list(texts), batch_size=self.batch_size, normalize_embeddings=True
        )
        return normalise(np.asarray(vectors))


def build_embedder(
    spec: str,
    routes: dict[str, Route],
    executor: Executor,
    *,
    dimensions: int | None = None,
    batch_size: int = 64,
) -> Embedder:
    """The embedder named by an index's ``embeddings`` setting."""
    if spec.startswith(LOCAL_PREFIX):
        if spec.removeprefix(LOCAL_PREFIX) not in LOCAL_MODELS:
            known = ", ".join(LOCAL_PREFIX + name for name in LOCAL_MODELS)
            raise ConfigError(f"unknown local embeddings model {spec!r} (known: {known})")
        return LocalEmbedder(model=spec)
    route = routes.get(spec)
    if route is None or route.kind != "embeddings":
        known = ", ".join(sorted(n for n, r in routes.items() if r.kind == "embeddings")) or "none configured"
        raise ConfigError(
            f"embeddings model {spec!r} is not a configured model of kind 'embeddings' (known: {known})"
        )
    return GatewayEmbedder(route=route, executor=executor, dimensions=dimensions, batch_size=batch_size)
