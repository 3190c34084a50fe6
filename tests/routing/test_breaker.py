"""The circuit breaker's state machine, on a hand-driven clock."""

from __future__ import annotations

from headway.config.resilience import BreakerConfig
from headway.routing.breaker import Circuit, InProcessBreakers


def circuit(**settings: object) -> Circuit:
    return Circuit(BreakerConfig.model_validate({"min_requests": 4, "failure_ratio": 0.5, "cooldown_s": 10, **settings}))


def test_opens_at_the_failure_ratio_once_the_window_holds_min_requests() -> None:
    c = circuit()
    for _ in range(3):
        c.record(False, 1.0, trial=False)
    assert c.state == "closed"  # 3 failures, but fewer than min_requests outcomes
    c.record(True, 1.0, trial=False)
    c.record(False, 1.0, trial=False)
    assert c.state == "open"  # 4 failures of 5
    assert c.admit(2.0) == "reject"


def test_stays_closed_below_the_ratio() -> None:
    c = circuit()
    for _ in range(10):
        c.record(True, 1.0, trial=False)
    for _ in range(4):
        c.record(False, 1.0, trial=False)
    assert c.state == "closed" and c.admit(1.0) == "allow"


def test_old_outcomes_leave_the_rolling_window() -> None:
    c = circuit(window_s=10)
    for _ in range(3):
        c.record(False, 0.0, trial=False)
    # 20 s later the three failures are out of the 10 s window: one more is not enough.
    c.record(False, 20.0, trial=False)
    assert c.state == "closed"
    assert c.snapshot(20.0).requests == 1


def test_half_open_after_cooldown_lets_n_trials_through_and_closes_on_success() -> None:
    c = circuit(half_open_trials=2)
    for _ in range(4):
        c.record(False, 0.0, trial=False)
    assert c.admit(9.9) == "reject"
    assert c.admit(10.0) == "trial"
    assert c.admit(10.0) == "trial"
    assert c.admit(10.0) == "reject"  # both trial slots taken
    c.record(True, 10.5, trial=True)
    assert c.state == "closed"
    assert c.admit(10.6) == "allow"
    assert c.snapshot(10.6).requests == 0  # a closed breaker starts a fresh window


def test_a_failed_trial_reopens_for_another_cooldown() -> None:
    c = circuit()
    for _ in range(4):
        c.record(False, 0.0, trial=False)
    assert c.admit(10.0) == "trial"
    c.record(False, 11.0, trial=True)
    assert c.state == "open"
    assert c.admit(20.0) == "reject"
    assert c.admit(21.0) == "trial"


def test_a_trial_without_a_verdict_frees_its_slot() -> None:
    c = circuit(half_open_trials=1)
    for _ in range(4):
        c.record(False, 0.0, trial=False)
    assert c.admit(10.0) == "trial"
    c.record(None, 10.1, trial=True)  # e.g. the request was bad, or the client left
    assert c.state == "half_open"
    assert c.admit(10.2) == "trial"


def test_disabled_breaker_never_opens() -> None:
    c = circuit(enabled=False)
    for _ in range(50):
        c.record(False, 0.0, trial=False)
    assert c.admit(0.0) == "allow"


def test_snapshot_reports_epoch_times_and_the_next_trial() -> None:
    now = [100.0]
    breakers = InProcessBreakers({"r/d": BreakerConfig(min_requests=1, cooldown_s=30)}, clock=lambda: now[0])
    c = breakers.circuit("r/d")
    c.record(False, 100.0, trial=False)
    snap = c.snapshot(100.0)
    assert snap.state == "open" and snap.failure_ratio == 1.0
    assert snap.opened_at is not None and snap.next_trial_at is not None
    assert snap.next_trial_at - snap.opened_at == 30
    later = c.snapshot(131.0)
    assert later.state == "half_open" and later.next_trial_at is None


async def test_in_process_backend_keys_circuits_by_deployment() -> None:
    breakers = InProcessBreakers({"a": BreakerConfig(min_requests=1)})
    await breakers.record("a", False, trial=False)
    assert await breakers.admit("a") == "reject"
    assert await breakers.admit("b") == "allow"
    assert (await breakers.snapshot("b")).state == "closed"
