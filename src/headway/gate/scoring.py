"""From check results to section scores and the verdict (pure functions).

A section's score is the sum of its checks; the gate's score is the minimum over
sections. The verdict:

- ``fail``: a required check scored below 1, or a section fell below its pass mark;
- ``warn``: otherwise, some check scored below 1;
- ``pass``: every check scored 1 (or did not apply).

A check that could not be evaluated is judged both ways — as 0 and as 1. When the
verdict is the same either way it stands; when the unknowns only make the difference
between ``pass`` and ``warn`` it is ``warn``; when they could turn a pass into a
failure the verdict is ``unknown`` (exit 3): the gate cannot say.
"""

from __future__ import annotations

from collections.abc import Sequence

from headway.gate.profile import SECTIONS, Profile
from headway.gate.results import CheckResult, SectionResult, Verdict

_RANK = {"fail": 0, "warn": 1, "pass": 2}


def section_order(results: Sequence[CheckResult]) -> list[str]:
    extra = [r.section for r in results if r.section not in SECTIONS]
    return [s for s in SECTIONS if any(r.section == s for r in results)] + list(dict.fromkeys(extra))


def sections(results: Sequence[CheckResult], profile: Profile) -> list[SectionResult]:
    out = []
    for section in section_order(results):
        members = [r for r in results if r.section == section]
        score = sum(r.score or 0.0 for r in members)
        maximum = float(len(members))
        minimum = profile.minimum(section, maximum)
        out.append(
            SectionResult(section, SECTIONS.get(section, section.replace("_", " ").capitalize()), score, maximum, minimum, score >= minimum)
        )
    return out


def _outcome(results: Sequence[CheckResult], profile: Profile, unknown_as: float) -> str:
    scores = {r.id: (unknown_as if r.score is None else r.score) for r in results}
    if any(r.required and scores[r.id] < 1 for r in results):
        return "fail"
    for section in section_order(results):
        members = [r for r in results if r.section == section]
        if sum(scores[r.id] for r in members) < profile.minimum(section, float(len(members))):
            return "fail"
    return "warn" if any(s < 1 for s in scores.values()) else "pass"


def verdict(results: Sequence[CheckResult], profile: Profile) -> Verdict:
    worst = _outcome(results, profile, 0.0)
    best = _outcome(results, profile, 1.0)
    if worst == best:
        return worst  # type: ignore[return-value]
    if _RANK[worst] >= _RANK["warn"]:
        return "warn"
    return "unknown"


def gate_score(section_results: Sequence[SectionResult]) -> float | None:
    return min((s.score for s in section_results), default=None)
