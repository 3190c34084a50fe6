"""A held request approved, edited and rejected; the caller gets exactly the decision by poll, by wait and by webhook."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from headway.observe.webhooks import WebhookVerificationError, verify
from headway.testing import GatewayThread
from tests.http import request
from tests.review.conftest import (
    CONSEQUENTIAL,
    WEBHOOK_SECRET,
    WebhookReceiver,
    admin,
    chat,
    decide,
    eventually,
    hold,
    item,
)

EDITED = "Refund approved for order 1182, credited within 3 business days."


def expected_release(gw: GatewayThread, review_id: str, decision: str) -> dict[str, Any]:
    """What the caller must get: the model's answer as stored, or it with the reviewer's text."""
    original = item(gw, review_id)["original"]
    if decision == "approve":
        return dict(original)
    edited = dict(original)
    edited["choices"] = [{**original["choices"][0], "message": {**original["choices"][0]["message"], "content": EDITED},
                          "finish_reason": "stop"}]
    return edited


def apply(gw: GatewayThread, review_id: str, decision: str) -> None:
    fields = {"output": EDITED} if decision == "edit" else {}
    reply = decide(gw, review_id, decision, comment=f"{decision} in test", **fields)
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == {"approve": "approved", "edit": "edited", "reject": "rejected"}[decision]


@pytest.mark.parametrize("decision", ["approve", "edit", "reject"])
def test_poll_sees_202_then_exactly_the_decision(review_gateway: GatewayThread, decision: str) -> None:
    review_id, held = hold(review_gateway, f"poll me ({decision})")
    ticket = held.json()
    assert ticket["object"] == "review" and ticket["status"] == "pending"
    assert held.headers["location"] == ticket["status_url"] == f"{review_gateway.url}/v1/reviews/{review_id}"
    pending = request("GET", ticket["status_url"])
    assert pending.status == 202 and pending.json()["status"] == "pending" and pending.headers["retry-after"]

    apply(review_gateway, review_id, decision)
    polled = request("GET", ticket["status_url"])
    if decision == "reject":
        assert polled.status == 403
        error = polled.json()["error"]
        assert error["code"] == "review_rejected" and error["review_id"] == review_id
        assert "reject in test" in error["message"]
    else:
        assert polled.status == 200
        assert polled.json() == expected_release(review_gateway, review_id, decision)
        assert polled.headers["x-headway-review-status"] == {"approve": "approved", "edit": "edited"}[decision]


@pytest.mark.parametrize("decision", ["approve", "edit", "reject"])
def test_prefer_wait_on_the_original_request_returns_the_decision(review_gateway: GatewayThread, decision: str) -> None:
    client = openai.OpenAI(base_url=review_gateway.url + "/v1", api_key="unused", max_retries=0)
    prompt = f"wait for me ({decision})"

    def call() -> Any:
        return client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": prompt}], metadata=CONSEQUENTIAL,
            extra_headers={"Prefer": "wait=30"},
        )

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(call)
        found = eventually(
            lambda: admin(review_gateway, "GET", "/admin/reviews?status=pending&limit=500").json()["data"],
            what="the held item",
        )
        review_id = next(r["id"] for r in found if item(review_gateway, r["id"])["request"]["messages"][0]["content"] == prompt)
        apply(review_gateway, review_id, decision)
        if decision == "reject":
            with pytest.raises(openai.PermissionDeniedError) as refused:
                waiting.result(timeout=30)
            assert refused.value.code == "review_rejected"
            return
        completion = waiting.result(timeout=30)
    assert completion.model_dump(exclude_unset=True) == expected_release(review_gateway, review_id, decision)


def test_prefer_wait_on_the_status_url(review_gateway: GatewayThread) -> None:
    review_id, held = hold(review_gateway, "wait on the status url")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(request, "GET", held.json()["status_url"], None, {"prefer": "wait=30"})
        eventually(lambda: review_gateway.runtime.review is not None and review_gateway.runtime.review.waiters.stats.waiting,
                   what="the caller to start waiting")
        apply(review_gateway, review_id, "edit")
        reply = waiting.result(timeout=30)
    assert reply.status == 200 and reply.headers["preference-applied"] == "wait=30"
    assert reply.json()["choices"][0]["message"]["content"] == EDITED


def test_a_wait_that_runs_out_answers_202(review_gateway: GatewayThread) -> None:
    review_id, held = hold(review_gateway, "nobody decides this in time", headers={"prefer": "wait=0.2"})
    assert held.headers["preference-applied"] == "wait=0.2"
    assert held.json()["status"] == "pending" and held.json()["id"] == review_id


def _sdk(gw: GatewayThread, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", **options)


def _pending_error(error: openai.ConflictError, gw: GatewayThread) -> str:
    """The documented typed error: ConflictError, code review_pending, id and status URL in its body and headers."""
    assert error.status_code == 409 and error.code == "review_pending"
    assert isinstance(error.body, dict)
    review_id = str(error.body["review_id"])
    assert review_id.startswith("rev_")
    assert error.body["status_url"] == error.response.headers["location"] == f"{gw.url}/v1/reviews/{review_id}"
    assert error.response.headers["x-headway-review-id"] == review_id
    assert review_id in error.message and error.body["status_url"] in error.message
    return review_id


def test_a_plain_sdk_call_on_a_held_answer_raises_the_typed_error_once(review_gateway: GatewayThread) -> None:
    """The SDK raises openai.ConflictError (never a malformed ChatCompletion) and does not retry it (default retries on)."""
    before = len(admin(review_gateway, "GET", "/admin/reviews?status=pending&limit=500").json()["data"])
    with pytest.raises(openai.ConflictError) as raised:
        _sdk(review_gateway, max_retries=2).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "plain sdk call"}], metadata=CONSEQUENTIAL,
        )
    review_id = _pending_error(raised.value, review_gateway)
    after = admin(review_gateway, "GET", "/admin/reviews?status=pending&limit=500").json()["data"]
    assert len(after) == before + 1  # x-should-retry: false, so the SDK's retries did not hold it again
    apply(review_gateway, review_id, "approve")
    polled = request("GET", raised.value.body["status_url"])  # type: ignore[index]
    assert polled.status == 200 and polled.json() == expected_release(review_gateway, review_id, "approve")


def test_a_plain_sdk_stream_on_a_held_answer_raises_the_typed_error(review_gateway: GatewayThread) -> None:
    with pytest.raises(openai.ConflictError) as raised:
        _sdk(review_gateway, max_retries=0).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "plain sdk stream"}], metadata=CONSEQUENTIAL, stream=True,
        )
    _pending_error(raised.value, review_gateway)


def test_an_sdk_wait_that_runs_out_raises_the_typed_error(review_gateway: GatewayThread) -> None:
    with pytest.raises(openai.ConflictError) as raised:
        _sdk(review_gateway, max_retries=0).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "sdk wait runs out"}], metadata=CONSEQUENTIAL,
            extra_headers={"Prefer": "wait=0.2"},
        )
    _pending_error(raised.value, review_gateway)
    assert raised.value.response.headers["preference-applied"] == "wait=0.2"


def test_a_ticket_is_only_for_callers_that_opt_in(review_gateway: GatewayThread) -> None:
    plain = chat(review_gateway, "no opt in", metadata=CONSEQUENTIAL)
    assert plain.status == 409 and plain.headers["x-should-retry"] == "false" and plain.headers["retry-after"]
    assert plain.json()["error"]["type"] == "invalid_request_error"
    ticketed = chat(review_gateway, "opt in", metadata=CONSEQUENTIAL, headers={"Prefer": "Review=Ticket"})
    assert ticketed.status == 202 and ticketed.json()["object"] == "review"
    # the held request's record says held (202) whichever form the caller got
    assert review_gateway.record(plain.headers["x-request-id"]).status_code == 202


@pytest.mark.parametrize("decision", ["approve", "edit", "reject"])
def test_signed_webhook_carries_the_decision(
    review_gateway: GatewayThread, webhooks: WebhookReceiver, decision: str
) -> None:
    review_id, held = hold(review_gateway, f"tell my webhook ({decision})", metadata={"review_webhook": webhooks.url})
    apply(review_gateway, review_id, decision)
    delivery = webhooks.for_review(review_id)
    verify(WEBHOOK_SECRET, delivery.headers, delivery.body)  # raises unless signed with the secret, recently
    with pytest.raises(WebhookVerificationError):
        verify("whsec_" + "A" * 44, delivery.headers, delivery.body)
    event = delivery.json()
    assert event["type"] == "review.decided" and delivery.headers["webhook-id"] == f"{review_id}.{event['data']['status']}"
    polled = request("GET", held.json()["status_url"])
    if decision == "reject":
        assert event["data"]["response"] is None and event["data"]["error"]["code"] == "review_rejected"
        assert polled.status == 403
    else:
        assert event["data"]["error"] is None
        assert event["data"]["response"] == polled.json() == expected_release(review_gateway, review_id, decision)
    eventually(lambda: item(review_gateway, review_id)["webhook"]["state"] == "sent", what="the delivery to be recorded")


def test_a_webhook_url_outside_the_allowed_list_is_refused(review_gateway: GatewayThread) -> None:
    reply = chat(review_gateway, "hi", metadata={**CONSEQUENTIAL, "review_webhook": "http://198.51.100.7/hook"})
    assert reply.status == 400 and reply.json()["error"]["code"] == "review_webhook_not_allowed"
    assert review_gateway.record(reply.headers["x-request-id"]).error_type == "review_webhook_not_allowed"


def test_a_held_stream_is_answered_409_json_or_replayed_once_approved(review_gateway: GatewayThread) -> None:
    held = chat(review_gateway, "stream me", metadata=CONSEQUENTIAL, stream=True)
    assert held.status == 409 and held.headers["content-type"].startswith("application/json")
    review_id = held.json()["error"]["review_id"]
    assert item(review_gateway, review_id)["original"]["object"] == "chat.completion"

    client = openai.OpenAI(base_url=review_gateway.url + "/v1", api_key="unused", max_retries=0)
    texts: list[str] = []

    def stream_and_wait() -> None:
        stream = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "stream and wait"}], metadata=CONSEQUENTIAL,
            stream=True, extra_headers={"Prefer": "wait=30"},
        )
        texts.extend(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    waiter = threading.Thread(target=stream_and_wait)
    waiter.start()
    found = eventually(
        lambda: [r for r in admin(review_gateway, "GET", "/admin/reviews?status=pending&limit=500").json()["data"]
                 if item(review_gateway, r["id"])["request"]["messages"][0]["content"] == "stream and wait"],
        what="the held stream",
    )
    apply(review_gateway, found[0]["id"], "approve")
    waiter.join(30)
    assert "".join(texts) == item(review_gateway, found[0]["id"])["original"]["choices"][0]["message"]["content"]


def test_a_request_no_policy_covers_is_answered_at_once(review_gateway: GatewayThread) -> None:
    reply = chat(review_gateway, "ordinary question")
    assert reply.status == 200 and reply.json()["object"] == "chat.completion"
    assert "x-headway-review-id" not in reply.headers


def test_an_unknown_review_is_404_in_openai_shape(review_gateway: GatewayThread) -> None:
    for path in ("/v1/reviews/rev_0123456789abcdef", "/v1/reviews/not-an-id", "/admin/reviews/rev_00"):
        reply = request("GET", review_gateway.url + path)
        assert reply.status == 404 and set(reply.json()["error"]) >= {"message", "type", "param", "code"}


def test_status_all_lists_open_and_decided_items_over_the_api(review_gateway: GatewayThread) -> None:
    open_id, _ = hold(review_gateway, "still open for status=all")
    decided_id, _ = hold(review_gateway, "decided for status=all")
    apply(review_gateway, decided_id, "reject")
    listed = admin(review_gateway, "GET", "/admin/reviews?status=all&limit=500")
    assert listed.status == 200
    ids = {i["id"] for i in listed.json()["data"]}
    assert {open_id, decided_id} <= ids
    assert decided_id not in {i["id"] for i in admin(review_gateway, "GET", "/admin/reviews?status=open&limit=500").json()["data"]}
    bad = admin(review_gateway, "GET", "/admin/reviews?status=everything")
    assert bad.status == 400 and bad.json()["error"]["param"] == "status" and "all" in bad.json()["error"]["message"]
