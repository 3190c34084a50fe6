"""Organisation-specific checks a profile file may add, in four generic kinds.

```yaml
extra_checks:
  - {id: org.tracing-on, section: observability, title: Tracing is forced on,
     kind: config, key: observe.tracing.enabled, equals: "on"}
  - {id: org.traffic, section: observability, title: Chat traffic is counted,
     kind: metric, metric: headway_requests_total, labels: {model: chat}, min: 1}
  - {id: org.errors, section: reliability, title: Under 2% of requests fail,
     kind: request_ratio, match: {status: error}, max: 0.02}
  - {id: org.openapi, section: security, title: The OpenAPI document is public,
     kind: http, path: /openapi.json, status: 200, authenticated: false}
```
Each scores 1 when it holds and 0 when it does not; ``required`` defaults to true.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,99}$")]
_Section = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Base(_Model):
    id: _Id
    section: _Section
    title: Annotated[str, Field(min_length=1, max_length=200)]
    required: bool = True
    fix: str | None = Field(None, description="How to fix it when it fails.")


class ConfigCheckSpec(_Base):
    """A key of the config (dotted path, list items by index) is present, or equal to ``equals``."""

    kind: Literal["config"]
    key: Annotated[str, Field(min_length=1)]
    equals: Any = None


class _Threshold(_Base):
    min: float | None = None
    max: float | None = None

    def within(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class MetricCheckSpec(_Threshold):
    """The sum of a metric's samples (those carrying every label given) exists, within min/max."""

    kind: Literal["metric"]
    metric: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    labels: dict[str, str] = Field(default_factory=dict)


class RecordFilter(_Model):
    """Conditions on one request record; all that are given must hold. Globs for text."""

    status: str | None = Field(None, description="ok (2xx), error (not 2xx), or a status code.")
    model: str | None = None
    served_by: str | None = Field(None, description="e.g. 'fallback:*', 'retry', 'degraded'.")
    caller: str | None = None
    has_cost: bool | None = None


class RatioCheckSpec(_Threshold):
    """Of recent records matching ``of`` (default: all), the share that also match ``match``."""

    kind: Literal["request_ratio"]
    match: RecordFilter
    of: RecordFilter = Field(default_factory=RecordFilter)
    min_requests: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _bounded(self) -> RatioCheckSpec:
        if self.min is None and self.max is None:
            raise ValueError("a request_ratio check needs 'min' or 'max'")
        return self


class HttpCheckSpec(_Base):
    """An endpoint of the deployment answers with one of the expected statuses."""

    kind: Literal["http"]
    path: Annotated[str, Field(pattern=r"^/")]
    method: Literal["GET", "HEAD"] = "GET"
    status: int | list[int] = 200
    authenticated: bool = Field(True, description="Send the gate's key.")

    def statuses(self) -> list[int]:
        return [self.status] if isinstance(self.status, int) else list(self.status)


CustomCheckSpec = Annotated[
    ConfigCheckSpec | MetricCheckSpec | RatioCheckSpec | HttpCheckSpec, Field(discriminator="kind")
]
CUSTOM_KINDS: tuple[str, ...] = ("config", "metric", "request_ratio", "http")
