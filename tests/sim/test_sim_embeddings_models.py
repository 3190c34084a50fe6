"""Embeddings (similarity properties, encodings) and the model list."""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import openai
import pytest

from headway.sim import SimServer
from headway.sim.tokens import count_tokens


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


async def test_embeddings_reflect_shared_words(oai: openai.AsyncOpenAI) -> None:
    texts = [
        "How do I reset my password?",
        "how do i RESET my password",
        "Password reset steps for my account",
        "Quarterly revenue grew in Europe",
    ]
    result = await oai.embeddings.create(model="embed", input=texts, encoding_format="float")
    vectors = [item.embedding for item in result.data]
    assert [item.index for item in result.data] == [0, 1, 2, 3]
    assert all(len(vector) == 384 for vector in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-9) for v in vectors)
    assert math.isclose(cosine(vectors[0], vectors[1]), 1.0, rel_tol=1e-9)  # case and punctuation ignored
    related, unrelated = cosine(vectors[0], vectors[2]), cosine(vectors[0], vectors[3])
    assert related > 0.4
    assert related > unrelated + 0.3
    assert result.usage.prompt_tokens == sum(count_tokens(text) for text in texts)
    assert result.model == "embed"


async def test_base64_encoding_decodes_to_the_float_vector(oai: openai.AsyncOpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; compare with an explicit float request.
    decoded = await oai.embeddings.create(model="e", input="deterministic vectors")
    floats = await oai.embeddings.create(model="e", input="deterministic vectors", encoding_format="float")
    assert len(decoded.data[0].embedding) == len(floats.data[0].embedding)
    for a, b in zip(decoded.data[0].embedding, floats.data[0].embedding, strict=True):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)


async def test_dimensions_parameter(oai: openai.AsyncOpenAI) -> None:
    result = await oai.embeddings.create(
        model="e", input=["a b", "c"], dimensions=64, encoding_format="float"
    )
    assert [len(item.embedding) for item in result.data] == [64, 64]


async def test_dimensions_beyond_any_models_width_are_refused(oai: openai.AsyncOpenAI) -> None:
    # It allocated whatever it was asked for (10**9 floats per input) before.
    with pytest.raises(openai.BadRequestError) as refused:
        await oai.embeddings.create(model="e", input="a", dimensions=10**9)
    assert "dimensions" in str(refused.value)


async def test_embeddings_fault_applies(oai: openai.AsyncOpenAI) -> None:
    try:
        await oai.embeddings.create(model="e", input="x", extra_headers={"x-sim-fault": "500"})
    except openai.InternalServerError as exc:
        assert exc.status_code == 500
    else:
        raise AssertionError("the 500 fault was not applied to embeddings")


async def test_models_lists_catalog_and_scenario_models(start_sim: Any, http: aiohttp.ClientSession) -> None:
    sim: SimServer = await start_sim(catalog=["base"], models={"fast": {}, "slow": {"latency_ms": 5}})
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0) as client:
        listed = await client.models.list()
    assert [model.id for model in listed.data] == ["base", "fast", "slow"]
    assert all(model.object == "model" for model in listed.data)
    async with http.get(f"{sim.url}/v1/models", headers={"anthropic-version": "2023-06-01"}) as response:
        body = await response.json()
    assert [model["id"] for model in body["data"]] == ["base", "fast", "slow"]
    assert body["data"][0]["type"] == "model" and body["has_more"] is False
