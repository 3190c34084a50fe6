"""The simulator's embeddings: deterministic feature-hashed bags of words, not meaning.

Configure them under an honest name (the demo calls them ``sim-hash-embeddings``): they
exercise the embeddings API and make retrieval tests deterministic, but word order and
synonyms are invisible to them ("dog bites man" = "man bites dog"; "canine" ≠ "dog"), so
they are never the default for retrieval (that is the local all-MiniLM-L6-v2 model).

Each lower-cased word is feature-hashed (blake2b, so stable across processes) to one
dimension with a sign, counts are summed and the vector is L2-normalised. Identical
texts get identical vectors; texts sharing words get a high cosine similarity; texts
with no word in common are close to orthogonal. The seed plays no part.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from hashlib import blake2b

_WORD = re.compile(r"\w+")


def embed(text: str, dimensions: int) -> list[float]:
    # Built sparse, then spread once: a text touches few of the dimensions.
    counts: dict[int, float] = {}
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(blake2b(word.encode(), digest_size=8).digest(), "little")
        index = (digest & 0xFFFFFFFF) % dimensions
        counts[index] = counts.get(index, 0.0) + (1.0 if digest >> 63 else -1.0)
    vector = [0.0] * dimensions
    norm = math.sqrt(sum(value * value for value in counts.values()))
    if norm == 0.0:
        # No words: a fixed unit vector, so every consumer can still normalise safely.
        vector[0] = 1.0
        return vector
    for index, value in counts.items():
        vector[index] = value / norm
    return vector


def encode_base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
