"""The ``review:`` section: which answers a human must see, who reviews them, and by when.

Policies are named and tried in the order written; a ``hold`` policy that matches wins
over an ``audit`` one. Inside one policy's ``match`` every condition given must hold (use
two policies for "either"). The semantics are in ``docs/review.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from headway.config.section import Regex, Section
from headway.config.webhooks import SignedWebhookConfig

ReviewAction = Literal["hold", "audit"]
DefaultAction = Literal["reject", "approve"]
Finding = Literal["injection", "pii"]
MetadataValue = str | bool | int | float
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


class ReviewerConfig(Section):
    """Who may see and decide a policy's items: a team (any when unset) and one of the roles."""

    team: str | None = Field(None, description="Team whose reviewers see the items; unset: reviewers of any team.")
    roles: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["reviewer"], description="Roles that may decide (admins always may)."
    )


class ReviewWebhookConfig(SignedWebhookConfig):
    """An escalation team's or a policy's receiver (timeouts: ``review.webhook_timeout_s``)."""


class EscalationConfig(ReviewerConfig):
    sla_s: Annotated[float, Field(gt=0)] = Field(3600.0, description="Time the escalation team has before the default action.")
    webhook: ReviewWebhookConfig | None = Field(
        None, description="The escalation team's webhook: told (review.escalated) when an item reaches them."
    )


class ToolCallMatchConfig(Section):
    """A tool call the model asked for: its name (glob) and conditions over its arguments (all must hold)."""

    name: str = Field(description="Tool (function) name, a glob pattern: issue_refund, payments.*.")
    when: list[str] = Field(default_factory=list, description="Conditions over the arguments: ['$.amount > 500'].")


ClassifierInput = Literal["input", "output"]
ClassifierFailure = Literal["hold", "release"]


class ClassifierConfig(Section):
    """A model served by this gateway that reads the request or the answer and names a label.

    The policy matches when the label is one of ``hold_when``. The call goes through the
    gateway's own path (recorded as its own request, limited, failed over); when it fails,
    times out or names no label, ``on_error`` decides: ``hold`` (the default, fail closed)
    lets the policy apply, with the failure as its reason; ``release`` lets the answer go.
    """

    model: str = Field(description="A chat model (route) this gateway serves, e.g. a small moderation model.")
    reads: ClassifierInput = Field("output", description="What it judges: the request's messages (input) or the answer (output).")
    prompt: str = Field(
        "Classify the text below.", max_length=20_000, description="Instructions; the labels are appended to them."
    )
    labels: Annotated[list[str], Field(min_length=1, max_length=50)] = Field(description="The labels it may answer with.")
    hold_when: Annotated[list[str], Field(min_length=1)] = Field(description="Labels that make the policy match.")
    timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(10.0, description="The classifier call's time limit.")
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = Field(20, description="The classifier's answer is cut here.")
    on_error: ClassifierFailure = Field(
        "hold", description="When no verdict comes (error, timeout, no label): hold (fail closed) or release."
    )

    @field_validator("labels")
    @classmethod
    def _label_words(cls, value: list[str]) -> list[str]:
        for label in value:
            if not _LABEL.fullmatch(label):
                raise ValueError(f"label {label!r} must be a word of letters, digits, '_' or '-'")
        if len({label.lower() for label in value}) != len(value):
            raise ValueError("labels must differ (case-insensitively)")
        return value

    @model_validator(mode="after")
    def _hold_when_labels(self) -> ClassifierConfig:
        unknown = [label for label in self.hold_when if label.lower() not in {known.lower() for known in self.labels}]
        if unknown:
            raise ValueError(f"hold_when names labels that are not in labels: {', '.join(unknown)}")
        return self


class MatchConfig(Section):
    """Conditions on one request; all that are given must hold. An empty ``match`` matches every request."""

    models: list[str] | None = Field(None, description="Model (route) names, glob patterns (gpt-*).")
    metadata: dict[str, MetadataValue] | None = Field(
        None, description="Request metadata that must be present with these values, e.g. {consequential: true}."
    )
    tags: list[str] | None = Field(None, description="Any of these in metadata.tags (a list or a comma-separated string).")
    teams: list[str] | None = Field(None, description="Callers' teams.")
    findings: list[Finding] | None = Field(None, description="Any of these guard findings on the request.")
    review_requested: bool | None = Field(None, description="A guard asked for review (guards.injection.action: review).")
    contract_failed: bool | None = Field(None, description="The answer broke its output contract after every repair.")
    sample_rate: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="Share of the otherwise matching requests to review, chosen by request id."
    )
    output_regex: Regex | None = Field(None, description="A regular expression found in the answer's text.")
    output_json: list[str] | None = Field(
        None, description="Conditions over the answer parsed as JSON, all must hold: ['$.amount > 500']."
    )
    tool_calls: list[ToolCallMatchConfig] | None = Field(
        None, description="Any of these tool calls in the answer (name, and conditions over its arguments)."
    )
    classifier: ClassifierConfig | None = Field(
        None, description="A classifier model's verdict on the request or the answer (checked last, once the rest holds)."
    )

    @property
    def on_output(self) -> bool:
        """Whether the policy is decided only once the model has answered (the answer, or a classifier's verdict)."""
        return (
            self.output_regex is not None or self.output_json is not None or self.tool_calls is not None
            or self.classifier is not None
        )


class PolicyConfig(Section):
    match: MatchConfig = Field(default_factory=MatchConfig)
    action: ReviewAction = Field("hold", description="hold: released after a decision; audit: released now, reviewed later.")
    sla_s: Annotated[float, Field(gt=0)] = Field(3600.0, description="Time to a decision before escalation or the default action.")
    reviewers: ReviewerConfig = Field(default_factory=ReviewerConfig)
    escalation: EscalationConfig | None = Field(None, description="Who gets the item when the SLA passes; unset: the default action.")
    default_action: DefaultAction = Field("reject", description="What happens when nobody decided in time (fail closed).")
    webhook: ReviewWebhookConfig | None = Field(None, description="Signed webhook on every decision of this policy.")


class ReviewConfig(Section):
    policies: dict[str, PolicyConfig] = Field(default_factory=dict)
    lease_s: Annotated[float, Field(gt=0, le=86_400)] = Field(300.0, description="How long a claim holds an item.")
    sweep_interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        1.0, description="How often each replica expires leases, applies SLAs and retries webhooks."
    )
    poll_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = Field(
        500, description="Waiting callers re-read the store this often (wake-ups across replicas without Redis)."
    )
    max_wait_s: Annotated[float, Field(ge=0, le=600)] = Field(60.0, description="Longest `Prefer: wait=N` honoured.")
    webhook_secret: SecretStr | None = Field(None, description="Signs webhooks to URLs callers name in metadata.review_webhook.")
    caller_webhook_urls: list[str] = Field(
        default_factory=list, description="Glob patterns of URLs callers may name (empty: caller webhooks refused)."
    )
    escalation_webhook: ReviewWebhookConfig | None = Field(
        None, description="Told (review.escalated) of every escalation whose policy names no escalation.webhook of its own."
    )
    webhook_max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0

    def escalation_webhook_of(self, policy: str) -> tuple[str, ReviewWebhookConfig] | None:
        """``(receiver, webhook)`` that tells ``policy``'s escalation team, or None when nobody is to be told."""
        config = self.policies.get(policy)
        own = config.escalation.webhook if config is not None and config.escalation is not None else None
        if own is not None:
            return f"review:escalation:{policy}", own
        if self.escalation_webhook is not None:
            return "review:escalation", self.escalation_webhook
        return None

    def webhook_secrets(self) -> dict[str, str]:
        """Every review receiver the outbox signs for, keyed as the review part names them."""
        found: dict[str, str] = {}
        if self.webhook_secret is not None:
            found["review:caller"] = self.webhook_secret.get_secret_value()
        if self.escalation_webhook is not None:
            found["review:escalation"] = self.escalation_webhook.secret.get_secret_value()
        for name, policy in self.policies.items():
            if policy.webhook is not None:
                found[f"review:policy:{name}"] = policy.webhook.secret.get_secret_value()
            if policy.escalation is not None and policy.escalation.webhook is not None:
                found[f"review:escalation:{name}"] = policy.escalation.webhook.secret.get_secret_value()
        return found

    @model_validator(mode="after")
    def _caller_webhooks_signed(self) -> ReviewConfig:
        if self.caller_webhook_urls and self.webhook_secret is None:
            raise ValueError("caller_webhook_urls needs webhook_secret: every review webhook is signed")
        return self


def check_review_references(policies: dict[str, PolicyConfig], models: Mapping[str, Any]) -> None:
    """A policy's classifier must be a chat model (route) this gateway serves: a typo must not
    turn into a classifier that never answers (every answer held, fail closed)."""
    for name, policy in policies.items():
        classifier = policy.match.classifier
        if classifier is None:
            continue
        target = models.get(classifier.model)
        where = f"review.policies.{name}.match.classifier.model"
        if target is None:
            known = ", ".join(sorted(models)) or "none defined"
            raise ValueError(f"{where}: unknown model {classifier.model!r} (known: {known})")
        if getattr(target, "kind", "chat") != "chat":
            raise ValueError(f"{where}: {classifier.model!r} is an embeddings model; a classifier must be a chat model")
