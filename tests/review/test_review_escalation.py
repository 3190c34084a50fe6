"""Escalation tells the escalation team: a signed ``review.escalated`` through the store's outbox.

A real HTTP receiver on loopback stands in for the team's endpoint. One policy names its
escalation team's webhook (``escalation.webhook``); another has none of its own and falls
back to ``review.escalation_webhook``. The sweeper is driven with a clock past the SLA.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from headway.config import ReviewConfig
from headway.observe import WebhookVerificationError, verify
from headway.testing import GatewayThread
from tests.review.conftest import (
    Delivery,
    WebhookReceiver,
    admin,
    chat,
    eventually,
    hold,
    item,
    review_config,
    review_section,
    with_ticket,
)

LEADS_SECRET = "whsec_" + base64.b64encode(b"risk-leads-escalation-signing-k").decode()
OPS_SECRET = "whsec_" + base64.b64encode(b"operations-escalation-signing-k").decode()


def policies(
    receiver_url: str, leads_secret: str = "${HW_TEST_LEADS_SECRET:-" + LEADS_SECRET + "}"
) -> dict[str, Any]:
    return {
        "consequential": {
            "match": {"metadata": {"consequential": True}},
            "sla_s": 600,
            "reviewers": {"team": "risk", "roles": ["reviewer"]},
            "escalation": {
                "team": "risk-leads",
                "sla_s": 600,
                "webhook": {
                    "url": receiver_url + "/leads",
                    "secret": leads_secret,
                },
            },
        },
        "payouts": {
            "match": {"metadata": {"payout": True}},
            "sla_s": 600,
            "reviewers": {"team": "finance"},
            "escalation": {"team": "finance-leads", "sla_s": 600},
        },
        "quiet": {"match": {"metadata": {"quiet": True}}, "sla_s": 600, "escalation": {"team": "nobody"}},
    }


@pytest.fixture(scope="module")
def escalating(
    sim: Any, webhooks: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    section = review_section(
        policies=policies(webhooks.url),
        escalation_webhook={
            "url": webhooks.url + "/ops",
            "secret": "${HW_TEST_OPS_SECRET:-" + OPS_SECRET + "}",
        },
    )
    config = review_config(
        sim.url, tmp_path_factory.mktemp("escalation"), review=section, webhooks={"poll_interval_s": 0.05}
    )
    with GatewayThread(config) as gw:
        yield gw


def escalate(gw: GatewayThread, review_id: str) -> None:
    service = gw.runtime.review
    assert service is not None
    report = gw.run(service.sweep_once(now=time.time() + 601))
    assert report.escalated >= 1
    assert item(gw, review_id)["status"] == "escalated"


def escalation_for(receiver: WebhookReceiver, review_id: str) -> list[Delivery]:
    def found() -> list[Delivery]:
        return [
            d
            for d in receiver.deliveries
            if d.json()["type"] == "review.escalated" and d.json()["data"]["id"] == review_id
        ]

    return eventually(found, what=f"the escalation notice of {review_id}")


def test_an_sla_escalation_reaches_the_policys_escalation_team_signed(
    escalating: GatewayThread, webhooks: WebhookReceiver
) -> None:
    review_id, _ = hold(escalating, "refund 900 EUR, nobody looks")
    assert not escalation_for_now(webhooks, review_id)  # nothing before the SLA passes
    escalate(escalating, review_id)
    [delivery] = escalation_for(webhooks, review_id)
    verify(LEADS_SECRET, delivery.headers, delivery.body)  # the team's own secret
    with pytest.raises(WebhookVerificationError):
        verify(OPS_SECRET, delivery.headers, delivery.body)
    assert delivery.headers["webhook-id"] == f"{review_id}.escalated"
    data = delivery.json()["data"]
    assert (
        data["team"] == "risk-leads" and data["status"] == "escalated" and data["policy"] == "consequential"
    )
    assert data["level"] == 1 and data["reason"] and data["status_url"].endswith(f"/v1/reviews/{review_id}")

    # It is a row of the outbox like every webhook: listed, delivered, to the team's receiver.
    def listed() -> list[tuple[str, str]] | None:  # the receiver's 204 is recorded just after it arrives
        reply = admin(escalating, "GET", f"/admin/webhooks?subject={review_id}&event_type=review.escalated")
        assert reply.status == 200, reply.body
        rows = [(r["receiver"], r["state"]) for r in reply.json()["data"]]
        # "sending" is the claim still held while the 204 is recorded: wait for where the row ends.
        return rows if rows and rows[0][1] not in ("pending", "sending") else None

    assert eventually(listed, what="the delivery's state") == [
        ("review:escalation:consequential", "delivered")
    ]


def test_a_policy_without_a_team_webhook_falls_back_to_the_global_one(
    escalating: GatewayThread, webhooks: WebhookReceiver
) -> None:
    reply = chat(escalating, "a payout nobody approves", metadata={"payout": True}, headers=with_ticket(None))
    assert reply.status == 202, reply.body
    review_id = reply.json()["id"]
    assert item(escalating, review_id)["policy"] == "payouts"
    escalate(escalating, review_id)
    [delivery] = escalation_for(webhooks, review_id)
    verify(OPS_SECRET, delivery.headers, delivery.body)
    assert delivery.json()["data"]["team"] == "finance-leads"


def test_the_receivers_are_named_for_the_outbox_with_their_secrets() -> None:
    config = ReviewConfig.model_validate(
        {
            "policies": policies("http://127.0.0.1:1/hooks", LEADS_SECRET),
            "escalation_webhook": {"url": "http://127.0.0.1:1/ops", "secret": OPS_SECRET},
        }
    )
    secrets = config.webhook_secrets()
    assert (
        secrets["review:escalation:consequential"] == LEADS_SECRET
        and secrets["review:escalation"] == OPS_SECRET
    )
    own = config.escalation_webhook_of("consequential")
    fallback = config.escalation_webhook_of("payouts")
    assert own is not None and own[0] == "review:escalation:consequential"
    assert fallback is not None and fallback[0] == "review:escalation"
    unset = ReviewConfig.model_validate({"policies": policies("http://127.0.0.1:1/hooks")})
    assert unset.escalation_webhook_of("payouts") is None  # nobody to tell: no notice, no error


def escalation_for_now(receiver: WebhookReceiver, review_id: str) -> list[Delivery]:
    time.sleep(0.3)  # several delivery polls: a notice queued too early would have arrived
    return [d for d in receiver.deliveries if d.json()["data"]["id"] == review_id]
