"""The whole-request deadline: by default long enough for the model *and* its fallbacks.

``timeouts.total`` bounds one call. The request's deadline (``deadline_s``) bounds every
attempt, backoff and fallback together; when it is not set it is derived here, so a model
with ``timeouts: {total: 2}`` and a fallback gives the fallback its own time instead of
answering 504 after two seconds. ``headway config check`` prints ``deadline_warnings``
for an explicit deadline that a single hung attempt can use up while fallbacks wait.
"""

from __future__ import annotations

from collections.abc import Mapping

from headway.config import FALLBACK_CAUSES, HeadwayConfig, ModelConfig, TimeoutConfig


def _hang_bound(timeouts: TimeoutConfig) -> float | None:
    """How long one call to a deployment that never answers can take (``None``: unbounded)."""
    bounds = [value for value in (timeouts.first_token, timeouts.total) if value is not None]
    return min(bounds) if bounds else None


def attempt_bound_s(model: ModelConfig) -> float | None:
    """The longest a single hung attempt of this model can take, over its deployments."""
    bounds: list[float] = []
    for spec in model.deployments:
        timeouts = model.timeouts
        if spec.timeouts is not None:
            explicit = spec.timeouts.model_fields_set
            timeouts = TimeoutConfig(
                **{name: getattr(spec.timeouts if name in explicit else model.timeouts, name) for name in TimeoutConfig.model_fields}
            )
        bound = _hang_bound(timeouts)
        if bound is None:
            return None
        bounds.append(bound)
    return max(bounds) if bounds else _hang_bound(model.timeouts)


def model_budget_s(model: ModelConfig) -> float | None:
    """Time for one model when every deployment hangs: a timeout moves on, so each is tried once."""
    bound = attempt_bound_s(model)
    if bound is None:
        return None
    return bound * max(1, min(len(model.deployments), 1 + model.retries.max_retries))


def _chains(model: ModelConfig) -> list[list[str]]:
    if isinstance(model.fallbacks, list):
        return [model.fallbacks]
    return [model.fallbacks.for_cause(cause) for cause in FALLBACK_CAUSES]


def default_deadline_s(name: str, models: Mapping[str, ModelConfig]) -> float | None:
    """The model's budget plus the longest of its fallback chains (and its degraded model)."""
    model = models[name]
    own = model_budget_s(model)
    if own is None:
        return None
    longest = 0.0
    for chain in _chains(model):
        budgets = [model_budget_s(models[target]) for target in chain if target in models]
        if any(budget is None for budget in budgets):
            return None
        longest = max(longest, sum(budget for budget in budgets if budget is not None))
    degraded = model.degraded.model if model.degraded is not None else None
    if degraded is not None and degraded in models:
        budget = model_budget_s(models[degraded])
        if budget is None:
            return None
        longest += budget
    return own + longest


def request_deadline_s(name: str, models: Mapping[str, ModelConfig]) -> float | None:
    model = models[name]
    return model.deadline_s if model.deadline_s is not None else default_deadline_s(name, models)


def deadline_warnings(config: HeadwayConfig) -> list[str]:
    """Explicit deadlines that leave no time for the fallbacks they are configured with."""
    warnings: list[str] = []
    for name, model in config.models.items():
        if model.deadline_s is None:
            continue
        targets = sorted({target for chain in _chains(model) for target in chain})
        if model.degraded is not None and model.degraded.model is not None:
            targets.append(model.degraded.model)
        if not targets:
            continue
        bound = attempt_bound_s(model)
        if bound is None or model.deadline_s <= bound:
            hang = "an unbounded" if bound is None else f"a {bound:g} s"
            warnings.append(
                f"models.{name}.deadline_s ({model.deadline_s:g} s) leaves no time for {', '.join(targets)}: "
                f"{hang} hung attempt (timeouts.first_token/total) uses all of it; raise deadline_s, "
                "lower the timeouts, or leave deadline_s unset (it then covers the fallbacks)"
            )
    return warnings
