"""Which review policy, if any, a request falls under: pure functions over what the request carries.

``Policies.match`` is asked twice per request: before the model is called (to know
whether the answer will be held, so the cache is bypassed and a stream is served
whole) and after (when the output contract's outcome is known). Hold beats audit;
among equals the first written wins. A guard that asked for review
(``quality["review"] == "requested"``) is never let through unreviewed: when no policy
of the operator's matches it, the built-in ``guard-requested`` policy holds it.

A ``classifier`` condition is decided from ``Facts.verdicts`` (asked beforehand by the async
review stage, only for the policies ``to_classify`` names, and checked last): no verdict
yet counts as "may hold"; a failed one holds unless the policy says ``on_error: release``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import translate
from typing import Any

import orjson

from headway.config import ClassifierConfig, MatchConfig, PolicyConfig, ReviewConfig
from headway.errors import ConfigError
from headway.review import conditions
from headway.review.classifier import Verdict, content_text
from headway.review.conditions import Condition
from headway.types import JSON

GUARD_POLICY = "guard-requested"
REVIEW_REQUESTED = "requested"


@dataclass(slots=True)
class Facts:
    """What a policy may look at; ``quality`` grows as the request moves along the path.

    Not frozen: built twice per request (screen, then judge), and a frozen dataclass sets each
    field through ``object.__setattr__``. Nothing changes one once built (``replace`` copies)."""

    request_id: str
    model: str
    team: str | None
    metadata: Mapping[str, Any]
    quality: Mapping[str, Any]
    answer: JSON | None = None  # the model's chat.completion, once it answered (output conditions need it)
    verdicts: Mapping[str, Verdict] | None = None  # classifier verdicts by policy, once asked (None: not yet)


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


def _reads_request_only(match: MatchConfig) -> bool:
    """Conditions on the request alone (model, team, metadata, tags, sample): the same at the
    screen and after the answer."""
    return not match.on_output and match.findings is None and match.review_requested is None and match.contract_failed is None


def review_requested(quality: Mapping[str, Any]) -> bool:
    return quality.get("review") == REVIEW_REQUESTED


def sampled(request_id: str, policy: str, rate: float) -> bool:
    """Deterministic per request: the same request id is always in or out of a policy's sample."""
    digest = hashlib.sha256(f"{policy}\0{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _message(answer: JSON) -> Mapping[str, Any]:
    choices = answer.get("choices") or [{}]
    message = choices[0].get("message") if isinstance(choices[0], Mapping) else None
    return message if isinstance(message, Mapping) else {}


def answer_text(answer: JSON) -> str:
    return content_text(_message(answer).get("content"))


def answer_json(answer: JSON) -> Any:
    """The answer's text parsed as JSON (structured output); None when it is not JSON."""
    try:
        return orjson.loads(answer_text(answer))
    except orjson.JSONDecodeError:
        return None


def tool_calls_of(answer: JSON) -> list[tuple[str, Any]]:
    """``(name, arguments)`` of each function call the model asked for; arguments parsed from their JSON text."""
    calls: list[tuple[str, Any]] = []
    for call in _message(answer).get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        raw = function.get("arguments")
        try:
            arguments = orjson.loads(raw) if isinstance(raw, str) else raw
        except orjson.JSONDecodeError:
            arguments = None  # unparseable arguments match no condition, only the name
        calls.append((str(function.get("name") or ""), arguments))
    return calls


def _conditions(policy: str, texts: list[str]) -> tuple[Condition, ...]:
    try:
        return tuple(conditions.parse(text) for text in texts)
    except ValueError as exc:
        raise ConfigError(f"review.policies.{policy}.match: {exc}") from None


class _Compiled:
    __slots__ = ("config", "models", "name", "output_json", "output_regex", "tools")

    def __init__(self, name: str, config: PolicyConfig) -> None:
        self.name = name
        self.config = config
        match = config.match
        self.models = _glob(match.models) if match.models is not None else None
        self.output_regex = re.compile(match.output_regex) if match.output_regex is not None else None
        self.output_json = _conditions(name, match.output_json) if match.output_json is not None else None
        self.tools = (
            [(_glob([t.name]), t.name, _conditions(name, t.when)) for t in match.tool_calls]
            if match.tool_calls is not None else None
        )

    def _output_reasons(self, answer: JSON) -> list[str] | None:
        why: list[str] = []
        if self.output_regex is not None:
            found = self.output_regex.search(answer_text(answer))
            if found is None:
                return None
            why.append(f"answer matches /{self.output_regex.pattern}/")
        if self.output_json is not None:
            data = answer_json(answer)
            if data is None or not all(c.holds(data) for c in self.output_json):
                return None
            why.append("answer " + " and ".join(c.text for c in self.output_json))
        if self.tools is not None:
            hit = next(
                (f"tool call {name}" + (" with " + " and ".join(c.text for c in when) if when else "")
                 for name, arguments in tool_calls_of(answer)
                 for pattern, _, when in self.tools
                 if pattern.fullmatch(name) and all(c.holds(arguments) for c in when)),
                None,
            )
            if hit is None:
                return None
            why.append(hit)
        return why

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
        if match.on_output:
            if facts.answer is None:  # before the model answered: it may hold, so the answer is kept back
                why.append("the answer decides")
            else:
                output = self._output_reasons(facts.answer)
                if output is None:
                    return None
                why.extend(output)
        if match.sample_rate is not None:
            if not sampled(facts.request_id, self.name, match.sample_rate):
                return None
            why.append(f"sampled at {match.sample_rate:g}")
        if match.classifier is not None:  # last: a model is asked only when everything else holds
            classifier = match.classifier
            verdict = facts.verdicts.get(self.name) if facts.verdicts is not None else None
            if verdict is None:
                if facts.answer is None:  # before the model answered: "the answer decides" says it already
                    return tuple(why)
                why.append(f"classifier {classifier.model} to ask")
            elif verdict.label is None:
                if classifier.on_error != "hold":
                    return None
                why.append(f"no verdict from the classifier: {verdict.error} (held: fail closed)")
            elif verdict.label.lower() in {label.lower() for label in classifier.hold_when}:
                why.append(f"classifier {classifier.model} says {verdict.label}")
            else:
                return None
        return tuple(why)

    @property
    def classifier(self) -> ClassifierConfig | None:
        return self.config.match.classifier


class Policies:
    def __init__(self, config: ReviewConfig) -> None:
        self._compiled = [_Compiled(name, policy) for name, policy in config.policies.items()]
        self._guard = _Compiled(GUARD_POLICY, PolicyConfig(match=MatchConfig(review_requested=True)))
        self._classifying = any(p.classifier is not None for p in self._compiled)  # fixed per config
        # Whether the screen before the model call decides every policy: none reads the answer
        # or what the guards and the output contract add to ``quality`` after the screen. Then
        # an unmatched screen needs no second look once the answer is in (unless a guard asks).
        self.decided_by_request = all(_reads_request_only(p.config.match) for p in self._compiled)

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

    def to_classify(self, facts: Facts) -> list[tuple[str, ClassifierConfig]]:
        """The policies whose classifier must be asked before ``match`` can decide: every other
        condition holds, and no policy written before them already holds without a classifier."""
        if not self._classifying:
            return []
        asking: list[tuple[str, ClassifierConfig]] = []
        for policy in self._compiled:
            if policy.reasons(facts) is None:
                continue
            classifier = policy.classifier
            if classifier is not None and (facts.verdicts is None or policy.name not in facts.verdicts):
                asking.append((policy.name, classifier))
            elif policy.config.action == "hold":
                break  # it wins over everything after it
        return asking

    def get(self, name: str) -> PolicyConfig | None:
        if name == GUARD_POLICY:
            return self._guard.config
        return next((p.config for p in self._compiled if p.name == name), None)


def facts_of(
    request_id: str,
    model: str,
    team: str | None,
    body: JSON,
    quality: Mapping[str, Any],
    answer: JSON | None = None,
    verdicts: Mapping[str, Verdict] | None = None,
) -> Facts:
    metadata = body.get("metadata")
    return Facts(request_id, model, team, metadata if isinstance(metadata, Mapping) else {}, quality, answer, verdicts)
