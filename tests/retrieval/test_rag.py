"""RAG on chat requests: the upstream receives the passages, citations come back, and a
retrieval failure or timeout still answers, flagged in the header and the request record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.retrieval.rag import augment
from headway.testing import GatewayThread
from headway.types import RequestRecord
from tests.http import post_json, request

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@pytest.fixture
def rag_gateway(make_config: Any) -> Iterator[GatewayThread]:
    config = make_config(
        pipelines={
            "definitions": {
                "corpus": {
                    "source": {"type": "folder", "path": str(DATA / "corpus")},
                    "index": {"embeddings": "embed", "chunk_chars": 400},
                }
            },
            "scheduler": {"enabled": False},
        },
        retrieval={"timeout_s": 0.5},
        models={
            "rag": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                "retrieval": {"collections": ["corpus"], "k": 3},
            },
        },
    )
    with GatewayThread(config) as gw:
        assert gw.runtime.pipelines is not None
        run = gw.run(gw.runtime.pipelines.run_now("corpus"))
        assert run.status == "ok"  # type: ignore[attr-defined]
        yield gw


def last_upstream_chat(sim: Any) -> dict[str, Any]:
    entries = request("GET", f"{sim.url}/sim/requests?limit=20").json()["requests"]
    return next(e for e in reversed(entries) if e["endpoint"] == "chat.completions")["body"]


def test_model_config_rag_injects_passages_and_returns_citations(
    rag_gateway: GatewayThread, sim: Any
) -> None:
    client = openai.OpenAI(base_url=rag_gateway.url + "/v1", api_key="unused")
    raw = client.chat.completions.with_raw_response.create(
        model="rag",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Discount codes get applied twice at checkout"},
        ],
    )
    assert raw.headers["x-headway-retrieval"] == "hit"
    body = raw.http_response.json()
    citations = body["citations"]
    assert 1 <= len(citations) <= 3 and citations[0]["doc_key"] == "sable.md" and citations[0]["index"] == 1
    assert raw.parse().choices[0].message.content
    upstream = last_upstream_chat(sim)["messages"]
    assert [m["role"] for m in upstream] == ["system", "system", "user"]
    assert "[1] Sable" in upstream[1]["content"] and "idempotency keys" in upstream[1]["content"]
    rag_gateway.flush()
    record = request("GET", f"{rag_gateway.url}/admin/requests/{raw.headers['x-request-id']}").json()
    assert record["quality"]["retrieval"]["status"] == "hit" and record["quality"]["retrieval"][
        "passages"
    ] == len(citations)


def test_request_names_collections_and_the_key_is_not_forwarded(rag_gateway: GatewayThread, sim: Any) -> None:
    reply = post_json(
        f"{rag_gateway.url}/v1/chat/completions",
        {
            "model": "chat",
            "messages": [{"role": "user", "content": "Passport OCR fails"}],
            "retrieval": {"collections": ["corpus"], "k": 2},
        },
    )
    assert reply.status == 200 and reply.headers["x-headway-retrieval"] == "hit"
    assert reply.json()["citations"][0]["doc_key"] == "umber.md"
    upstream = last_upstream_chat(sim)
    assert "retrieval" not in upstream and "umber" in upstream["messages"][0]["content"].lower()
    plain = post_json(
        f"{rag_gateway.url}/v1/chat/completions",
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert "x-headway-retrieval" not in plain.headers and "citations" not in plain.json()


# Enough faults to outlast the executor's retries; a hang outlasts the vector half's budget.
@pytest.mark.parametrize(("fault", "reasons"), [("500", ("failed", "timed out")), ("hang", ("timed out",))])
def test_an_embedder_failure_answers_from_the_lexical_half_flagged(
    rag_gateway: GatewayThread, sim: Any, fault: str, reasons: tuple[str, ...]
) -> None:
    request(
        "POST",
        f"{sim.url}/sim/faults",
        f'{{"fault": "{fault}", "model": "text-embedding-3-small", "count": 20}}'.encode(),
    )
    try:
        reply = post_json(
            f"{rag_gateway.url}/v1/chat/completions",
            {"model": "rag", "messages": [{"role": "user", "content": "Who owns push notifications?"}]},
        )
        retrieve = post_json(
            f"{rag_gateway.url}/v1/retrieve", {"collection": "corpus", "query": "push notifications owner"}
        )
        vector_only = post_json(
            f"{rag_gateway.url}/v1/retrieve",
            {"collection": "corpus", "query": "push notifications owner", "mode": "vector"},
        )
    finally:
        request("DELETE", f"{sim.url}/sim/faults")
    # Hybrid answers from its working lexical half and says so; it never reads "all deployments failed: None".
    assert reply.status == 200 and reply.headers["x-headway-retrieval"] == "hit"
    assert reply.json()["citations"]
    assert retrieve.status == 200 and retrieve.json()["served_mode"] == "lexical"
    assert retrieve.json()["mode"] == "hybrid" and retrieve.json()["data"]
    assert any(r in retrieve.json()["fallback"] for r in reasons)
    assert "None" not in retrieve.json()["fallback"]
    # Asked for vectors only, there is nothing to fall back to: an error, not a silent lexical answer.
    assert vector_only.status in (502, 504)
    rag_gateway.flush()
    record = request("GET", f"{rag_gateway.url}/admin/requests/{reply.headers['x-request-id']}").json()
    assert record["quality"]["retrieval"]["status"] == "hit"
    assert any(r in record["quality"]["retrieval"]["fallback"]["corpus"] for r in reasons)


def test_bad_and_unknown_collections_are_client_errors(rag_gateway: GatewayThread) -> None:
    url = f"{rag_gateway.url}/v1/chat/completions"
    messages = [{"role": "user", "content": "x"}]
    unknown = post_json(url, {"model": "chat", "messages": messages, "retrieval": {"collections": ["nope"]}})
    assert unknown.status == 404 and unknown.json()["error"]["param"] == "retrieval.collections"
    for bad in (
        {"collections": []},
        {"collections": "corpus"},
        {"collections": ["corpus"], "k": 0},
        {"collections": ["corpus"], "x": 1},
        "corpus",
    ):
        reply = post_json(url, {"model": "chat", "messages": messages, "retrieval": bad})
        assert reply.status == 400, bad


async def test_only_collections_the_caller_may_read(rag_gateway: GatewayThread) -> None:
    from headway.errors import PermissionDeniedError

    runtime = rag_gateway.runtime
    record = RequestRecord(request_id="r1", endpoint="chat.completions", model="rag")
    body = {"model": "rag", "messages": [{"role": "user", "content": "Passport OCR fails"}]}
    outcome = await augment(
        runtime.retrieval, runtime.route("rag", "chat"), body, record, allowed=frozenset({"other"})
    )
    assert outcome.status == "miss" and record.quality["retrieval"]["denied"] == ["corpus"]
    assert len(body["messages"]) == 1
    explicit = {"model": "chat", "messages": body["messages"], "retrieval": {"collections": ["corpus"]}}
    with pytest.raises(PermissionDeniedError):
        await augment(
            runtime.retrieval, runtime.route("chat", "chat"), explicit, record, allowed=frozenset({"other"})
        )


def test_streamed_answers_carry_the_retrieval_header(rag_gateway: GatewayThread, sim: Any) -> None:
    client = openai.OpenAI(base_url=rag_gateway.url + "/v1", api_key="unused")
    with client.chat.completions.with_streaming_response.create(
        model="rag", stream=True, messages=[{"role": "user", "content": "Search returns deleted products"}]
    ) as response:
        assert response.headers["x-headway-retrieval"] == "hit"
        text = "".join(chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices)
    assert text
    upstream = last_upstream_chat(sim)["messages"]
    assert upstream[0]["role"] == "system" and "Cedar" in upstream[0]["content"]
