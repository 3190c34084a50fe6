"""Vector search at scale: the faiss index alone (100k / 1M vectors) and /v1/retrieve's
retriever end to end (100k chunks), including a pipeline publishing while queries run.
The lexical half is the in-memory BM25 index (``retrieval/lexical.py``), built before the
timed queries like the ANN index; ``--store-lexical`` measures the store's full text instead
(``retrieval.lexical_index: false``), the engine that answers until the first index is built.

Vectors are synthetic but shaped like sentence embeddings: unit vectors around 2,000 topic
centres (cosine to their centre ≈ 0.7), so that nearest neighbours mean something and ANN
recall is not judged on uniform noise (the worst case no embedding model produces).

    .venv/bin/python bench/retrieval_ann.py ann --vectors 100000
    .venv/bin/python bench/retrieval_ann.py ann --vectors 1000000
    .venv/bin/python bench/retrieval_ann.py retrieve --chunks 100000

Each prints one JSON line with the load average beside the figures (the host is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import faiss
import numpy as np

from headway.config.loader import parse_config
from headway.retrieval import index
from headway.retrieval.ann import AnnSettings, _new_index
from headway.retrieval.chunking import content_hash
from headway.retrieval.embedder import normalise, to_blob
from headway.serving.runtime import Runtime
from headway.sim import Scenario, start_in_thread

TOPICS = 2000
VOCABULARY = [
    f"{stem}{n}" for stem in ("alpha", "beta", "gamma", "delta", "omega", "sigma") for n in range(500)
]


def clustered(count: int, dimensions: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((TOPICS, dimensions)))
    out = np.empty((count, dimensions), dtype=np.float32)
    step = 100_000
    for start in range(0, count, step):
        n = min(step, count - start)
        noise = normalise(rng.standard_normal((n, dimensions))) * 1.0
        out[start : start + n] = normalise(centres[rng.integers(0, TOPICS, n)] + noise)
    return out


def resident_mb() -> float:
    """This process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def bench_ann(vectors: int, queries: int, dimensions: int, nprobe: int) -> dict[str, object]:
    faiss.omp_set_num_threads(1)
    data = clustered(vectors, dimensions)
    probes = normalise(
        data[np.random.default_rng(1).choice(vectors, queries)] + 0.3 * clustered(queries, dimensions, 9)
    )
    settings = AnnSettings(nprobe=nprobe)
    started = time.perf_counter()
    built = _new_index(dimensions, data, settings)
    if not isinstance(built, faiss.IndexIVFFlat):
        raise SystemExit("use at least ivf_from vectors")
    built.add_with_ids(data, np.arange(vectors, dtype=np.int64))
    build_s = time.perf_counter() - started
    latencies, hits = [], 0
    for probe in probes:
        begun = time.perf_counter()
        _, ids = built.search(probe.reshape(1, -1), 10)
        latencies.append((time.perf_counter() - begun) * 1000)
        exact = np.argpartition(-(data @ probe), 10)[:10]
        hits += len(set(ids[0].tolist()) & set(exact.tolist()))
    return {
        "layer": "ann",
        "vectors": vectors,
        "dimensions": dimensions,
        "cells": built.nlist,
        "nprobe": nprobe,
        "build_s": round(build_s, 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "recall_at_10": round(hits / (10 * queries), 4),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def fill(engine: object, collection: str, vectors: np.ndarray, version: int, first: int) -> None:
    rng = random.Random(first)
    rows = []
    for number, vector in enumerate(vectors, start=first):
        words = " ".join(rng.choice(VOCABULARY) for _ in range(60))
        rows.append(
            {
                "collection": collection,
                "doc_key": f"doc{number // 4}",
                "ordinal": number % 4,
                "title": f"Document {number // 4}",
                "source": None,
                "text": words,
                "metadata": {},
                "content_hash": content_hash(words, str(number)),
                "embedding": to_blob(vector),
                "added_version": version,
            }
        )
        if len(rows) == 5000:
            with engine.begin() as connection:  # type: ignore[attr-defined]
                index.add_chunks(connection, rows)
            rows = []
    with engine.begin() as connection:  # type: ignore[attr-defined]
        if rows:
            index.add_chunks(connection, rows)


async def bench_retrieve(
    chunks: int, queries: int, run_chunks: int, store_lexical: bool
) -> dict[str, object]:
    dimensions = 256  # what the simulator's query embeddings are asked for
    sim = start_in_thread(Scenario(), host="127.0.0.1", port=0)
    tmp = tempfile.mkdtemp(prefix="headway-ann-bench-")
    config = parse_config(
        {
            "store": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "auth": {"mode": "none"},
            "request_log": {"spill_dir": f"{tmp}/spill"},
            "retrieval": {"lexical_index": not store_lexical},
            "providers": {
                "sim": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key": "${SIM_KEY:-sk-sim}"}
            },
            "models": {
                "embed": {
                    "kind": "embeddings",
                    "deployments": [{"provider": "sim", "model": "text-embedding-3-small"}],
                }
            },
        }
    )
    runtime = Runtime.from_config(config)
    runtime.store.migrate()
    engine = runtime.store._engine  # type: ignore[attr-defined]
    retriever = runtime.retrieval
    assert retriever is not None and retriever.ann is not None
    vectors = clustered(chunks + run_chunks, dimensions)
    with engine.begin() as connection:
        index.begin(connection, "bench", embedding_model="embed", dimensions=dimensions)
    started = time.perf_counter()
    fill(engine, "bench", vectors[:chunks], 1, 0)
    with engine.begin() as connection:
        index.publish(connection, "bench", 1, embedding_model="embed", dimensions=dimensions, analyze=True)
    fill_s = time.perf_counter() - started
    started = time.perf_counter()
    retriever.ann.refresh("bench")
    build_s = time.perf_counter() - started
    rss_before = resident_mb()
    started = time.perf_counter()
    if retriever.lexical is not None:
        retriever.lexical.refresh("bench")
    lexical_build_s = time.perf_counter() - started
    lexical_rss_mb = resident_mb() - rss_before
    rng = random.Random(11)
    questions = [" ".join(rng.choice(VOCABULARY) for _ in range(6)) for _ in range(queries)]
    await retriever.retrieve("bench", questions[0], 5)
    steady: dict[str, list[float]] = {"vector": [], "hybrid": [], "lexical": []}
    for mode, latencies in steady.items():
        for question in questions:
            begun = time.perf_counter()
            result = await retriever.retrieve("bench", question, 5, mode=mode)
            latencies.append((time.perf_counter() - begun) * 1000)
            assert result.served == mode, result.fallback

    engines_steady = dict(retriever.stats.lexical_engine)
    # A pipeline run publishes version 2 (+run_chunks) while hybrid queries keep coming.
    published = threading.Event()
    refresh_s: list[float] = []

    def run() -> None:
        with engine.begin() as connection:
            index.begin(connection, "bench", embedding_model="embed", dimensions=dimensions)
        fill(engine, "bench", vectors[chunks:], 2, chunks)
        with engine.begin() as connection:
            index.publish(connection, "bench", 2, embedding_model="embed", dimensions=dimensions)
        begun = time.perf_counter()
        retriever.published("bench")  # lexical, then ANN: both incremental
        refresh_s.append(time.perf_counter() - begun)
        published.set()

    writer = threading.Thread(target=run)
    writer.start()
    during: list[float] = []
    served: dict[str, int] = {}
    before = dict(retriever.stats.lexical_engine)
    while not published.is_set():
        begun = time.perf_counter()
        result = await retriever.retrieve("bench", rng.choice(questions), 5, mode="hybrid")
        during.append((time.perf_counter() - begun) * 1000)
        served[result.served] = served.get(result.served, 0) + 1
    writer.join()
    engines_during = {k: v - before.get(k, 0) for k, v in retriever.stats.lexical_engine.items()}
    ann = retriever.ann.current("bench")
    lexical = retriever.lexical.current("bench") if retriever.lexical is not None else None
    for provider in runtime.providers.values():
        await provider.close()
    runtime.store.close()
    sim.stop()
    return {
        "layer": "retrieve",
        "store": "sqlite",
        "chunks": chunks,
        "queries": queries,
        "fill_s": round(fill_s, 1),
        "ann_build_s": round(build_s, 1),
        "lexical_engine": "store full text" if store_lexical else "in-memory BM25",
        "lexical_build_s": round(lexical_build_s, 1),
        "lexical_rss_growth_mb": round(lexical_rss_mb),
        "lexical_answered_by": engines_steady,
        **{
            f"{mode}_{name}_ms": round(value, 2)
            for mode, latencies in steady.items()
            for name, value in (("p50", statistics.median(latencies)), ("p99", percentile(latencies, 0.99)))
        },
        "during_run": {
            "added_chunks": run_chunks,
            "queries": len(during),
            "p50_ms": round(statistics.median(during), 2) if during else None,
            "max_ms": round(max(during), 2) if during else None,
            "timeout_ms": retriever.config.timeout_s * 1000,
            "served": served,
            "lexical_answered_by": engines_during,
            "incremental_refresh_s": round(refresh_s[0], 2),
            "ann_version_after": ann.version if ann else None,
            "lexical_version_after": lexical.version if lexical else None,
        },
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    ann = sub.add_parser("ann")
    ann.add_argument("--vectors", type=int, default=100_000)
    ann.add_argument("--queries", type=int, default=200)
    ann.add_argument("--dimensions", type=int, default=384)
    ann.add_argument("--nprobe", type=int, default=AnnSettings().nprobe)
    retrieve = sub.add_parser("retrieve")
    retrieve.add_argument("--chunks", type=int, default=100_000)
    retrieve.add_argument("--queries", type=int, default=300)
    retrieve.add_argument("--run-chunks", type=int, default=2000)
    retrieve.add_argument(
        "--store-lexical", action="store_true", help="rank lexically with the store's full text"
    )
    args = parser.parse_args()
    if args.what == "ann":
        result = bench_ann(args.vectors, args.queries, args.dimensions, args.nprobe)
    else:
        result = asyncio.run(bench_retrieve(args.chunks, args.queries, args.run_chunks, args.store_lexical))
    print(json.dumps(result), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
