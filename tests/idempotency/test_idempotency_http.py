"""Idempotency-Key through a real gateway (SQLite, and PostgreSQL with HEADWAY_TEST_STORE=postgresql).

Model calls are counted where they happen: the simulator's request log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.http import post_json, request
from tests.review.conftest import CONSEQUENTIAL, admin, decide, review_section


@pytest.fixture
def review_config(make_config: Callable[..., HeadwayConfig]) -> HeadwayConfig:
    return make_config(review=review_section())


@pytest.fixture
def gw(review_config: HeadwayConfig) -> Iterator[GatewayThread]:
    with GatewayThread(review_config) as gateway:
        yield gateway


def upstream_calls(sim: Any, text: str) -> int:
    seen = request("GET", sim.url + "/sim/requests?limit=2000").json()["requests"]
    return sum(1 for r in seen if text in json.dumps(r.get("body")))


def sdk(gw: GatewayThread, api_key: str = "caller-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=api_key, max_retries=0)


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


def chat(gw: GatewayThread, text: str, headers: dict[str, str], **extra: Any) -> Any:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}
    return post_json(gw.url + "/v1/chat/completions", body, headers)


def test_a_retry_with_the_same_key_replays_the_answer_without_a_model_call(gw: GatewayThread, sim: Any) -> None:
    text, headers = f"replay me {uuid.uuid4().hex}", key()
    client = sdk(gw)
    first = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": text}], extra_headers=headers)
    again = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": text}], extra_headers=headers)
    assert first.parse().model_dump() == again.parse().model_dump()
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert upstream_calls(sim, text) == 1
    fresh = chat(gw, text, key())  # another key is another request
    assert fresh.status == 200 and upstream_calls(sim, text) == 2


def test_concurrent_requests_with_one_key_make_one_model_call(gw: GatewayThread, sim: Any) -> None:
    text, headers = f"[sim:latency_ms=600] at once {uuid.uuid4().hex}", key()
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: chat(gw, text, headers), range(5)))
    assert {r.status for r in replies} == {200}
    assert len({r.body for r in replies}) == 1
    assert sum(1 for r in replies if r.headers.get("idempotent-replayed") == "true") == 4
    assert upstream_calls(sim, text) == 1


def test_the_same_key_for_a_different_request_is_a_typed_422(gw: GatewayThread, sim: Any) -> None:
    headers = key()
    assert chat(gw, "first body", headers).status == 200
    assert chat(gw, "first body", {**headers, "authorization": "Bearer caller-a"}).status == 200  # another caller
    headers["authorization"] = "Bearer caller-a"
    with pytest.raises(openai.UnprocessableEntityError) as reused:
        sdk(gw).chat.completions.create(model="chat", messages=[{"role": "user", "content": "second body"}],
                                        extra_headers=headers)
    assert reused.value.code == "idempotency_key_reused"
    other_path = post_json(gw.url + "/v1/embeddings", {"model": "embed", "input": "first body"}, headers)
    assert other_path.status == 422 and other_path.json()["error"]["param"] == "Idempotency-Key"


def test_keys_of_different_callers_never_meet(gw: GatewayThread, sim: Any) -> None:
    text, headers = f"two callers {uuid.uuid4().hex}", key()
    for caller in ("caller-a", "caller-b"):
        sdk(gw, caller).chat.completions.create(model="chat", messages=[{"role": "user", "content": text}],
                                                extra_headers=headers)
    assert upstream_calls(sim, text) == 2


def test_a_bad_key_is_a_precise_400(gw: GatewayThread) -> None:
    for bad in ("x" * 256, "tab\there"):
        reply = chat(gw, "hi", {"Idempotency-Key": bad})
        assert reply.status == 400 and reply.json()["error"]["code"] == "idempotency_key_invalid"


def test_embeddings_and_background_jobs_honour_the_key(gw: GatewayThread, sim: Any) -> None:
    text, headers = f"embed me {uuid.uuid4().hex}", key()
    replies = [post_json(gw.url + "/v1/embeddings", {"model": "embed", "input": text}, headers) for _ in range(2)]
    assert [r.status for r in replies] == [200, 200] and replies[0].body == replies[1].body
    assert upstream_calls(sim, text) == 1
    job_headers = {**key(), "prefer": "respond-async"}
    jobs = [chat(gw, f"job {text}", job_headers) for _ in range(2)]
    assert [j.status for j in jobs] == [202, 202] and jobs[0].json()["id"] == jobs[1].json()["id"]


def test_a_held_request_retried_with_its_key_joins_the_same_review_item(gw: GatewayThread, sim: Any) -> None:
    text, headers = f"held once {uuid.uuid4().hex}", key()
    first = chat(gw, text, headers, metadata=CONSEQUENTIAL)
    assert first.status == 409 and first.json()["error"]["code"] == "review_pending"
    review_id = first.json()["error"]["review_id"]
    retried = chat(gw, text, headers, metadata=CONSEQUENTIAL)
    assert retried.status == 409 and retried.json()["error"]["review_id"] == review_id
    assert retried.headers["idempotent-replayed"] == "true"
    assert decide(gw, review_id, "approve", comment="ok").status == 200
    released = chat(gw, text, headers, metadata=CONSEQUENTIAL)  # the retry now gets the decision
    original = admin(gw, "GET", f"/admin/reviews/{review_id}").json()["original"]
    assert released.status == 200 and released.json() == original
    items = admin(gw, "GET", f"/admin/reviews?request_id={first.headers['x-request-id']}").json()["data"]
    assert [i["id"] for i in items] == [review_id]
    assert upstream_calls(sim, text) == 1


def test_a_retry_on_another_replica_replays_from_the_shared_store(review_config: HeadwayConfig, sim: Any) -> None:
    text, headers = f"two replicas {uuid.uuid4().hex}", key()
    with GatewayThread(review_config) as one, GatewayThread(review_config) as two:
        first = chat(one, text, headers)
        again = chat(two, text, headers)
        assert first.status == again.status == 200 and first.body == again.body
        assert again.headers["idempotent-replayed"] == "true"
        held = chat(one, f"held {text}", headers | {"Idempotency-Key": "held-" + headers["Idempotency-Key"]},
                    metadata=CONSEQUENTIAL)
        joined = chat(two, f"held {text}", headers | {"Idempotency-Key": "held-" + headers["Idempotency-Key"]},
                      metadata=CONSEQUENTIAL)
        assert joined.json()["error"]["review_id"] == held.json()["error"]["review_id"]
    assert upstream_calls(sim, text) == 2  # the plain question once, the held one once
