"""``POST /v1/retrieve``: collection, query, k, filters; bad input answers 4xx in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.testing import GatewayThread
from tests.http import post_json, request
from tests.pipelines.conftest import write_csv


@pytest.fixture
def gateway_with_products(make_config: Any, tmp_path: Path) -> Iterator[GatewayThread]:
    path = write_csv(
        tmp_path / "products.csv",
        ["sku", "name", "description", "category"],
        [
            ["A1", "Trail shoe", "Grippy trail running shoe for muddy paths", "shoes"],
            ["A2", "Road shoe", "Light road running shoe for marathons", "shoes"],
            ["B1", "Rain jacket", "Waterproof jacket for running in the rain", "jackets"],
            ["B2", "Down jacket", "Warm down jacket for winter walks", "jackets"],
        ],
    )
    index = {
        "embeddings": "embed",
        "text_fields": ["description"],
        "title_field": "name",
        "metadata_fields": ["category"],
    }
    config = make_config(
        pipelines={
            "definitions": {
                "products": {"source": {"type": "csv", "path": str(path), "key": "sku"}, "index": index}
            },
            "scheduler": {"enabled": False},
        }
    )
    with GatewayThread(config) as gw:
        gw.run(gw.runtime.pipelines.run_now("products"))  # type: ignore[union-attr]
        yield gw


def test_retrieve_ranks_and_filters(gateway_with_products: GatewayThread) -> None:
    url = f"{gateway_with_products.url}/v1/retrieve"
    reply = post_json(url, {"collection": "products", "query": "running shoe for marathons", "k": 2})
    assert reply.status == 200
    data = reply.json()["data"]
    assert data[0]["doc_key"] == "A2" and len(data) == 2
    assert data[0]["title"] == "Road shoe" and data[0]["metadata"] == {"category": "shoes"}
    filtered = post_json(
        url, {"collection": "products", "query": "running", "k": 5, "filters": {"category": "jackets"}}
    ).json()["data"]
    assert filtered and filtered[0]["doc_key"] == "B1"
    assert {d["metadata"]["category"] for d in filtered} == {"jackets"}
    listing = request("GET", f"{gateway_with_products.url}/admin/collections").json()["data"]
    assert (
        listing[0]["name"] == "products"
        and listing[0]["embedding_model"] == "embed"
        and listing[0]["active_version"] == 1
    )


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "x"}, 400, "collection"),
        ({"collection": "products"}, 400, "query"),
        ({"collection": "products", "query": "x", "k": 0}, 400, "k"),
        ({"collection": "products", "query": "x", "k": True}, 400, "k"),
        ({"collection": "products", "query": "x", "filters": []}, 400, "filters"),
        ({"collection": "products", "query": "x", "filters": {"a": {"b": 1}}}, 400, "filters.a"),
        ({"collection": "products", "query": "x", "other": 1}, 400, "other"),
        ({"collection": "missing", "query": "x"}, 404, "collection"),
        ({"collection": "products", "query": "x", "mode": "semantic"}, 400, "mode"),
        ({"collection": "products", "query": "x", "mode": 1}, 400, "mode"),
    ],
)
def test_bad_retrieve_requests(
    gateway_with_products: GatewayThread, body: dict[str, Any], status: int, param: str
) -> None:
    reply = post_json(f"{gateway_with_products.url}/v1/retrieve", body)
    assert reply.status == status
    assert reply.json()["error"]["param"] == param


@pytest.mark.parametrize("mode", ["lexical", "vector", "hybrid"])
def test_each_mode_answers_and_says_which_answered(gateway_with_products: GatewayThread, mode: str) -> None:
    reply = post_json(
        f"{gateway_with_products.url}/v1/retrieve",
        {"collection": "products", "query": "running shoe for marathons", "k": 2, "mode": mode},
    )
    assert reply.status == 200, reply.json()
    body = reply.json()
    assert (body["mode"], body["served_mode"], body["fallback"]) == (mode, mode, None)
    assert body["data"][0]["doc_key"] == "A2"
    assert set(body["data"][0]["ranks"]) == ({"lexical", "vector"} if mode == "hybrid" else {mode})
