"""Safety limits of one run, measured before anything is deleted or published.

A run may be about to lose much of what the last good run accepted: a source truncated
to a fraction of its rows, a renamed key column, a schema change that sets every row
aside. Each limit is a finding like a quality check (``CheckResult``), so the run's
status is its worst finding and a tripped limit degrades it: nothing is published, the
last good index keeps serving, and the alert says which limit tripped.

- ``loss``: records accepted before that this run would delete or set aside, as a share
  of all records accepted before; fails above ``safety.max_loss_share``.
- ``quarantine``: rows set aside, as a share of rows read; fails above
  ``safety.max_quarantine_share`` and warns for any.
- Neither share limit trips for ``safety.small_change`` records or fewer, so deleting one
  document of three is an ordinary run.
- ``deletions``: deletions held back because some quarantined rows have no trustworthy
  key (they may be the very records that look deleted); warns.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from headway.config import SafetyConfig
from headway.pipelines.checks import CheckResult


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run would do to the accepted records."""

    accepted_before: int
    read: int
    quarantined: int
    deleted: int
    quarantined_accepted: int  # accepted before, set aside now: they keep their last good version
    deletions_held: int


def held_deletions(would_delete: Collection[str], unkeyed_quarantined: int) -> tuple[list[str], int]:
    """The deletions a run may make: none while any quarantined row could be one of them."""
    if unkeyed_quarantined and would_delete:
        return [], len(would_delete)
    return list(would_delete), 0


def guard(safety: SafetyConfig, outcome: Outcome) -> list[CheckResult]:
    findings: list[CheckResult] = []
    if outcome.accepted_before:
        lost = outcome.deleted + outcome.quarantined_accepted
        share = lost / outcome.accepted_before
        level = "fail" if share > safety.max_loss_share and lost > safety.small_change else "ok"
        findings.append(
            CheckResult(
                "loss",
                None,
                share,
                level,
                None,
                safety.max_loss_share,
                f"{outcome.deleted} of {outcome.accepted_before} accepted records would be deleted "
                f"and {outcome.quarantined_accepted} set aside",
            )
        )
    if outcome.read:
        share = outcome.quarantined / outcome.read
        tripped = share > safety.max_quarantine_share and outcome.quarantined > safety.small_change
        level = "fail" if tripped else "warn" if outcome.quarantined else "ok"
        findings.append(
            CheckResult(
                "quarantine",
                None,
                share,
                level,
                0.0,
                safety.max_quarantine_share,
                f"{outcome.quarantined} of {outcome.read} rows set aside",
            )
        )
    if outcome.deletions_held:
        findings.append(
            CheckResult(
                "deletions",
                None,
                float(outcome.deletions_held),
                "warn",
                0.0,
                None,
                f"{outcome.deletions_held} deletions held back: some quarantined rows have no "
                "trustworthy key and may be those records",
            )
        )
    return findings
