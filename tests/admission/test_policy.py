"""Which limits, budgets and priority apply to a request, and where per-key settings plug in."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from headway.admission.policy import LimitPolicy
from headway.config.scale import AdmissionConfig
from headway.types import CallContext


def policy(**config: Any) -> LimitPolicy:
    return LimitPolicy(AdmissionConfig.model_validate(config))


def described(rules: Any) -> list[tuple[str, str, str, int]]:
    return [(r.scope, r.name, r.metric, r.limit) for r in rules.rates]


def test_nothing_configured_means_no_rules() -> None:
    rules = policy().rules(CallContext("r1", caller="alice", team="search"), "chat")
    assert rules.empty and rules.priority == 0


def test_key_team_and_model_limits_all_apply_each_on_its_own_window() -> None:
    p = policy(
        limits={
            "keys": {"alice": {"requests_per_minute": 5}, "*": {"requests_per_minute": 50, "tokens_per_minute": 900}},
            "teams": {"*": {"tokens_per_minute": 10_000}},
            "models": {"chat": {"requests_per_minute": 600}},
        }
    )
    alice = p.rules(CallContext("r1", caller="alice", team="search"), "chat")
    assert described(alice) == [
        ("key", "alice", "requests", 5),
        ("team", "search", "tokens", 10_000),
        ("model", "chat", "requests", 600),
    ]
    bob = p.rules(CallContext("r2", caller="bob"), "embed")
    assert described(bob) == [("key", "bob", "requests", 50), ("key", "bob", "tokens", 900)]
    # Each key counts on its own window, whatever the shared default.
    assert alice.rates[0].state_key != bob.rates[0].state_key


def test_a_keys_own_settings_override_the_config_field_by_field() -> None:
    p = policy(limits={"keys": {"*": {"requests_per_minute": 50, "tokens_per_minute": 900}}}, budgets={"keys": {"*": {"usd": 10}}})
    ctx = CallContext(
        "r1", caller="svc", attributes={"admission": {"requests_per_minute": 7, "budget_usd": 2.5, "budget_period": "day", "priority": 9}}
    )
    rules = p.rules(ctx, "chat")
    assert described(rules) == [("key", "svc", "requests", 7), ("key", "svc", "tokens", 900)]
    assert [(b.scope, b.usd, b.period) for b in rules.budgets] == [("key", 2.5, "day")]
    assert rules.priority == 9


def test_key_settings_limit_a_key_even_when_the_config_limits_nobody() -> None:
    rules = policy().rules(CallContext("r1", caller="svc", attributes={"admission": {"tokens_per_minute": 100}}), "chat")
    assert described(rules) == [("key", "svc", "tokens", 100)]


def test_budgets_for_key_and_team() -> None:
    p = policy(budgets={"keys": {"alice": {"usd": 5, "period": "week"}}, "teams": {"*": {"usd": 100}}})
    rules = p.rules(CallContext("r1", caller="alice", team="ml"), "chat")
    assert [(b.scope, b.name, b.usd, b.period) for b in rules.budgets] == [("key", "alice", 5, "week"), ("team", "ml", 100, "month")]
    assert rules.budgets[0].state_key("2026-W48") == "budget:key:alice:2026-W48"


def test_priority_key_over_team_over_model() -> None:
    p = policy(priority={"default": 1, "keys": {"vip": 10}, "teams": {"ops": 5}, "models": {"batch": -3}})
    assert p.rules(CallContext("r", caller="vip", team="ops"), "batch").priority == 10
    assert p.rules(CallContext("r", caller="x", team="ops"), "batch").priority == 5
    assert p.rules(CallContext("r", caller="x"), "batch").priority == -3
    assert p.rules(CallContext("r", caller="x"), "chat").priority == 1


def test_names_with_separators_cannot_collide_in_state_keys() -> None:
    p = policy(limits={"keys": {"*": {"requests_per_minute": 1}}})
    a = p.rules(CallContext("r", caller="a:requests"), "m").rates[0].state_key
    b = p.rules(CallContext("r", caller="a"), "m").rates[0].state_key
    assert a != b and a.count(":") == b.count(":")


def test_deployments_are_named_by_id() -> None:
    with pytest.raises(ValidationError, match="deployment id"):
        AdmissionConfig.model_validate({"deployments": {"chat": {"max_in_flight": 4}}})


@pytest.mark.parametrize("configured", [{}, {"priority": {"default": 1, "keys": {"vip": 1000}}}])
def test_background_jobs_queue_behind_interactive_and_batches_behind_both(configured: dict[str, Any]) -> None:
    p = policy(**configured)

    def priority(caller: str, cls: str) -> int:
        return int(p.rules(CallContext("r", caller=caller, priority=cls), "chat").priority)

    # Even the highest-priority key's batch line ranks below anyone's interactive request.
    assert priority("vip", "batch") < priority("vip", "background") < priority("nobody", "interactive")
