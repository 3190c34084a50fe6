"""The ``review:`` section: which answers a human must see, who reviews them, and by when.

Policies are named and tried in the order written; a ``hold`` policy that matches wins
over an ``audit`` one. Inside one policy's ``match`` every condition given must hold (use
two policies for "either"). The semantics are in ``docs/review.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ReviewAction = Literal["hold", "audit"]
DefaultAction = Literal["reject", "approve"]
Finding = Literal["injection", "pii"]
MetadataValue = str | bool | int | float


class _Section(BaseModel):
    # Unknown keys are errors: a typo in an operator's file must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewerConfig(_Section):
    """Who may see and decide a policy's items: a team (any when unset) and one of the roles."""

    team: str | None = Field(None, description="Team whose reviewers see the items; unset: reviewers of any team.")
    roles: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["reviewer"], description="Roles that may decide (admins always may)."
    )


class EscalationConfig(ReviewerConfig):
    sla_s: Annotated[float, Field(gt=0)] = Field(3600.0, description="Time the escalation team has before the default action.")


class ToolCallMatchConfig(_Section):
    """A tool call the model asked for: its name (glob) and conditions over its arguments (all must hold)."""

    name: str = Field(description="Tool (function) name, a glob pattern: issue_refund, payments.*.")
    when: list[str] = Field(default_factory=list, description="Conditions over the arguments: ['$.amount > 500'].")


class MatchConfig(_Section):
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
    output_regex: str | None = Field(None, description="A regular expression found in the answer's text.")
    output_json: list[str] | None = Field(
        None, description="Conditions over the answer parsed as JSON, all must hold: ['$.amount > 500']."
    )
    tool_calls: list[ToolCallMatchConfig] | None = Field(
        None, description="Any of these tool calls in the answer (name, and conditions over its arguments)."
    )

    @field_validator("output_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"output_regex does not compile: {exc}") from None
        return value

    @property
    def on_output(self) -> bool:
        """Whether the policy looks at the answer (decided only once the model has answered)."""
        return self.output_regex is not None or self.output_json is not None or self.tool_calls is not None


class ReviewWebhookConfig(_Section):
    url: str
    secret: SecretStr = Field(description="Standard Webhooks signing secret (whsec_…), as ${VAR}.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class PolicyConfig(_Section):
    match: MatchConfig = Field(default_factory=MatchConfig)
    action: ReviewAction = Field("hold", description="hold: released after a decision; audit: released now, reviewed later.")
    sla_s: Annotated[float, Field(gt=0)] = Field(3600.0, description="Time to a decision before escalation or the default action.")
    reviewers: ReviewerConfig = Field(default_factory=ReviewerConfig)
    escalation: EscalationConfig | None = Field(None, description="Who gets the item when the SLA passes; unset: the default action.")
    default_action: DefaultAction = Field("reject", description="What happens when nobody decided in time (fail closed).")
    webhook: ReviewWebhookConfig | None = Field(None, description="Signed webhook on every decision of this policy.")


class ReviewConfig(_Section):
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
    webhook_max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0

    @model_validator(mode="after")
    def _caller_webhooks_signed(self) -> ReviewConfig:
        if self.caller_webhook_urls and self.webhook_secret is None:
            raise ValueError("caller_webhook_urls needs webhook_secret: every review webhook is signed")
        return self
