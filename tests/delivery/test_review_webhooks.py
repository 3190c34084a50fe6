"""A held item's escalation and its decision reach the caller's webhook through the outbox, in order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.testing import GatewayThread
from tests.delivery.conftest import Receiver
from tests.review.conftest import WEBHOOK_SECRET, eventually, hold, item, review_config


@pytest.fixture
def gateway(sim: Any, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(review_config(sim.url, tmp_path, webhooks={"poll_interval_s": 0.05})) as gw:
        yield gw


def test_escalation_then_decision_reach_the_receiver_in_order(gateway: GatewayThread, receiver: Receiver) -> None:
    service = gateway.runtime.review
    assert service is not None
    review_id, _ = hold(gateway, "nobody answers in time", metadata={"review_webhook": receiver.url})
    gateway.run(service.sweep_once(now=time.time() + 600 + 1))  # the policy's SLA: escalated
    assert item(gateway, review_id)["status"] == "escalated"
    gateway.run(service.sweep_once(now=time.time() + 600 + 600 + 2))  # the escalation's SLA: expired
    eventually(lambda: len(receiver.accepted(WEBHOOK_SECRET)) == 2, what="both webhooks")
    accepted = receiver.accepted(WEBHOOK_SECRET)
    assert [h.webhook_id for h in accepted] == [f"{review_id}.escalated", f"{review_id}.expired"]
    escalated, decided = (h.json() for h in accepted)
    assert escalated["type"] == "review.escalated" and escalated["data"]["team"] == "risk-leads"
    assert decided["type"] == "review.decided" and decided["data"]["status"] == "expired"
    listed = gateway.runtime.webhook_delivery
    assert listed is not None
    ids = [h.webhook_id for h in accepted]
    # The outcome is written just after the receiver answers.
    eventually(lambda: {e.status for e in listed.outbox.by_webhook_id(ids).values()} == {"delivered"}, what="delivered rows")
