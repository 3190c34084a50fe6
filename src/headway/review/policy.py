"""Which review policy, if any, a request falls under: pure functions over what the request carries.

``Policies.match`` is asked twice per request: before the model is called (to know
whether the answer will be held, so the cache is bypassed and a stream is served
whole) and after (when the output contract's outcome is known). Hold beats audit;
among equals the first written wins. A guard that asked for review
(``quality["review"] == "requested"``) is never let through unreviewed: when no policy
of the operator's matches it, the built-in ``guard-requested`` policy holds it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import translate
from typing import Any

from headway.config.review import MatchConfig, PolicyConfig, ReviewConfig
from headway.types import JSON

GUARD_POLICY = "guard-requested"
REVIEW_REQUESTED = "requested"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a policy may look at; ``quality`` grows as the request moves along the path."""

    request_id: str
    model: str
    team: str | None
    metadata: Mapping[str, Any]
    quality: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Match:
    policy: str
    config: PolicyConfig
    reasons: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return self.config.action == "hold"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or "every request"


def _glob(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(translate(p) for p in patterns) or r"(?!)")


def _normal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


def _tags(metadata: Mapping[str, Any]) -> set[str]:
    raw = metadata.get("tags")
    if isinstance(raw, str):
        return {t.strip() for t in raw.split(",") if t.strip()}
    if isinstance(raw, list):
        return {str(t) for t in raw}
    return set()


def findings_of(quality: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    injection = quality.get("injection")
    if isinstance(injection, Mapping) and injection.get("findings"):
        found.add("injection")
    if quality.get("pii_redacted_upstream"):
        found.add("pii")
    return found


def review_requested(quality: Mapping[str, Any]) -> bool:
    return quality.get("review") == REVIEW_REQUESTED


def sampled(request_id: str, policy: str, rate: float) -> bool:
    """Deterministic per request: the same request id is always in or out of a policy's sample."""
    digest = hashlib.sha256(f"{policy}\0{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


class _Compiled:
    __slots__ = ("config", "models", "name")

    def __init__(self, name: str, config: PolicyConfig) -> None:
        self.name = name
        self.config = config
        self.models = _glob(config.match.models) if config.match.models is not None else None

    def reasons(self, facts: Facts) -> tuple[str, ...] | None:
        """Why this policy matches, or None when it does not."""
        match: MatchConfig = self.config.match
        why: list[str] = []
        if self.models is not None:
            if not self.models.fullmatch(facts.model):
                return None
            why.append(f"model {facts.model}")
        if match.teams is not None:
            if facts.team not in match.teams:
                return None
            why.append(f"team {facts.team}")
        if match.metadata is not None:
            for key, wanted in match.metadata.items():
                if key not in facts.metadata or _normal(facts.metadata[key]) != _normal(wanted):
                    return None
                why.append(f"metadata {key}={_normal(wanted)}")
        if match.tags is not None:
            common = _tags(facts.metadata) & set(match.tags)
            if not common:
                return None
            why.append(f"tag {', '.join(sorted(common))}")
        if match.findings is not None:
            common = findings_of(facts.quality) & set(match.findings)
            if not common:
                return None
            why.append(f"guard finding {', '.join(sorted(common))}")
        if match.review_requested is not None:
            if review_requested(facts.quality) != match.review_requested:
                return None
            if match.review_requested:
                why.append("a guard requested review")
        if match.contract_failed is not None:
            if (facts.quality.get("contract") == "failed") != match.contract_failed:
                return None
            if match.contract_failed:
                why.append(f"output contract failed: {str(facts.quality.get('contract_error') or '')[:200]}".rstrip(": "))
        if match.sample_rate is not None:
            if not sampled(facts.request_id, self.name, match.sample_rate):
                return None
            why.append(f"sampled at {match.sample_rate:g}")
        return tuple(why)


class Policies:
    def __init__(self, config: ReviewConfig) -> None:
        self._compiled = [_Compiled(name, policy) for name, policy in config.policies.items()]
        self._guard = _Compiled(GUARD_POLICY, PolicyConfig(match=MatchConfig(review_requested=True)))

    @property
    def configured(self) -> bool:
        return bool(self._compiled)

    def match(self, facts: Facts) -> Match | None:
        if not self._compiled and not review_requested(facts.quality):
            return None  # the common case costs one dict lookup
        first_audit: Match | None = None
        for policy in self._compiled:
            reasons = policy.reasons(facts)
            if reasons is None:
                continue
            found = Match(policy.name, policy.config, reasons)
            if found.holds:
                return found
            first_audit = first_audit or found
        if review_requested(facts.quality):
            return Match(GUARD_POLICY, self._guard.config, ("a guard requested review",))
        return first_audit

    def get(self, name: str) -> PolicyConfig | None:
        if name == GUARD_POLICY:
            return self._guard.config
        return next((p.config for p in self._compiled if p.name == name), None)


def facts_of(request_id: str, model: str, team: str | None, body: JSON, quality: Mapping[str, Any]) -> Facts:
    metadata = body.get("metadata")
    return Facts(request_id, model, team, metadata if isinstance(metadata, Mapping) else {}, quality)
