"""The check registry: every built-in check, in report order, plus a profile's own checks."""

from __future__ import annotations

from headway.gate.check import Check
from headway.gate.checks import (
    load,
    observability,
    operations,
    pipelines,
    quality,
    reliability,
    review,
    security,
)
from headway.gate.checks.custom import custom_check
from headway.gate.profile import Profile

BUILTIN_CHECKS: tuple[Check, ...] = (
    *reliability.CHECKS,
    *load.CHECKS,
    *observability.CHECKS,
    *security.CHECKS,
    *pipelines.CHECKS,
    *review.CHECKS,
    *quality.CHECKS,
    *operations.CHECKS,
)


def check_ids() -> list[str]:
    return [check.id for check in BUILTIN_CHECKS]


def checks_for(profile: Profile) -> list[Check]:
    """The checks a profile runs: the enabled built-ins, then its ``extra_checks``."""
    profile.check_names(set(check_ids()))
    chosen = [check for check in BUILTIN_CHECKS if profile.enabled(check.id)]
    chosen += [custom_check(spec) for spec in profile.extra_checks if profile.enabled(spec.id)]
    return chosen
