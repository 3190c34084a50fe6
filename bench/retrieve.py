"""Retrieval latency at scale: p50/p99 of hybrid queries over N chunks, SQLite or PostgreSQL.

Fills one collection with N chunks directly through the index writer (80-word texts
from a fixed 3,200-word vocabulary; random unit vectors of 256 dimensions, since ranking
cost does not depend on what the vectors mean),
then times ``Retriever.retrieve`` end to end — query embedding through the in-process
simulator, lexical ranking in the store, vector search in the faiss index, fusion —
after the index is built and one warm-up query. Prints one JSON line.

    .venv/bin/python bench/retrieve.py --chunks 100000
    .venv/bin/python bench/retrieve.py --chunks 100000 --postgres   # creates and drops its own database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from headway.config.loader import parse_config
from headway.retrieval import index
from headway.retrieval.chunking import content_hash
from headway.retrieval.embedder import normalise, to_blob
from headway.serving.runtime import Runtime
from headway.sim import Scenario, start_in_thread

DIMENSIONS = 256
VOCABULARY = [
    f"{stem}{n}"
    for stem in ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta")
    for n in range(400)
]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def fill(engine: object, chunks: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    vectors = normalise(np.random.default_rng(seed).standard_normal((chunks, DIMENSIONS)))
    rows = []
    for number in range(chunks):
        words = " ".join(rng.choice(VOCABULARY) for _ in range(80))
        vector = vectors[number]
        rows.append(
            {
                "collection": "bench",
                "doc_key": f"doc{number // 4}",
                "ordinal": number % 4,
                "title": f"Document {number // 4}",
                "source": None,
                "text": words,
                "metadata": {},
                "content_hash": content_hash(words),
                "embedding": to_blob(vector),
                "added_version": 1,
            }
        )
        if len(rows) == 5000:
            print(f"filled {number + 1}", file=sys.stderr, flush=True)
            with engine.begin() as connection:  # type: ignore[attr-defined]
                index.add_chunks(connection, rows)
            rows = []
    with engine.begin() as connection:  # type: ignore[attr-defined]
        if rows:
            index.add_chunks(connection, rows)
        index.publish(connection, "bench", 1, embedding_model="embed", dimensions=DIMENSIONS, analyze=True)


async def measure(store_url: str, chunks: int, queries: int, spill: str) -> dict[str, object]:
    sim = start_in_thread(Scenario(), host="127.0.0.1", port=0)
    config = parse_config(
        {
            "store": store_url,
            "auth": {"mode": "none"},
            "request_log": {"spill_dir": spill},
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
    with engine.begin() as connection:
        index.begin(connection, "bench", embedding_model="embed", dimensions=DIMENSIONS)
    started = time.perf_counter()
    fill(engine, chunks)
    fill_s = time.perf_counter() - started
    assert runtime.retrieval is not None
    rng = random.Random(11)
    questions = [" ".join(rng.choice(VOCABULARY) for _ in range(6)) for _ in range(queries + 1)]
    assert runtime.retrieval.ann is not None
    runtime.retrieval.ann.refresh("bench")  # what start-up or the publishing run does
    await runtime.retrieval.retrieve("bench", questions[0], 5)
    latencies = []
    for question in questions[1:]:
        begun = time.perf_counter()
        result = await runtime.retrieval.retrieve("bench", question, 5)
        latencies.append((time.perf_counter() - begun) * 1000)
        assert result.passages
    for provider in runtime.providers.values():
        await provider.close()
    runtime.store.close()
    sim.stop()
    latencies.sort()
    return {
        "store": store_url.split(":", 1)[0],
        "chunks": chunks,
        "queries": queries,
        "fill_s": round(fill_s, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--postgres", action="store_true", help="use a fresh PostgreSQL database on 127.0.0.1:5432"
    )
    args = parser.parse_args()
    # A timeout's SIGTERM must still run the finally blocks below (the PostgreSQL database is dropped there).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        if not args.postgres:
            result = asyncio.run(
                measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args.chunks, args.queries, f"{tmp}/spill")
            )
        else:
            name = f"headway_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                result = asyncio.run(
                    measure(
                        f"postgresql://postgres@127.0.0.1:5432/{name}",
                        args.chunks,
                        args.queries,
                        f"{tmp}/spill",
                    )
                )
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
