"""Which limits, budgets and priority apply to one request.

Sources, most specific first:
1. the key's own settings, carried on ``CallContext.attributes["admission"]`` by access
   control (a key record may hold ``requests_per_minute``, ``tokens_per_minute``,
   ``budget_usd``, ``budget_period`` and ``priority``; a field it leaves out falls through);
2. the config's entry for the caller (``keys: {alice: …}``), then its ``"*"`` default;
3. for teams and models, the config's entry, then (teams only) the ``"*"`` default.
Every key and team counts on its own window; a model's window is shared by all callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from headway.backends import WindowCharge
from headway.config import EVERYONE, AdmissionConfig, BudgetConfig, BudgetPeriod, RateLimitConfig
from headway.types import CallContext

Scope = Literal["key", "team", "model"]
Metric = Literal["requests", "tokens"]
WINDOW_S = 60.0
OVERRIDES_ATTRIBUTE = "admission"


@dataclass(frozen=True, slots=True)
class RateRule:
    scope: Scope
    name: str
    metric: Metric
    limit: int

    @property
    def state_key(self) -> str:
        return f"rl:{self.scope}:{quote(self.name, safe='')}:{self.metric}"

    def describe(self) -> str:
        return f"{self.metric} per minute for {self.scope} {self.name!r}"

    def charge(self, cost: int) -> WindowCharge:
        return WindowCharge(self.state_key, self.limit, WINDOW_S, cost)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    scope: Literal["key", "team"]
    name: str
    usd: float
    period: BudgetPeriod

    def state_key(self, span_id: str) -> str:
        return f"budget:{self.scope}:{quote(self.name, safe='')}:{span_id}"

    def describe(self) -> str:
        per = "in total" if self.period == "total" else f"per {self.period}"
        return f"the {self.scope} {self.name!r} budget of ${self.usd:g} {per}"


@dataclass(frozen=True, slots=True)
class Rules:
    rates: tuple[RateRule, ...]
    budgets: tuple[BudgetRule, ...]
    priority: int

    @property
    def empty(self) -> bool:
        return not self.rates and not self.budgets


def _rate_rules(scope: Scope, name: str, config: RateLimitConfig | None) -> list[RateRule]:
    if config is None:
        return []
    rules = []
    if config.requests_per_minute is not None:
        rules.append(RateRule(scope, name, "requests", config.requests_per_minute))
    if config.tokens_per_minute is not None:
        rules.append(RateRule(scope, name, "tokens", config.tokens_per_minute))
    return rules


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class LimitPolicy:
    def __init__(self, config: AdmissionConfig) -> None:
        self.config = config
        limits, budgets = config.limits, config.budgets
        # Nothing configured at all: only keys carrying their own settings are limited.
        self.configured = bool(limits.keys or limits.teams or limits.models or budgets.keys or budgets.teams)

    def rules(self, ctx: CallContext, model: str) -> Rules:
        config = self.config
        overrides = ctx.attributes.get(OVERRIDES_ATTRIBUTE) if ctx.attributes else None
        if not self.configured and not overrides and not config.priority.keys and not config.priority.teams:
            return Rules((), (), config.priority.models.get(model, config.priority.default) + _class_offset(ctx))
        key_overrides: Mapping[str, Any] = overrides if isinstance(overrides, Mapping) else {}
        limits = config.limits
        key_config = limits.keys.get(ctx.caller) or limits.keys.get(EVERYONE)
        rates = self._key_rates(ctx.caller, key_config, key_overrides)
        if ctx.team is not None:
            rates += _rate_rules("team", ctx.team, limits.teams.get(ctx.team) or limits.teams.get(EVERYONE))
        rates += _rate_rules("model", model, limits.models.get(model))
        budgets = []
        key_budget = self._key_budget(ctx.caller, key_overrides)
        if key_budget is not None:
            budgets.append(key_budget)
        if ctx.team is not None:
            team_budget = config.budgets.teams.get(ctx.team) or config.budgets.teams.get(EVERYONE)
            if team_budget is not None:
                budgets.append(BudgetRule("team", ctx.team, team_budget.usd, team_budget.period))
        return Rules(tuple(rates), tuple(budgets), self._priority(ctx, model, key_overrides) + _class_offset(ctx))

    def _key_rates(self, caller: str, config: RateLimitConfig | None, overrides: Mapping[str, Any]) -> list[RateRule]:
        rules = []
        for metric, field in (("requests", "requests_per_minute"), ("tokens", "tokens_per_minute")):
            limit = _positive_int(overrides.get(field))
            if limit is None and config is not None:
                limit = getattr(config, field)
            if limit is not None:
                rules.append(RateRule("key", caller, metric, limit))  # type: ignore[arg-type]
        return rules

    def _key_budget(self, caller: str, overrides: Mapping[str, Any]) -> BudgetRule | None:
        configured: BudgetConfig | None = self.config.budgets.keys.get(caller) or self.config.budgets.keys.get(EVERYONE)
        usd = overrides.get("budget_usd")
        period = overrides.get("budget_period")
        if isinstance(usd, int | float) and not isinstance(usd, bool) and usd > 0:
            chosen_period = period if period in ("day", "week", "month", "total") else (configured.period if configured else "month")
            return BudgetRule("key", caller, float(usd), chosen_period)
        if configured is not None:
            return BudgetRule("key", caller, configured.usd, configured.period)
        return None

    def _priority(self, ctx: CallContext, model: str, overrides: Mapping[str, Any]) -> int:
        priority = self.config.priority
        own = overrides.get("priority")
        if isinstance(own, int) and not isinstance(own, bool):
            return own
        if ctx.caller in priority.keys:
            return priority.keys[ctx.caller]
        if ctx.team is not None and ctx.team in priority.teams:
            return priority.teams[ctx.team]
        return priority.models.get(model, priority.default)


# Background jobs queue behind every interactive request, and batch lines behind both,
# whatever priorities the config gives keys, teams and models (those stay far smaller).
_CLASS_OFFSETS = {"interactive": 0, "background": -1_000_000, "batch": -2_000_000}


def _class_offset(ctx: CallContext) -> int:
    return _CLASS_OFFSETS.get(ctx.priority, 0)
