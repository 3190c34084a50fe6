"""User feedback: POST /v1/feedback, shown on the record, queryable, exported as JSONL."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from headway.errors import InvalidRequestError
from headway.observe.feedback import RECORD_SUMMARY_LIMIT, parse_feedback
from headway.testing import GatewayThread
from tests.http import post_json, request


def _ask(gateway: GatewayThread, text: str) -> str:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": text}])
    raw.parse()
    return str(raw.headers["x-request-id"])


def test_feedback_right_after_the_answer_lands_on_its_record_and_in_the_export(gateway: GatewayThread) -> None:
    request_id = _ask(gateway, "Rate me")
    other = _ask(gateway, "Do not rate me")
    # No flush first: the record may still be in the buffer, and feedback must still find it.
    reply = post_json(gateway.url + "/v1/feedback", {"request_id": request_id, "score": 0.25, "label": "helpful", "comment": "ok-ish"})
    assert reply.status == 201, reply.body
    created = reply.json()
    assert created["feedback_id"].startswith("fb_")
    assert (created["score"], created["label"], created["caller"]) == (0.25, "helpful", "anonymous")
    post_json(gateway.url + "/v1/feedback", {"request_id": request_id, "label": "wrong-tone"})

    record = request("GET", f"{gateway.url}/admin/requests/{request_id}").json()
    assert [(f["score"], f["label"]) for f in record["quality"]["feedback"]] == [(0.25, "helpful"), (None, "wrong-tone")]
    untouched = gateway.record(other)  # the unrated answer's record may still be on its way to the store
    assert "feedback" not in untouched.quality

    listed = request("GET", f"{gateway.url}/admin/feedback?request_id={request_id}").json()["data"]
    assert [f["label"] for f in listed] == ["helpful", "wrong-tone"]
    by_label = request("GET", f"{gateway.url}/admin/feedback?label=helpful").json()["data"]
    assert [f["request_id"] for f in by_label] == [request_id]

    export = request("GET", f"{gateway.url}/admin/feedback/export")
    assert export.status == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.body.splitlines()]
    assert [line["label"] for line in lines] == ["helpful", "wrong-tone"]
    first = lines[0]
    assert first["request_id"] == request_id and first["comment"] == "ok-ish"
    assert first["request"]["model"] == "chat"
    assert first["request"]["output_tokens"] == record["output_tokens"]
    assert "feedback" not in first["request"]["quality"]  # the line itself is the feedback
    only = request("GET", f"{gateway.url}/admin/feedback/export?label=wrong-tone").body.splitlines()
    assert len(only) == 1


def test_feedback_on_an_unknown_request_is_404(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + "/v1/feedback", {"request_id": "req_nope", "score": 1})
    assert reply.status == 404
    assert reply.json()["error"]["param"] == "request_id"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"score": 1}, "request_id"),
        ({"request_id": "r"}, "score"),
        ({"request_id": "r", "score": "high"}, "score"),
        ({"request_id": "r", "score": True}, "score"),
        ({"request_id": "r", "score": float("inf")}, "score"),
        ({"request_id": "r", "label": ""}, "label"),
        ({"request_id": "r", "label": 3}, "label"),
        ({"request_id": "r", "label": "x", "comment": 5}, "comment"),
        ({"request_id": "r", "label": "x", "metadata": []}, "metadata"),
        ({"request_id": "r", "label": "x", "stars": 5}, "stars"),
        ({"request_id": "r" * 65, "label": "x"}, "request_id"),
    ],
)
def test_bad_feedback_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_feedback(body, caller="c")
    assert caught.value.param == param


def test_bad_feedback_over_http_is_a_400_in_openai_shape(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + "/v1/feedback", {"request_id": "x"})
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert request("POST", gateway.url + "/v1/feedback", b"[1]", {"content-type": "application/json"}).status == 400


def test_feedback_of_another_caller_is_refused(gateway: GatewayThread) -> None:
    request_id = _ask(gateway, "Mine")
    gateway.flush()
    store = gateway.runtime.observability.feedback
    assert store is not None
    item = parse_feedback({"request_id": request_id, "score": 1}, caller="somebody-else")
    assert store.add(item, owner="somebody-else") is False
    assert store.add(item, owner=None) is True  # admins and operators may rate any request
    assert [f.caller for f in store.for_request(request_id)] == ["somebody-else"]


def test_the_record_keeps_only_the_latest_feedback_summaries(gateway: GatewayThread) -> None:
    request_id = _ask(gateway, "Popular")
    gateway.flush()
    store = gateway.runtime.observability.feedback
    assert store is not None
    for index in range(RECORD_SUMMARY_LIMIT + 3):
        assert store.add(parse_feedback({"request_id": request_id, "score": index}, caller="c"))
    summary = gateway.runtime.store.get_request(request_id).quality["feedback"]  # type: ignore[union-attr]
    assert [f["score"] for f in summary] == [float(i) for i in range(3, RECORD_SUMMARY_LIMIT + 3)]
    assert len(store.for_request(request_id)) == RECORD_SUMMARY_LIMIT + 3


def test_storing_the_same_feedback_twice_is_idempotent(gateway: GatewayThread) -> None:
    """One review decision copied by two sweeps at once must not fail the second."""
    from headway.observe.feedback import Feedback, FeedbackStore

    request_id = _ask(gateway, "store me twice")
    gateway.flush()
    store = FeedbackStore(gateway.runtime.store.database)
    item = Feedback(feedback_id="fb_fixed_id", request_id=request_id, created_at=1.0, caller="anonymous", score=1.0, label="dup")
    assert store.add(item) and store.add(item)
    assert [f.label for f in store.for_request(request_id)] == ["dup"]


def test_a_missing_table_is_a_500_with_the_request_id_not_store_unavailable(gateway: GatewayThread) -> None:
    """A bug in the schema surfaces: a 500 that names the request, while the store stays ready."""
    request_id = _ask(gateway, "rate me after the table is gone")
    gateway.flush()
    with gateway.runtime.store.database.transaction("drop a table") as connection:
        connection.exec_driver_sql("DROP TABLE feedback")
    reply = post_json(gateway.url + "/v1/feedback", {"request_id": request_id, "score": 1})
    assert reply.status == 500, reply.body
    error = reply.json()["error"]
    assert error["code"] == "internal_error" and error["request_id"] == reply.headers["x-request-id"]
    ready = request("GET", gateway.url + "/readyz")
    assert ready.status == 200 and ready.json()["checks"]["store"]["ok"]  # reachable: not reported as an outage


def test_another_constraint_failing_is_not_taken_for_a_duplicate(gateway: GatewayThread) -> None:
    """Only the same feedback id stored twice is idempotent; a NOT NULL violation is a bug."""
    from sqlalchemy.exc import IntegrityError

    from headway.observe.feedback import Feedback, FeedbackStore

    request_id = _ask(gateway, "store me without a caller")
    gateway.flush()
    store = FeedbackStore(gateway.runtime.store.database)
    broken = Feedback(feedback_id="fb_no_caller", request_id=request_id, created_at=1.0, caller=None, score=1.0)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        store.add(broken)
    assert store.for_request(request_id) == []
