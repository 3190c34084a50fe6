"""Profiles: the pass marks a gate applies, and the organisation's own checks.

Two are built in. ``strict``: every check is required and every section needs full
marks. ``standard``: the security basics are required and each section needs half its
marks. A profile file extends one of them and overrides what it names::

    extends: strict
    name: acme-production
    sections: {pipelines: {min: "50%"}}
    checks: {reliability.degraded: {required: false}, review.sla: {enabled: false}}
    load: {target_concurrency: 32, slos: "p95_ms=1500,error_rate=0.005"}
    extra_checks: [...]          # see custom_spec.py
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from headway.errors import ConfigError
from headway.gate.custom_spec import CustomCheckSpec
from headway.loadtest import DEFAULT_RUNS_DIR, parse_slo

SECTIONS: dict[str, str] = {
    "reliability": "Reliability and fallback",
    "load": "Load and concurrency",
    "observability": "Observability",
    "security": "Security and access",
    "pipelines": "Data and pipelines",
    "review": "Human review",
    "quality": "Model quality",
    "operations": "Operations and privacy",
}

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
DEFAULT_METRICS = (
    "headway_requests_total",
    "headway_request_duration_seconds",
    "headway_upstream_attempts_total",
    "headway_tokens_total",
    "headway_cost_usd_total",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _mark(value: float | str) -> float | str:
    if isinstance(value, str) and not _PERCENT.match(value):
        raise ValueError("must be a number of points or a percentage such as '75%'")
    if isinstance(value, int | float) and value < 0:
        raise ValueError("must not be negative")
    return value


class SectionMark(_Model):
    min: float | str = Field("100%", description="Points the section needs: a number, or a share of its maximum ('75%').")

    @field_validator("min")
    @classmethod
    def _valid(cls, value: float | str) -> float | str:
        return _mark(value)


class CheckSetting(_Model):
    required: bool | None = Field(None, description="A required check must score 1, or the gate fails.")
    enabled: bool = True


class LoadSettings(_Model):
    runs_dir: str = Field(str(DEFAULT_RUNS_DIR), description="Where `headway load` saved its runs.")
    max_age_days: Annotated[float, Field(gt=0)] = 7.0
    target_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 8
    slos: str = Field("p95_ms=2000,error_rate=0.01", description="The SLOs a run must meet, in `headway load --slo` form.")

    @field_validator("slos")
    @classmethod
    def _parses(cls, value: str) -> str:
        if not parse_slo(value):
            raise ValueError("give at least one SLO, e.g. p95_ms=2000,error_rate=0.01")
        return value


class DrillSettings(_Model):
    model: str | None = Field(None, description="Route the drill exercises; default: the first chat route with fallbacks.")
    max_age_days: Annotated[float, Field(gt=0)] = 7.0
    load_duration_s: Annotated[float, Field(gt=0, le=600)] = 3.0
    load_requests: Annotated[int, Field(ge=1)] = 500
    request_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0


class QualitySettings(_Model):
    runs_dir: str = Field(".headway/evals", description="Where `headway eval` saves its runs (one folder per set).")
    max_age_days: Annotated[float, Field(gt=0)] = 7.0
    min_pass_rate: Annotated[float, Field(ge=0, le=1)] = Field(0.9, description="Share of an evaluation set's cases that must pass.")
    max_regression: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="How far the pass rate may drop from the previous run.")
    min_agreement: Annotated[float, Field(ge=0, le=1)] = Field(0.7, description="Reviewer approvals (approved or edited) among decided items.")
    min_feedback_score: Annotated[float, Field(ge=-1, le=1)] = Field(0.0, description="Lowest acceptable mean feedback score.")


class EvidenceSettings(_Model):
    window_days: Annotated[float, Field(gt=0)] = Field(7.0, description="How far back 'recent' request records reach.")
    min_requests: Annotated[int, Field(ge=1)] = Field(20, description="Fewer recent requests than this are too few to measure.")
    cost_coverage: Annotated[float, Field(ge=0, le=1)] = 0.99
    key_max_days: Annotated[float, Field(gt=0)] = Field(366.0, description="Longest acceptable API key lifetime.")
    review_max_sla_s: Annotated[float, Field(gt=0)] = 86_400.0
    review_miss_ratio: Annotated[float, Field(ge=0, le=1)] = Field(0.05, description="Share of final review items that may have expired.")
    pipeline_grace: Annotated[float, Field(ge=1)] = Field(1.5, description="A pipeline is late after this many cadences.")
    source_profile_max_days: Annotated[float, Field(gt=0)] = Field(7.0, description="Oldest acceptable profile of a source Headway does not run.")
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))


class Profile(_Model):
    name: str
    description: str | None = None
    required_by_default: bool = False
    default_minimum: float | str = "50%"
    sections: dict[str, SectionMark] = Field(default_factory=dict)
    checks: dict[str, CheckSetting] = Field(default_factory=dict)
    load: LoadSettings = Field(default_factory=LoadSettings)
    drill: DrillSettings = Field(default_factory=DrillSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    extra_checks: list[CustomCheckSpec] = Field(default_factory=list)

    @field_validator("default_minimum")
    @classmethod
    def _valid(cls, value: float | str) -> float | str:
        return _mark(value)

    def setting(self, check_id: str) -> CheckSetting:
        return self.checks.get(check_id) or CheckSetting()

    def enabled(self, check_id: str) -> bool:
        return self.setting(check_id).enabled

    def required(self, check_id: str, default: bool | None = None) -> bool:
        explicit = self.setting(check_id).required
        if explicit is not None:
            return explicit
        return self.required_by_default if default is None else default

    def minimum(self, section: str, maximum: float) -> float:
        mark = self.sections[section].min if section in self.sections else self.default_minimum
        if isinstance(mark, str):
            match = _PERCENT.match(mark)
            assert match is not None  # validated
            # Half points are the unit of score: round the mark down to one.
            return int(float(match.group(1)) / 100 * maximum * 2 + 1e-9) / 2
        return float(mark)

    def check_names(self, known: set[str]) -> None:
        """Refuse a profile that names checks that do not exist (a typo would silently do nothing)."""
        extra_ids = [c.id for c in self.extra_checks]
        clashes = sorted(set(extra_ids) & known) + sorted({i for i in extra_ids if extra_ids.count(i) > 1})
        if clashes:
            raise ConfigError(f"extra check id {clashes[0]!r} is already taken", path=f"profile {self.name}.extra_checks")
        unknown = sorted(set(self.checks) - known - set(extra_ids))
        if unknown:
            raise ConfigError(
                f"unknown check {unknown[0]!r} (known: {', '.join(sorted(known))})", path=f"profile {self.name}.checks"
            )


_STANDARD_REQUIRED = (
    "reliability.timeouts",
    "observability.metrics",
    "observability.readiness",
    "security.auth",
    "security.secrets",
    "security.audit",
)

BUILTIN: dict[str, dict[str, Any]] = {
    "strict": {
        "name": "strict",
        "description": "Every check required; every section needs full marks.",
        "required_by_default": True,
        "default_minimum": "100%",
    },
    "standard": {
        "name": "standard",
        "description": "Security basics, timeouts, metrics and readiness required; each section needs half its marks.",
        "required_by_default": False,
        "default_minimum": "50%",
        "checks": {check_id: {"required": True} for check_id in _STANDARD_REQUIRED},
    },
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_profile(raw: Any, *, source: str) -> Profile:
    """A profile from a parsed YAML mapping, merged over the built-in it ``extends``."""
    if not isinstance(raw, dict):
        raise ConfigError("a profile must be a mapping (extends, sections, checks, …)", file=source)
    data = dict(raw)
    base_name = data.pop("extends", "standard")
    if base_name not in BUILTIN:
        raise ConfigError(f"extends must be one of {', '.join(BUILTIN)}", file=source, path="extends")
    data.setdefault("name", Path(source).stem)
    try:
        return Profile.model_validate(_merge(BUILTIN[base_name], data))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise ConfigError(first["msg"].removeprefix("Value error, "), file=source, path=path or None) from None
    except ConfigError as exc:  # a bad SLO string
        raise ConfigError(exc.detail, file=source, path="load.slos") from None


def load_profile(spec: str) -> Profile:
    """``strict``, ``standard``, or the path of a profile YAML file."""
    if spec in BUILTIN:
        return Profile.model_validate(BUILTIN[spec])
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such profile: give strict, standard or a profile file ({spec} does not exist)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", file=spec) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=spec) from None
    return parse_profile(raw, source=spec)
