"""The real, offline embeddings model: the demo's retrieval uses it, it answers questions
whose words are not in the source, it loads once off the request path, and the eval
command reports each mode. Slow: importing torch and loading the model takes seconds."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from headway.cli.main import app
from headway.retrieval.embedder import DEFAULT_LOCAL_MODEL, LocalEmbedder
from headway.testing import GatewayThread
from tests.http import post_json

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "headway" / "examples"
WORDS = re.compile(r"[a-z]+")


def demo_knowledge_pipeline() -> dict[str, Any]:
    demo = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    definition = demo["pipelines"]["definitions"]["knowledge"]
    return {**definition, "source": {**definition["source"], "path": str(EXAMPLES / "knowledge")}}


@pytest.fixture
def demo_rag(make_config: Any) -> Iterator[GatewayThread]:
    config = make_config(
        pipelines={"definitions": {"knowledge": demo_knowledge_pipeline()}, "scheduler": {"enabled": False}},
        models={
            "support": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                "retrieval": {"collections": ["knowledge"], "k": 1},
            }
        },
    )
    with GatewayThread(config) as gw:
        assert gw.runtime.pipelines is not None and gw.runtime.retrieval is not None
        run = gw.run(gw.runtime.pipelines.run_now("knowledge"))
        assert run.status == "ok", run.error  # type: ignore[attr-defined]
        yield gw


def test_the_demo_indexes_with_the_real_model() -> None:
    assert demo_knowledge_pipeline()["index"]["embeddings"] == DEFAULT_LOCAL_MODEL
    demo = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    # The simulator's hashed vectors are named for what they are, and nothing retrieves with them.
    assert "sim-hash-embeddings" in demo["models"] and "embed-small" not in demo["models"]


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("I changed my mind about a purchase: can I get reimbursed?", "returns.md"),
        ("How quickly does a parcel reach me?", "shipping.md"),
    ],
)
def test_a_rag_answer_cites_the_right_source_without_shared_words(
    demo_rag: GatewayThread, question: str, source: str
) -> None:
    text = (EXAMPLES / "knowledge" / source).read_text().lower()
    content_words = {w for w in WORDS.findall(question.lower()) if len(w) > 3}
    assert not content_words & set(WORDS.findall(text)), (
        "the question must not share its words with the source"
    )
    reply = post_json(
        f"{demo_rag.url}/v1/chat/completions",
        {"model": "support", "messages": [{"role": "user", "content": question}]},
    )
    assert reply.status == 200 and reply.headers["x-headway-retrieval"] == "hit"
    assert [c["doc_key"] for c in reply.json()["citations"]] == [source]


def test_the_model_loads_once_and_never_on_the_request_path(demo_rag: GatewayThread) -> None:
    retriever = demo_rag.runtime.retrieval
    assert retriever is not None
    [embedder] = [e for e in retriever._embedders.values() if isinstance(e, LocalEmbedder)]
    assert embedder.ready
    loads: list[int] = []
    original = embedder.load
    embedder.load = lambda: loads.append(1) or original()  # type: ignore[method-assign]
    replies = [
        post_json(f"{demo_rag.url}/v1/retrieve", {"collection": "knowledge", "query": f"refund window {i}"})
        for i in range(4)
    ]
    assert all(r.status == 200 and r.json()["served_mode"] == "hybrid" for r in replies)
    assert loads == []


def test_an_embedder_still_loading_answers_from_lexical_flagged(demo_rag: GatewayThread) -> None:
    retriever = demo_rag.runtime.retrieval
    assert retriever is not None
    [embedder] = [e for e in retriever._embedders.values() if isinstance(e, LocalEmbedder)]
    encoder, embedder._encoder = embedder._encoder, None
    embedder._lock.acquire()  # a load in progress: whoever waits for it would wait here
    try:
        reply, *more = [
            post_json(f"{demo_rag.url}/v1/retrieve", {"collection": "knowledge", "query": "refund original payment method"})
            for _ in range(4)
        ]
        # Every query during the load answered lexically; one background load between them.
        loaders = [t for t in threading.enumerate() if t.name == "headway-embedder-load" and t.is_alive()]
    finally:
        embedder._encoder = encoder
        embedder._lock.release()
    assert len(loaders) == 1, loaders
    assert all(r.status == 200 and r.json()["served_mode"] == "lexical" for r in more)
    assert reply.status == 200
    body = reply.json()
    assert body["served_mode"] == "lexical" and "still loading" in body["fallback"]
    assert body["data"][0]["doc_key"] == "returns.md"


def test_retrieval_eval_reports_every_mode(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("returns.md", "shipping.md", "accounts.md"):
        (corpus / name).write_text((EXAMPLES / "knowledge" / name).read_text())
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in (
                {
                    "question": "I changed my mind about a purchase: can I get reimbursed?",
                    "relevant": ["returns.md"],
                },
                {"question": "How quickly does a parcel reach me?", "relevant": ["shipping.md"]},
                {"question": "I cannot remember my login secret", "relevant": ["accounts.md"]},
            )
        )
    )
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(
        app,
        [
            "retrieval",
            "eval",
            "--questions",
            str(questions),
            "--corpus",
            str(corpus),
            "--k",
            "1",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = {row["mode"]: row for row in json.loads(out.read_text())}
    assert set(figures) == {"lexical", "vector", "hybrid"}
    assert figures["vector"]["recall@1"] == 1.0 and figures["hybrid"]["recall@1"] == 1.0
    # These questions share no words with their answers: keyword search cannot find them.
    assert figures["lexical"]["recall@1"] < 1.0
    assert all(0.0 <= row["mrr"] <= 1.0 and 0.0 <= row["ndcg@1"] <= 1.0 for row in figures.values())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no relevant list"}\n')
    refused = CliRunner().invoke(app, ["retrieval", "eval", "--questions", str(bad), "--corpus", str(corpus)])
    assert refused.exit_code != 0 and "bad.jsonl:1" in refused.output
