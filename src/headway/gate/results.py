"""What the gate found: one ``Finding`` per check, scored, and the whole ``GateReport``.

Scores follow the ML Test Score: 0 (absent), 0.5 (present, but the evidence is manual
or stale) or 1 (automated, current evidence). A check that could not be evaluated has no
score (``None``) and the status ``unknown``; one that does not apply to this deployment
(no pipelines configured, say) scores 1 with the status ``n/a``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "unknown", "n/a"]
Verdict = Literal["pass", "warn", "fail", "unknown"]

SCHEMA_VERSION = 1
EXIT_CODES: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}
VERDICT_LABELS: dict[str, str] = {
    "pass": "pass",
    "warn": "pass with warnings",
    "fail": "fail",
    "unknown": "could not evaluate",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check measured: a score, why, the evidence, and (when short of 1) how to fix it."""

    score: float | None  # 0, 0.5, 1; None: could not evaluate
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None  # overrides the check's general advice
    applicable: bool = True

    @property
    def status(self) -> Status:
        if not self.applicable:
            return "n/a"
        if self.score is None:
            return "unknown"
        return "pass" if self.score >= 1 else "warn" if self.score > 0 else "fail"


def passed(summary: str, **evidence: Any) -> Finding:
    return Finding(1.0, summary, evidence)


def partial(summary: str, *, fix: str | None = None, **evidence: Any) -> Finding:
    return Finding(0.5, summary, evidence, fix)


def failed(summary: str, *, fix: str | None = None, **evidence: Any) -> Finding:
    return Finding(0.0, summary, evidence, fix)


def unknown(summary: str, *, fix: str | None = None, **evidence: Any) -> Finding:
    return Finding(None, summary, evidence, fix)


def not_applicable(summary: str, **evidence: Any) -> Finding:
    return Finding(1.0, summary, evidence, applicable=False)


@dataclass(frozen=True, slots=True)
class CheckResult:
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

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class SectionResult:
    id: str
    title: str
    score: float  # the sum of its checks (unknown counts 0)
    max: float
    minimum: float  # the profile's pass mark
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SectionResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


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

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    def failing(self) -> list[CheckResult]:
        """Checks short of full marks (fail, warn or unknown), in report order."""
        return [c for c in self.checks if c.status in ("fail", "warn", "unknown")]

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
        )
