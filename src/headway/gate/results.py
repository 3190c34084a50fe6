"""What the gate found: one ``Finding`` per check, scored, and the whole ``GateReport``.

Scores follow the ML Test Score: 0 (absent), 0.5 (present, but the evidence is manual
or stale) or 1 (automated, current evidence). Each finding says how it knows: measured
(the live system, exercised or observed) or read from config; a check read from config
scores at most half, whatever the config says. A check that could not be evaluated has
no score (``None``) and the status ``unknown``. Nothing is "not applicable": a section
the deployment does not need is waived by an explicit entry (reason and owner) and shows
as ``waived`` at half marks, never as full marks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

Status = Literal["pass", "warn", "fail", "unknown", "waived"]
Verdict = Literal["pass", "warn", "fail", "unknown"]
Basis = Literal["measured", "config"]

SCHEMA_VERSION = 2
EXIT_CODES: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}
VERDICT_LABELS: dict[str, str] = {
    "pass": "pass",
    "warn": "pass with warnings",
    "fail": "fail",
    "unknown": "could not evaluate",
}
CONFIG_CAP = 0.5  # the most a check read from config can score
WAIVED_SCORE = 0.5  # a waiver is accepted risk, never full marks


class FlatRecord:
    """A dataclass of plain JSON values, stored field by field: ``from_dict`` ignores keys it
    does not know (a newer writer's) and leaves missing ones at their defaults (an older one's)."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check measured: a score, why, the evidence, and (when short of 1) how to fix it."""

    score: float | None  # 0, 0.5, 1; None: could not evaluate
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None  # overrides the check's general advice
    basis: Basis = "measured"

    @property
    def status(self) -> Status:
        if self.score is None:
            return "unknown"
        return "pass" if self.score >= 1 else "warn" if self.score > 0 else "fail"

    def capped(self) -> Finding:
        """Read from config: at most half marks, saying so."""
        if self.basis != "config" or self.score is None or self.score <= CONFIG_CAP:
            return self
        return Finding(
            CONFIG_CAP,
            f"{self.summary} (read from config, not measured: at most half marks)",
            self.evidence,
            self.fix,
            self.basis,
        )


def passed(summary: str, *, fix: str | None = None, basis: Basis = "measured", **evidence: Any) -> Finding:
    return Finding(1.0, summary, evidence, fix, basis)


def partial(summary: str, *, fix: str | None = None, basis: Basis = "measured", **evidence: Any) -> Finding:
    return Finding(0.5, summary, evidence, fix, basis)


def failed(summary: str, *, fix: str | None = None, basis: Basis = "measured", **evidence: Any) -> Finding:
    return Finding(0.0, summary, evidence, fix, basis)


def unknown(summary: str, *, fix: str | None = None, **evidence: Any) -> Finding:
    return Finding(None, summary, evidence, fix)


@dataclass(frozen=True, slots=True)
class CheckResult(FlatRecord):
    id: str
    section: str
    title: str
    required: bool
    measures: str  # what the check looks at, in one sentence
    score: float | None
    status: Status
    summary: str
    evidence: dict[str, Any]
    fix: str | None  # shown whenever the score is short of 1
    basis: Basis = "measured"
    waiver: dict[str, str] | None = None  # {reason, owner} when the check (or its section) is waived


@dataclass(frozen=True, slots=True)
class SectionResult(FlatRecord):
    id: str
    title: str
    score: float  # its share of the points, 0-1 (unknown counts 0, waived 0.5)
    max: float  # the number of checks
    minimum: float  # the profile's pass mark, as a share 0-1
    passed: bool
    waived: bool = False  # every check of the section is waived


@dataclass(slots=True)
class GateReport:
    id: str
    created_at: float
    finished_at: float
    target: str | None
    config_file: str | None
    profile: str
    verdict: Verdict
    score: float | None  # the minimum over sections
    sections: list[SectionResult]
    checks: list[CheckResult]
    reason: str | None = None  # why the gate could not evaluate, when it could not
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    fingerprint: str | None = None  # the gated config's (secrets excluded)
    config_leaves: dict[str, str] = field(default_factory=dict)  # key path -> short hash, to say what changed
    changed_since: dict[str, Any] | None = None  # {report, created_at, fingerprint, changed: [...]} vs the previous report

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    def failing(self) -> list[CheckResult]:
        """Checks short of full marks (fail, unknown, warn, then waived), worst first, report order within."""
        rank = {"fail": 0, "unknown": 1, "warn": 2, "waived": 3}
        short = [c for c in self.checks if c.status in rank]
        return sorted(short, key=lambda c: rank[c.status])

    def waivers(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "waived"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "target": self.target,
            "config_file": self.config_file,
            "profile": self.profile,
            "verdict": self.verdict,
            "verdict_label": self.verdict_label,
            "exit_code": self.exit_code,
            "score": self.score,
            "reason": self.reason,
            "notes": list(self.notes),
            "sections": [s.to_dict() for s in self.sections],
            "checks": [c.to_dict() for c in self.checks],
            "fingerprint": self.fingerprint,
            "config_leaves": dict(self.config_leaves),
            "changed_since": self.changed_since,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateReport:
        return cls(
            id=data["id"],
            created_at=data["created_at"],
            finished_at=data["finished_at"],
            target=data.get("target"),
            config_file=data.get("config_file"),
            profile=data["profile"],
            verdict=data["verdict"],
            score=data.get("score"),
            sections=[SectionResult.from_dict(s) for s in data["sections"]],
            checks=[CheckResult.from_dict(c) for c in data["checks"]],
            reason=data.get("reason"),
            notes=list(data.get("notes") or []),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            fingerprint=data.get("fingerprint"),
            config_leaves=dict(data.get("config_leaves") or {}),
            changed_since=data.get("changed_since"),
        )
