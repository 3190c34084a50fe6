"""The webhook outbox and its delivery worker against a real receiver on 127.0.0.1 and a real store.

Time is the worker's injected clock: two minutes of a receiver being down (and a day of
retries) are stepped through without waiting for them; the HTTP calls are real.
"""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import pytest

from headway.config.webhooks import RetrySchedule, WebhooksConfig
from headway.observe.webhooks import Receiver as Signer
from headway.observe.webhooks import WebhookDelivery
from headway.store.outbox import DEAD, DELIVERED, PENDING, DeliveryState, Outbox, OutboxQuery, WebhookMessage
from headway.store.sql import SqlStore
from tests.delivery.conftest import SECRET, Receiver

START = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(store: SqlStore) -> Outbox:
    return Outbox(store.database)


def worker(outbox: Outbox, clock: Clock, schedule: RetrySchedule | None = None) -> WebhookDelivery:
    schedule = schedule or RetrySchedule(backoff_base_s=5, backoff_max_s=60, jitter=0.2, retry_window_s=86_400, timeout_s=2)
    return WebhookDelivery(outbox, {"hooks": Signer((SECRET,), schedule)}, WebhooksConfig(), clock=clock, rng=random.Random(3))


def message(receiver: Receiver, subject: str, event: int) -> WebhookMessage:
    return WebhookMessage(
        webhook_id=f"{subject}.e{event}", source="review", event_type="review.decided", subject=subject,
        receiver="hooks", url=receiver.url, payload={"subject": subject, "event": event},
    )


def entries(outbox: Outbox, *states: str) -> list[Any]:
    return outbox.search(OutboxQuery(states=states, limit=500))


async def step(delivery: WebhookDelivery, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    while await delivery.run_once():
        pass


async def test_a_receiver_down_for_two_minutes_gets_every_webhook_once_in_order(
    outbox: Outbox, clock: Clock, receiver: Receiver
) -> None:
    delivery = worker(outbox, clock)
    receiver.stop()  # connection refused from here on
    subjects = ["rev_a", "rev_b", "rev_c"]
    for event in range(3):  # interleaved, as decisions and escalations arrive
        assert outbox.enqueue([message(receiver, s, event) for s in subjects]) == 3
    assert outbox.enqueue([message(receiver, "rev_a", 0)]) == 0, "the same message twice is one delivery"
    down_for = 0.0
    while down_for < 120:
        await step(delivery, clock, 5)
        down_for += 5
    pending = entries(outbox, PENDING)
    assert len(pending) == 9 and not entries(outbox, DEAD, DELIVERED)
    first_in_line = [e for e in pending if e.webhook_id.endswith(".e0")]
    assert all(e.attempts >= 4 and e.last_error and "Connect" in e.last_error for e in first_in_line)
    assert all(e.attempts == 0 for e in pending if not e.webhook_id.endswith(".e0")), "later events wait their turn"
    assert outbox.stats().pending == 9 and outbox.stats().oldest_pending_created_at is not None

    receiver.start()  # back on the same port
    for _ in range(40):
        await step(delivery, clock, 60)
        if not entries(outbox, PENDING):
            break
    assert [e.status for e in entries(outbox)] == [DELIVERED] * 9
    accepted = receiver.accepted()  # signatures verified, de-duplicated by webhook-id
    assert sorted(h.webhook_id for h in accepted) == sorted(f"{s}.e{n}" for s in subjects for n in range(3))
    assert len(receiver.hits) == 9, "nothing was sent twice once it was accepted"
    for subject in subjects:
        assert [h.json()["event"] for h in accepted if h.json()["subject"] == subject] == [0, 1, 2]
    assert delivery.delivered == 9 and delivery.failed_attempts >= 3 * 4 and delivery.dead == 0
    await delivery.close()


async def test_a_lost_response_is_sent_again_with_the_same_id_and_counted_once(
    outbox: Outbox, clock: Clock, receiver: Receiver
) -> None:
    delivery = worker(outbox, clock)
    receiver.status = 503  # it processed the request, then failed to answer: the sender must retry
    outbox.enqueue([message(receiver, "rev_x", 0), message(receiver, "rev_x", 1)])
    await step(delivery, clock, 0)
    receiver.status = 200
    for _ in range(5):
        await step(delivery, clock, 30)
    assert [h.webhook_id for h in receiver.hits] == ["rev_x.e0", "rev_x.e0", "rev_x.e1"]
    assert [h.webhook_id for h in receiver.accepted()] == ["rev_x.e0", "rev_x.e1"]
    timestamps = [h.headers["webhook-timestamp"] for h in receiver.hits]
    assert all(t.isdigit() for t in timestamps)
    await delivery.close()


async def test_retries_stop_after_the_window_then_the_delivery_is_dead_and_resent(
    outbox: Outbox, clock: Clock, receiver: Receiver
) -> None:
    schedule = RetrySchedule(backoff_base_s=5, backoff_max_s=3600, jitter=0.2, retry_window_s=86_400, timeout_s=2)
    delivery = worker(outbox, clock, schedule)
    receiver.stop()
    outbox.enqueue([message(receiver, "rev_dead", 0), message(receiver, "rev_dead", 1)])
    await step(delivery, clock, 0)
    first_failure = clock.now
    for _ in range(200):
        await step(delivery, clock, 600)
        if entries(outbox, DEAD):
            break
    dead = entries(outbox, DEAD)
    assert [e.webhook_id for e in dead] == ["rev_dead.e0"]
    entry = dead[0]
    assert entry.dead_at is not None and entry.dead_at - first_failure >= 86_400, "retried for at least a day"
    assert entry.retry_until == pytest.approx(first_failure + 86_400)
    assert 20 <= entry.attempts <= 40, entry.attempts  # exponential to the hourly cap, not every few seconds
    # A dead delivery no longer holds its subject's later events back.
    await step(delivery, clock, 1)
    assert [e.webhook_id for e in entries(outbox, PENDING)] == ["rev_dead.e1"]

    receiver.start()
    assert outbox.resend(OutboxQuery(source="alert")) == 0, "filters apply"
    assert outbox.resend(OutboxQuery(source="review")) == 1
    for _ in range(3):  # the resent one first (it is older), then the later event after its own backoff
        await step(delivery, clock, 10)
    assert sorted(h.webhook_id for h in receiver.accepted()) == ["rev_dead.e0", "rev_dead.e1"]
    resent = outbox.get(entry.id)
    assert resent is not None and resent.status == DELIVERED and resent.attempts > entry.attempts
    await delivery.close()


async def test_a_refusal_is_dead_at_once_and_an_unknown_receiver_too(outbox: Outbox, clock: Clock, receiver: Receiver) -> None:
    delivery = worker(outbox, clock)
    receiver.status = 410
    outbox.enqueue([message(receiver, "rev_gone", 0)])
    orphan = WebhookMessage("orph.1", "alert", "alert.firing", "inc_1", "alerts:http://removed", receiver.url, {"x": 1})
    outbox.enqueue([orphan])
    await step(delivery, clock, 0)
    by_id = {e.webhook_id: e for e in entries(outbox, DEAD)}
    assert by_id["rev_gone.e0"].last_status == 410 and by_id["rev_gone.e0"].attempts == 1
    assert "no receiver" in (by_id["orph.1"].last_error or "")
    assert outbox.stats().dead == 2 and outbox.stats().pending == 0


def test_the_default_schedule_retries_for_at_least_a_day() -> None:
    config = WebhooksConfig()
    assert config.retry_window_s >= 86_400
    schedule = config.schedule_for("jobs")
    assert schedule.backoff_base_s <= 10 and schedule.backoff_max_s <= 3600 and schedule.jitter > 0
    custom = WebhooksConfig(receivers={"jobs": {"retry_window_s": 3600}})
    assert custom.schedule_for("jobs").retry_window_s == 3600 and custom.schedule_for("alerts:x").retry_window_s == 86_400


async def test_closing_hands_back_a_delivery_in_flight(outbox: Outbox, clock: Clock) -> None:
    silent = socket.socket()  # accepts connections (backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
    try:
        outbox.enqueue([WebhookMessage("slow.1", "job", "job.completed", "job_1", "hooks", url, {"x": 1})])
        delivery = worker(outbox, clock)
        sending = asyncio.create_task(delivery.run_once())
        for _ in range(2000):  # until the delivery is under way (a bound, not a speed)
            await asyncio.sleep(0.01)
            if entries(outbox, DeliveryState.SENDING):
                break
        assert [e.lease_owner for e in entries(outbox, DeliveryState.SENDING)] == [delivery.owner]
        sending.cancel()
        await delivery.close()
        other = worker(outbox, clock)
        taken = outbox.claim(other.owner, 30, now=clock.now)  # at once, not after the lease
        assert taken is not None, entries(outbox)
        assert taken.webhook_id == "slow.1" and taken.attempts == 2
    finally:
        silent.close()


async def test_delivered_rows_are_purged_after_the_keep_window_and_dead_ones_stay(
    outbox: Outbox, clock: Clock, receiver: Receiver
) -> None:
    delivery = worker(outbox, clock)
    outbox.enqueue([message(receiver, "rev_p", 0)])
    await step(delivery, clock, 0)
    receiver.status = 410
    outbox.enqueue([message(receiver, "rev_q", 0)])
    await step(delivery, clock, 1)
    assert outbox.stats().delivered == 1 and outbox.stats().dead == 1
    assert await delivery.purge_delivered() == 0, "within the keep window"
    clock.now += WebhooksConfig().keep_delivered_s + 3600
    assert await delivery.purge_delivered() == 1
    assert outbox.stats().delivered == 0 and outbox.stats().dead == 1
    await delivery.close()


def test_a_batch_claim_takes_one_head_per_subject(outbox: Outbox, receiver: Receiver) -> None:
    outbox.enqueue([message(receiver, subject, event) for event in range(3) for subject in ("s1", "s2")])
    taken = outbox.claim_many("w", 30, 10, now=START)
    assert sorted(e.webhook_id for e in taken) == ["s1.e0", "s2.e0"], "later events wait for their subject's head"


async def test_close_ends_the_loop_when_a_wake_comes_with_it(outbox: Outbox, clock: Clock) -> None:
    # A sender's wake() in the same loop pass as close()'s cancel: the cancellation must end the
    # loop. With asyncio.wait_for on 3.11 it was lost and close() waited on a loop that never ended.
    delivery = worker(outbox, clock)
    delivery.start()
    await asyncio.sleep(0.3)  # a pass over an empty outbox, then waiting for a wake-up or the poll
    loop_task = delivery._task._task
    assert loop_task is not None
    delivery.wake()
    closing = asyncio.create_task(delivery.close())
    try:
        await asyncio.wait_for(asyncio.shield(closing), 5)
    finally:
        if not closing.done():  # the failure: end the loop anyway, so the test fails rather than hangs
            loop_task.cancel()
            await asyncio.gather(closing, return_exceptions=True)
    assert loop_task.cancelled()
