"""From check results to section scores and the verdict (pure functions).

A section's score is its share of the points, 0-1 (the mean of its checks: unknown
counts 0, waived 0.5); the gate's score is the minimum over sections, so one weak section
shows however many checks the others have. The verdict:

- ``fail``: a required check scored below 1, or a section fell below its pass mark;
- ``warn``: otherwise, some check scored below 1 or is waived;
- ``pass``: every check scored 1.

Waived checks are accepted risk: they neither fail a required mark nor count towards a
section's pass mark, but the verdict is at best ``warn`` while any is waived.

A check that could not be evaluated is judged both ways — as 0 and as 1. When the
verdict is the same either way it stands; when the unknowns only make the difference
between ``pass`` and ``warn`` it is ``warn``; when they could turn a pass into a
failure the verdict is ``unknown`` (exit 3): the gate cannot say.
"""

from __future__ import annotations

from collections.abc import Sequence

from headway.gate.profile import SECTIONS, Profile
from headway.gate.results import WAIVED_SCORE, CheckResult, SectionResult, Verdict

_RANK = {"fail": 0, "warn": 1, "pass": 2}


def section_order(results: Sequence[CheckResult]) -> list[str]:
    extra = [r.section for r in results if r.section not in SECTIONS]
    return [s for s in SECTIONS if any(r.section == s for r in results)] + list(dict.fromkeys(extra))


def _points(result: CheckResult, unknown_as: float = 0.0) -> float:
    if result.status == "waived":
        return WAIVED_SCORE
    return unknown_as if result.score is None else result.score


def _mark(profile: Profile, section: str, count: int) -> float:
    """The section's pass mark as a share (the profile writes points or a percentage)."""
    return profile.minimum(section, float(count)) / count if count else 0.0


def _section_passes(members: Sequence[CheckResult], profile: Profile, section: str, unknown_as: float) -> bool:
    judged = [r for r in members if r.status != "waived"]
    if not judged:
        return True
    share = sum(_points(r, unknown_as) for r in judged) / len(judged)
    return share + 1e-9 >= _mark(profile, section, len(judged))


def sections(results: Sequence[CheckResult], profile: Profile) -> list[SectionResult]:
    out = []
    for section in section_order(results):
        members = [r for r in results if r.section == section]
        share = sum(_points(r) for r in members) / len(members)
        judged = [r for r in members if r.status != "waived"]
        out.append(
            SectionResult(
                section,
                SECTIONS.get(section, section.replace("_", " ").capitalize()),
                round(share, 4),
                float(len(members)),
                round(_mark(profile, section, len(judged) or len(members)), 4),
                _section_passes(members, profile, section, 0.0),
                waived=not judged,
            )
        )
    return out


def _outcome(results: Sequence[CheckResult], profile: Profile, unknown_as: float) -> str:
    if any(r.required and r.status != "waived" and _points(r, unknown_as) < 1 for r in results):
        return "fail"
    for section in section_order(results):
        if not _section_passes([r for r in results if r.section == section], profile, section, unknown_as):
            return "fail"
    return "warn" if any(_points(r, unknown_as) < 1 for r in results) else "pass"


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
