"""Data residency and classification: which deployments a request's data may go to.

A deployment declares its ``region`` and the ``data_classes`` it is approved for. A
request carries a ``Residency``: the regions its data may be processed in and its data
class, from its principal (team, principal, key) and optionally narrowed by the
``x-headway-region`` / ``x-headway-data-class`` headers, which can never widen them.

Rules
- Regions nest by prefix: a constraint ``au`` admits ``au`` and ``au-east``; a
  deployment without a region is never eligible for a region-constrained request.
- Classes are ordered (``auth.data_classes``, least to most sensitive); approval for a
  class implies approval for every less sensitive one. A deployment that declares no
  classes is never eligible for a classified request.

``eligible`` is pure; routing calls ``restrict`` (via ``filter_deployments``) on every route it
may use, which records each skipped deployment as an
``Attempt(outcome="skipped", error_type="residency")``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from headway.errors import PermissionDeniedError
from headway.types import Attempt, header

REGION_HEADER = "x-headway-region"
CLASS_HEADER = "x-headway-data-class"


class Placed(Protocol):
    """What ``eligible`` needs to know about a deployment."""

    @property
    def id(self) -> str: ...
    @property
    def provider_name(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def data_classes(self) -> tuple[str, ...] | None: ...


D = TypeVar("D", bound=Placed)


@dataclass(frozen=True, slots=True)
class Residency:
    regions: frozenset[str] | None = None  # None: any region
    data_class: str | None = None  # None: unclassified
    levels: tuple[str, ...] = ()  # the ordered classes, least sensitive first

    @property
    def unconstrained(self) -> bool:
        return self.regions is None and self.data_class is None

    def partition_key(self) -> str:
        """A stable key for caches: answers may only be shared within one partition."""
        regions = ",".join(sorted(self.regions)) if self.regions is not None else "*"
        return f"r={regions};c={self.data_class or '*'}"

    def describe(self) -> str:
        parts = []
        if self.regions is not None:
            parts.append(f"region {' or '.join(sorted(self.regions)) or '(none)'}")
        if self.data_class is not None:
            parts.append(f"data class {self.data_class}")
        return " and ".join(parts) or "no constraint"

    def rank(self, data_class: str) -> int:
        return self.levels.index(data_class) if data_class in self.levels else len(self.levels)


def region_within(region: str, allowed: frozenset[str]) -> bool:
    return any(region == a or region.startswith(a + "-") for a in allowed)


def why_ineligible(deployment: Placed, constraint: Residency) -> str | None:
    """``None`` when the deployment may take the request, else the reason it may not."""
    if constraint.regions is not None:
        if deployment.region is None:
            return f"{deployment.id} declares no region; the request is restricted to {constraint.describe()}"
        if not region_within(deployment.region, constraint.regions):
            return f"{deployment.id} is in region {deployment.region}, outside the allowed {', '.join(sorted(constraint.regions))}"
    if constraint.data_class is not None:
        approved = deployment.data_classes
        if approved is None:
            return f"{deployment.id} is not approved for any data class; the request carries {constraint.data_class}"
        needed = constraint.rank(constraint.data_class)
        if not any(constraint.rank(c) >= needed for c in approved if c in constraint.levels):
            return f"{deployment.id} is approved for {', '.join(approved)}, not for {constraint.data_class} data"
    return None


def eligible(
    deployments: Sequence[Placed], constraint: Residency | None
) -> tuple[list[Placed], list[tuple[Placed, str]]]:
    """Split deployments into those the constraint allows and those it rules out, with why."""
    if constraint is None or constraint.unconstrained:
        return list(deployments), []
    allowed: list[Placed] = []
    skipped: list[tuple[Placed, str]] = []
    for deployment in deployments:
        reason = why_ineligible(deployment, constraint)
        if reason is None:
            allowed.append(deployment)
        else:
            skipped.append((deployment, reason))
    return allowed, skipped


def skipped_attempt(deployment: Placed, reason: str) -> Attempt:
    return Attempt(
        deployment=deployment.id,
        provider=deployment.provider_name,
        model=deployment.model,
        outcome="skipped",
        latency_ms=0.0,
        error_type="residency",
        error_message=reason,
    )


def filter_deployments(deployments: list[D], constraint: Residency | None, attempts: list[Attempt]) -> list[D]:
    """The deployments ``constraint`` allows; each one it rules out is recorded in ``attempts``."""
    if constraint is None or constraint.unconstrained:
        return deployments
    allowed, skipped = eligible(deployments, constraint)
    attempts.extend(skipped_attempt(d, reason) for d, reason in skipped)
    return allowed  # type: ignore[return-value]


def narrowed(
    principal_regions: frozenset[str] | None,
    principal_class: str | None,
    headers: Mapping[str, str],
    levels: Sequence[str],
) -> Residency:
    """The request's residency: the principal's, narrowed by headers. Widening is refused (403)."""
    regions = principal_regions
    raw_regions = header(headers, REGION_HEADER)
    if raw_regions:
        asked = frozenset(r.strip().lower() for r in raw_regions.split(",") if r.strip())
        if principal_regions is not None:
            wider = sorted(r for r in asked if not region_within(r, principal_regions))
            if wider:
                raise PermissionDeniedError(
                    f"{REGION_HEADER} may only narrow the regions you are allowed ({', '.join(sorted(principal_regions))}); "
                    f"{', '.join(wider)} would widen them",
                    param=REGION_HEADER,
                    code="residency_widening",
                )
        regions = asked
    data_class = principal_class
    raw_class = header(headers, CLASS_HEADER)
    if raw_class:
        asked_class = raw_class.strip().lower()
        if asked_class not in levels:
            raise PermissionDeniedError(
                f"{CLASS_HEADER} {asked_class!r} is not a data class here (known: {', '.join(levels)})",
                param=CLASS_HEADER,
                code="unknown_data_class",
            )
        if principal_class is not None and levels.index(asked_class) < levels.index(principal_class):
            raise PermissionDeniedError(
                f"{CLASS_HEADER} may only raise the data class; yours is {principal_class}, {asked_class} is less sensitive",
                param=CLASS_HEADER,
                code="residency_widening",
            )
        data_class = asked_class
    return Residency(regions=regions, data_class=data_class, levels=tuple(levels))


def no_eligible_deployment(route: str, attempts: Sequence[Attempt], constraint: Residency) -> PermissionDeniedError:
    reasons = [a.error_message for a in attempts if a.error_type == "residency" and a.error_message]
    return PermissionDeniedError(
        f"No deployment of {route!r} may take this request's data ({constraint.describe()}): " + "; ".join(reasons),
        param="model",
        code="residency_no_eligible_deployment",
    )


class _HasDeployments(Protocol):
    deployments: list[Any]


R = TypeVar("R", bound=_HasDeployments)


def restrict(route: R, constraint: Residency | None, attempts: list[Attempt]) -> R:
    """``route`` narrowed to the deployments ``constraint`` allows (the others recorded as skipped).

    A shallow copy: deployments are shared, so their breakers, load and latency stay one.
    """
    if constraint is None or constraint.unconstrained:
        return route
    allowed = filter_deployments(route.deployments, constraint, attempts)
    if len(allowed) == len(route.deployments):
        return route
    return dataclasses.replace(route, deployments=allowed)  # type: ignore[type-var]
