"""Policy matching and the caller's answers, as pure functions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from headway.config.review import ReviewConfig
from headway.errors import InvalidRequestError
from headway.review.items import Escalation, ReviewItem
from headway.review.policy import GUARD_POLICY, Facts, Policies, sampled
from headway.review.release import (
    ReviewPendingError,
    ReviewRejectedError,
    answer,
    edited_completion,
    parse_wait,
    wants_ticket,
)


def facts(model: str = "chat", metadata: dict[str, Any] | None = None, quality: dict[str, Any] | None = None,
          team: str | None = None, request_id: str = "req_1") -> Facts:
    return Facts(request_id, model, team, metadata or {}, quality or {})


def policies(**spec: Any) -> Policies:
    return Policies(ReviewConfig.model_validate({"policies": spec}))


def test_every_condition_of_a_policy_must_hold() -> None:
    p = policies(money={"match": {"models": ["gpt-*", "chat"], "metadata": {"consequential": True}, "teams": ["risk"]}})
    assert p.match(facts(metadata={"consequential": "true"}, team="risk")) is not None
    assert p.match(facts(model="gpt-4o", metadata={"consequential": True}, team="risk")) is not None
    assert p.match(facts(model="claude", metadata={"consequential": "true"}, team="risk")) is None
    assert p.match(facts(metadata={"consequential": "false"}, team="risk")) is None
    assert p.match(facts(metadata={}, team="risk")) is None
    assert p.match(facts(metadata={"consequential": "true"}, team="support")) is None
    found = p.match(facts(metadata={"consequential": "true"}, team="risk"))
    assert found is not None and found.reason == "model chat; team risk; metadata consequential=true"


def test_tags_findings_and_contract_outcomes() -> None:
    p = policies(
        tagged={"match": {"tags": ["payments", "legal"]}, "action": "audit"},
        flagged={"match": {"findings": ["injection"]}},
        broken={"match": {"contract_failed": True}},
    )
    assert p.match(facts(metadata={"tags": "ops, legal"})).policy == "tagged"  # type: ignore[union-attr]
    assert p.match(facts(metadata={"tags": ["payments"]})).policy == "tagged"  # type: ignore[union-attr]
    assert p.match(facts(metadata={"tags": ["other"]})) is None
    injection = {"injection": {"action": "flag", "findings": [{"rules": ["ignore_instructions"]}]}}
    assert p.match(facts(quality=injection)).policy == "flagged"  # type: ignore[union-attr]
    assert p.match(facts(quality={"contract": "failed"})).policy == "broken"  # type: ignore[union-attr]
    assert p.match(facts(quality={"contract": "passed"})) is None


def test_hold_wins_over_audit_and_a_guard_request_is_never_let_through() -> None:
    p = policies(everything={"match": {}, "action": "audit"}, money={"match": {"metadata": {"consequential": True}}})
    assert p.match(facts(metadata={"consequential": True})).policy == "money"  # type: ignore[union-attr]
    assert p.match(facts()).policy == "everything"  # type: ignore[union-attr]
    guarded = p.match(facts(quality={"review": "requested"}))
    assert guarded is not None and guarded.policy == GUARD_POLICY and guarded.holds
    assert Policies(ReviewConfig()).match(facts(quality={"review": "requested"})) is not None
    assert Policies(ReviewConfig()).match(facts()) is None


@pytest.mark.parametrize(
    ("match", "decided"),
    [
        ({"models": ["chat"], "metadata": {"consequential": True}, "teams": ["risk"], "tags": ["x"], "sample_rate": 0.5}, True),
        ({"findings": ["injection"]}, False),  # guards add findings after the screen (output guards)
        ({"review_requested": True}, False),
        ({"contract_failed": True}, False),
        ({"output_regex": "refund"}, False),
        ({"output_json": ["$.amount > 500"]}, False),
        ({"tool_calls": [{"name": "pay"}]}, False),
        ({"classifier": {"model": "chat", "labels": ["ok", "bad"], "hold_when": ["bad"]}}, False),
    ],
)
def test_the_screen_decides_only_policies_that_read_the_request_alone(match: dict[str, Any], decided: bool) -> None:
    """``decided_by_request`` lets an unmatched screen skip the second look after the answer
    (the per-request cost of an unmatched policy); any condition that can change after the
    screen must keep the second look, or a held answer would be let through."""
    assert policies(one={"match": match}).decided_by_request is decided
    assert policies(one={"match": {"models": ["chat"]}}, two={"match": match}).decided_by_request is decided
    assert policies().decided_by_request  # none configured: only a guard's request can hold, and it is checked


def test_sampling_is_a_stable_share_of_request_ids() -> None:
    p = policies(sample={"match": {"sample_rate": 0.25}, "action": "audit"})
    chosen = [p.match(facts(request_id=f"req_{i}")) is not None for i in range(4000)]
    assert 0.2 < sum(chosen) / len(chosen) < 0.3
    assert chosen == [p.match(facts(request_id=f"req_{i}")) is not None for i in range(4000)]
    assert not any(sampled(f"req_{i}", "x", 0.0) for i in range(100)) and all(sampled(f"req_{i}", "x", 1.0) for i in range(100))


def test_config_refuses_unsigned_caller_webhooks_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="webhook_secret"):
        ReviewConfig.model_validate({"caller_webhook_urls": ["https://*"]})
    with pytest.raises(ValidationError):
        ReviewConfig.model_validate({"policies": {"x": {"match": {"metdata": {}}}}})
    with pytest.raises(ValidationError):
        ReviewConfig.model_validate({"policies": {"x": {"sla_s": 0}}})


def make_item(status: str, **fields: Any) -> ReviewItem:
    original = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "model says"}, "finish_reason": "stop"},
                            {"index": 1, "message": {"role": "assistant", "content": "other"}, "finish_reason": "stop"}]}
    base: dict[str, Any] = dict(
        review_id="rev_1", request_id="req_1", policy="p", action="hold", status=status, level=0, team=None,
        roles=("reviewer",), reason="r", caller="c", caller_team=None, model="chat", created_at=time.time(),
        deadline_at=time.time() + 60, request={}, context={}, findings={}, original=original, default_action="reject",
        status_url="http://gw/v1/reviews/rev_1", escalation=Escalation("leads", ("reviewer",), 60.0),
    )
    base.update(fields)
    return ReviewItem(**base)


def test_the_ticket_preference_is_parsed_as_an_rfc7240_token() -> None:
    assert wants_ticket("review=ticket") and wants_ticket("wait=5, Review=Ticket") and wants_ticket("review = ticket;x=1")
    for prefer in (None, "", "wait=5", "respond-async", "review=tickets", "xreview=ticket"):
        assert not wants_ticket(prefer)


def test_each_state_answers_the_caller_in_its_own_way() -> None:
    for status in ("pending", "claimed", "escalated"):
        reply = answer(make_item(status))
        assert reply.status == 202 and reply.body["status"] == status and reply.headers["location"] == "http://gw/v1/reviews/rev_1"
        with pytest.raises(ReviewPendingError) as held:  # a caller that did not ask for the ticket
            answer(make_item(status), as_ticket=False)
        assert held.value.status == 409 and held.value.code == "review_pending"
        error = held.value.to_body()["error"]
        assert error["review_id"] == "rev_1" and error["status_url"] == held.value.headers["location"] == "http://gw/v1/reviews/rev_1"
        assert held.value.headers["x-should-retry"] == "false"
    approved = make_item("approved")
    assert answer(approved).status == 200 and answer(approved).body == approved.original
    edited_body = edited_completion(approved.original, "reviewer says", "chat")
    assert answer(make_item("edited", edited=edited_body)).body == edited_body
    assert [c["message"]["content"] for c in edited_body["choices"]] == ["reviewer says"]
    assert edited_body["id"] == "chatcmpl-1"
    assert answer(approved, as_ticket=False).status == 200
    for status, code in (("rejected", "review_rejected"), ("expired", "review_expired")):
        with pytest.raises(ReviewRejectedError) as refused:
            answer(make_item(status, comment="wrong figures"), as_ticket=False)
        assert refused.value.status == 403 and refused.value.code == code
    with pytest.raises(InvalidRequestError):
        edited_completion(approved.original, "   ", "chat")


def test_prefer_wait_is_parsed_and_capped() -> None:
    assert parse_wait("wait=30", 60) == 30
    assert parse_wait("respond-async, wait=120", 60) == 60
    assert parse_wait("return=minimal", 60) is None
    assert parse_wait("wait=soon", 60) is None
    assert parse_wait("wait=-1", 60) is None
    assert parse_wait(None, 60) is None


def test_one_status_filter_for_api_cli_and_console() -> None:
    from headway.review.items import FINAL, OPEN, STATUS_GROUPS, status_filter

    assert status_filter("all") == status_filter(None) == status_filter("") == () == STATUS_GROUPS["all"]
    assert status_filter("open,all") == ()
    assert set(status_filter("open") or ()) == OPEN and set(status_filter("final") or ()) == FINAL
    assert status_filter("pending,rejected") == ("pending", "rejected")
    assert status_filter("bogus") is None and status_filter("open,bogus") is None
