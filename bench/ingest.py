"""Pipeline ingest throughput: documents/s with and without embeddings, and an unchanged re-run.

Generates N Markdown documents (~900 characters, two sections each) in a temporary
folder, runs a folder pipeline into an SQLite (or --store) collection three ways and
prints one JSON line per measurement:

- lexical: chunk + FTS index, no embeddings;
- embedded: the same through a ``kind: embeddings`` model on the in-process simulator
  (zero latency: this measures Headway's own cost, not a model's);
- unchanged: a second embedded run over the same files (hashes only, no embedding work).

    .venv/bin/python bench/ingest.py --docs 10000
    .venv/bin/python bench/ingest.py --docs 2000 --store postgresql://postgres@127.0.0.1:5432/DB
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

from headway.config.loader import parse_config
from headway.pipelines.runner import run_pipeline
from headway.serving.runtime import Runtime
from headway.sim import Scenario, start_in_thread

WORDS = [
    "service",
    "deploy",
    "release",
    "cluster",
    "region",
    "replica",
    "latency",
    "budget",
    "incident",
    "runbook",
    "owner",
    "team",
    "queue",
    "worker",
    "invoice",
    "payment",
    "refund",
    "ledger",
    "export",
    "import",
    "schema",
    "contract",
    "quality",
    "freshness",
    "volume",
    "alert",
    "webhook",
    "index",
    "chunk",
    "embedding",
    "vector",
    "lexical",
    "ranking",
    "fusion",
    "query",
    "answer",
    "citation",
    "passage",
    "collection",
]


def write_docs(folder: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for number in range(count):
        paragraphs = [" ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + "." for _ in range(2)]
        text = f"# Document {number}\n\n{paragraphs[0]}\n\n## Details {number}\n\n{paragraphs[1]}\n"
        (folder / f"doc{number:06d}.md").write_text(text, encoding="utf-8")


async def timed_run(runtime: Runtime, name: str) -> tuple[float, dict[str, int]]:
    assert runtime.pipelines is not None
    definition = runtime.config.pipelines.definitions[name]
    started = time.perf_counter()
    run = await run_pipeline(name, definition, runtime.pipelines.deps)
    assert run.status == "ok", run.error
    return time.perf_counter() - started, run.counts


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--store", default=None, help="store URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    sim = start_in_thread(Scenario(), host="127.0.0.1", port=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_docs(folder, args.docs)
        index = {"chunk_chars": 1000, "overlap_chars": 150}
        config = parse_config(
            {
                "store": args.store or f"sqlite:///{tmp}/bench.db",
                "auth": {"mode": "none"},
                "request_log": {"spill_dir": f"{tmp}/spill"},
                "providers": {
                    "sim": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key": "${SIM_KEY:-sk-sim}"}
                },
                "models": {
                    "embed": {
                        "kind": "embeddings",
                        "deployments": [{"provider": "sim", "model": "text-embedding-3-small"}],
                    }
                },
                "pipelines": {
                    "definitions": {
                        "lexical": {
                            "source": {"type": "folder", "path": str(folder)},
                            "index": {**index, "collection": "lexical"},
                        },
                        "embedded": {
                            "source": {"type": "folder", "path": str(folder)},
                            "index": {
                                **index,
                                "collection": "embedded",
                                "embeddings": "embed",
                                "dimensions": 256,
                                "batch_size": 128,
                            },
                        },
                    }
                },
            }
        )
        runtime = Runtime.from_config(config)
        runtime.store.migrate()
        try:
            for label, name in (("lexical", "lexical"), ("embedded", "embedded"), ("unchanged", "embedded")):
                seconds, counts = await timed_run(runtime, name)
                print(
                    json.dumps(
                        {
                            "measure": label,
                            "docs": args.docs,
                            "seconds": round(seconds, 3),
                            "docs_per_s": round(args.docs / seconds, 1),
                            "chunks_embedded": counts.get("chunks_embedded", 0),
                            "chunks_added": counts.get("chunks_added", 0),
                            "store": config.store.split(":", 1)[0],
                        }
                    ),
                    flush=True,
                )
        finally:
            for provider in runtime.providers.values():
                await provider.close()
            runtime.store.close()
            sim.stop()


if __name__ == "__main__":
    asyncio.run(main())
