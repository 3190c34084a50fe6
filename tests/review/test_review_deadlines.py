"""Leases that run out, SLAs that pass: escalation to the next team, then the default action (fail closed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from headway.errors import ConflictError
from headway.review.access import Reviewer
from headway.testing import GatewayThread
from tests.http import request
from tests.review.conftest import admin, decide, hold, item, review_config, review_section

LATER = 10_000.0  # seconds past every deadline and lease in these tests


def sweep(gw: GatewayThread, after: float) -> Any:
    service = gw.runtime.review
    assert service is not None
    return gw.run(service.sweep_once(now=time.time() + after))


def test_an_expired_lease_returns_the_item_to_the_queue(review_gateway: GatewayThread) -> None:
    review_id, _ = hold(review_gateway, "claim me and walk away")
    claimed = admin(review_gateway, "POST", f"/admin/reviews/{review_id}/claim")
    assert claimed.status == 200 and claimed.json()["status"] == "claimed"
    lease = review_gateway.runtime.config.review.lease_s

    sweep(review_gateway, lease / 2)  # still within the lease
    assert item(review_gateway, review_id)["status"] == "claimed"
    report = sweep(review_gateway, lease + 1)
    assert report.leases_expired >= 1
    returned = item(review_gateway, review_id)
    assert returned["status"] == "pending" and returned["claimed_by"] is None
    assert [e["kind"] for e in returned["events"]][-1] == "lease_expired"
    # Back in the queue: anyone assigned may claim it again.
    assert admin(review_gateway, "POST", f"/admin/reviews/{review_id}/claim").status == 200


def test_a_second_claim_while_the_lease_holds_is_a_conflict(review_gateway: GatewayThread) -> None:
    service = review_gateway.runtime.review
    assert service is not None
    review_id, _ = hold(review_gateway, "two reviewers, one item")
    first = Reviewer("alice", "risk", frozenset({"reviewer"}), frozenset({"reviews:read", "reviews:decide"}))
    second = Reviewer("bob", "risk", frozenset({"reviewer"}), frozenset({"reviews:read", "reviews:decide"}))
    review_gateway.run(service.claim(review_id, first))
    for attempt in (service.claim(review_id, second), service.decide(review_id, second, "approve")):
        with pytest.raises(ConflictError) as refused:
            review_gateway.run(attempt)
        assert refused.value.code == "review_claimed"
    current = item(review_gateway, review_id)
    assert current["status"] == "claimed" and current["claimed_by"] == "alice"


def test_sla_breach_escalates_to_the_next_team_then_takes_the_default_action(review_gateway: GatewayThread) -> None:
    service = review_gateway.runtime.review
    assert service is not None
    review_id, held = hold(review_gateway, "nobody on the first line answers")
    first_line = Reviewer("rita", "risk", frozenset({"reviewer"}), frozenset({"reviews:read", "reviews:decide"}))
    lead = Reviewer("lee", "risk-leads", frozenset({"reviewer"}), frozenset({"reviews:read", "reviews:decide"}))
    assert review_gateway.run(service.visible(review_id, first_line)).team == "risk"
    assert not lead.sees(review_gateway.run(service.visible(review_id, first_line)))

    sweep(review_gateway, 600 + 1)  # the policy's sla_s
    escalated = item(review_gateway, review_id)
    assert escalated["status"] == "escalated" and escalated["escalated"] and escalated["team"] == "risk-leads"
    assert review_gateway.run(service.visible(review_id, lead)).status == "escalated"
    assert not first_line.sees(review_gateway.run(service.visible(review_id, lead)))
    assert request("GET", held.json()["status_url"]).status == 202  # still waiting, now on the leads

    sweep(review_gateway, 600 + 600 + 2)  # the escalation's sla_s passes too: default action, reject
    expired = item(review_gateway, review_id)
    assert expired["status"] == "expired" and expired["decided_by"] == "system:sla"
    polled = request("GET", held.json()["status_url"])
    assert polled.status == 403 and polled.json()["error"]["code"] == "review_expired"
    assert [e["kind"] for e in expired["events"]] == ["created", "escalated", "expired"]


def test_the_leads_can_decide_an_escalated_item(review_gateway: GatewayThread) -> None:
    service = review_gateway.runtime.review
    assert service is not None
    review_id, held = hold(review_gateway, "escalate then approve")
    sweep(review_gateway, 601)
    lead = Reviewer("lee", "risk-leads", frozenset({"reviewer"}), frozenset({"reviews:read", "reviews:decide"}))
    decided = review_gateway.run(service.decide(review_id, lead, "approve", comment="lead approved"))
    assert decided.status == "approved" and decided.decided_by == "lee" and decided.level == 1
    assert request("GET", held.json()["status_url"]).status == 200


def test_default_approve_releases_the_answer_when_configured(sim: Any, tmp_path: Path) -> None:
    section = review_section(policies={"lenient": {"match": {"metadata": {"consequential": True}}, "sla_s": 30,
                                                   "default_action": "approve"}})
    with GatewayThread(review_config(sim.url, tmp_path, review=section)) as gw:
        review_id, held = hold(gw, "approve me by default")
        sweep(gw, 31)
        decided = item(gw, review_id)
        assert decided["status"] == "approved" and decided["decided_by"] == "system:sla"
        polled = request("GET", held.json()["status_url"])
        assert polled.status == 200 and polled.json() == decided["original"]


def test_an_already_decided_item_cannot_be_decided_again(review_gateway: GatewayThread) -> None:
    review_id, _ = hold(review_gateway, "decide twice")
    assert decide(review_gateway, review_id, "reject").status == 200
    again = decide(review_gateway, review_id, "approve")
    assert again.status == 409 and again.json()["error"]["code"] == "review_decided"
    assert item(review_gateway, review_id)["status"] == "rejected"
