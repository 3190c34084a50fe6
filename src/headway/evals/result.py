"""One evaluation run: every case's outcome, the pass rate, the comparison with the previous run, the binding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class CaseResult:
    id: str
    passed: bool
    status: int | None  # the route's HTTP status (202 then the held answer, for a held route)
    outcomes: list[dict[str, Any]]  # Outcome.to_dict()
    request_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(slots=True)
class EvalRun:
    id: str
    set_name: str
    set_path: str
    set_digest: str
    route: str
    judge: str | None
    started_at: float
    finished_at: float
    cases: list[CaseResult]
    min_pass_rate: float
    binding: dict[str, Any] | None = None  # the gate's Binding: config fingerprint, gateway, routes, time
    previous: dict[str, Any] | None = None  # {id, pass_rate, finished_at, set_digest, newly_failing}
    schema_version: int = SCHEMA_VERSION

    @property
    def pass_rate(self) -> float:
        return sum(c.passed for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def regressed(self) -> list[str]:
        """Cases that passed in the previous run of the same set and fail now."""
        return list((self.previous or {}).get("newly_failing") or [])

    @property
    def passed(self) -> bool:
        return self.pass_rate >= self.min_pass_rate and not self.regressed

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "set_name": self.set_name,
            "set_path": self.set_path,
            "set_digest": self.set_digest,
            "route": self.route,
            "judge": self.judge,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "pass_rate": round(self.pass_rate, 4),
            "min_pass_rate": self.min_pass_rate,
            "passed": self.passed,
            "regressed": self.regressed,
            "previous": self.previous,
            "binding": self.binding,
            "cases": [c.to_dict() for c in self.cases],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalRun:
        return cls(
            id=str(data["id"]),
            set_name=str(data["set_name"]),
            set_path=str(data.get("set_path") or ""),
            set_digest=str(data.get("set_digest") or ""),
            route=str(data["route"]),
            judge=data.get("judge"),
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            cases=[CaseResult.from_dict(c) for c in data.get("cases") or []],
            min_pass_rate=float(data.get("min_pass_rate", 1.0)),
            binding=data.get("binding"),
            previous=data.get("previous"),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )


def compare(run: EvalRun, previous: EvalRun | None) -> dict[str, Any] | None:
    """The previous run of the same set against the same route: its pass rate and the cases that newly fail."""
    if previous is None:
        return None
    before = {c.id: c.passed for c in previous.cases}
    return {
        "id": previous.id,
        "finished_at": previous.finished_at,
        "pass_rate": round(previous.pass_rate, 4),
        "set_digest": previous.set_digest,
        "same_set": previous.set_digest == run.set_digest,
        "newly_failing": sorted(c.id for c in run.cases if not c.passed and before.get(c.id) is True),
        "newly_passing": sorted(c.id for c in run.cases if c.passed and before.get(c.id) is False),
    }
