"""The ``guards:`` section: limits, PII redaction and prompt-injection heuristics on the request path."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from headway.config.section import Section

PiiKind = Literal["email", "phone", "payment_card", "us_ssn", "au_tfn", "uk_nino", "secret"]
PII_KINDS: tuple[PiiKind, ...] = get_args(PiiKind)


class LimitsConfig(Section):
    """Request size is ``server.max_body_bytes``; these bound what a request may ask of a model."""

    max_input_tokens: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Estimated prompt tokens (4 characters per token) above which a request is refused."
    )
    max_output_tokens: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Largest max_tokens / max_completion_tokens a request may ask for."
    )
    max_messages: Annotated[int, Field(ge=1)] | None = None


class PiiConfig(Section):
    enabled: bool = True
    kinds: list[PiiKind] = Field(default_factory=lambda: list(PII_KINDS))
    redact_upstream: bool = Field(
        False, description="Also redact prompts before they reach the model (stored records are always redacted)."
    )


class InjectionConfig(Section):
    enabled: bool = True
    action: Literal["flag", "block", "review"] = Field(
        "flag", description="flag: mark the record; block: refuse with 400; review: request human review."
    )
    roles: list[str] = Field(
        default_factory=lambda: ["user", "tool"], description="Message roles whose content is untrusted input."
    )


class GuardsConfig(Section):
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    injection: InjectionConfig = Field(default_factory=InjectionConfig)
