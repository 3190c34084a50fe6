"""The ``readiness:`` section: what the deployment declares it relies on, so the gate never infers it from absence.

A missing hold policy must not make review "not applicable": the routes that matter are
declared here, per route, with who owns them, where their data may go, what feeds them
and how their quality is evaluated. A section the deployment truly does not need is
waived by name, with a reason and an owner; the gate shows the waiver in every report
and never scores it as full marks. ``docs/readiness.md`` describes each key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from headway.config.section import Section

Name = Annotated[str, Field(min_length=1, max_length=200)]


class RouteReadiness(Section):
    """One route (a model name apps call) as the readiness gate judges it."""

    consequential: bool = Field(False, description="Answers act on people (credit, health, employment): a hold policy must cover the route.")
    owner: Name | None = Field(None, description="The team (auth.teams) accountable for this route.")
    on_call: str | None = Field(None, description="Where the on-call rota is paged: an http(s) receiver that acknowledges a signed test page.")
    runbook: str | None = Field(None, description="The runbook: a file path (relative to the config file) or an http(s) URL.")
    data_class: Name | None = Field(None, description="The most sensitive data class the route handles (auth.data_classes).")
    residency: Name | None = Field(None, description="The region the route's data must stay in (deployments' `region`, by prefix).")
    sources: list[Name] = Field(
        default_factory=list, description="Data sources feeding the route: pipeline names (pipelines.definitions) or readiness.sources names."
    )
    eval_set: str | None = Field(None, description="The evaluation set (JSONL) `headway eval` runs against this route.")


class ExternalSource(Section):
    """A source Headway does not run: its contract, and the profile `headway pipeline profile --json` wrote of it."""

    contract: str = Field(description="The source's contract (YAML, e.g. from `headway pipeline profile --contract`), relative to the config file.")
    profile: str = Field(description="The latest profile (`headway pipeline profile --json`), relative to the config file.")


class Waiver(Section):
    """A section or check the deployment does not need, said out loud."""

    check: Name = Field(description="A section (`pipelines`) or a check id (`review.sla`).")
    reason: Annotated[str, Field(min_length=10, max_length=2000)]
    owner: Name = Field(description="Who accepted the risk (a person or team).")


class ReadinessConfig(Section):
    routes: dict[str, RouteReadiness] = Field(default_factory=dict, description="Every route apps call, declared (model name -> readiness).")
    sources: dict[str, ExternalSource] = Field(default_factory=dict, description="Sources run outside Headway, with their contract and profile.")
    waivers: list[Waiver] = Field(default_factory=list)

    @field_validator("waivers")
    @classmethod
    def _one_per_check(cls, value: list[Waiver]) -> list[Waiver]:
        names = [w.check for w in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{dupes[0]!r} is waived twice")
        return value

    def consequential(self) -> list[str]:
        return [name for name, route in self.routes.items() if route.consequential]
