"""Typed configuration: the one YAML file operators write.

Every part adds its section here so the schema stays one coherent, documented whole
(``headway config schema`` prints it). Secrets are never literals in the file: they are
``${VAR}`` references resolved by ``loader.py``, and fields holding them are ``SecretStr``
so they never print.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from headway.config.auth import AuthConfig, auth_section_not_written
from headway.config.guards import GuardsConfig
from headway.config.idempotency import IdempotencyConfig
from headway.config.jobs import JobsConfig
from headway.config.observe import ObserveConfig
from headway.config.pipelines import PipelinesConfig
from headway.config.readiness import ReadinessConfig
from headway.config.resilience import CacheConfig, ModelResilience, check_resilience_references
from headway.config.retrieval import ModelRetrievalConfig, RetrievalConfig
from headway.config.review import ReviewConfig, check_review_references
from headway.config.scale import AdmissionConfig, RedisSetting
from headway.config.section import Section
from headway.config.webhooks import WebhooksConfig


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    max_body_bytes: Annotated[int, Field(ge=1024, description="Largest accepted request body.")] = 10 * 1024 * 1024
    public_url: str | None = Field(None, description="URL clients use to reach Headway; used in status links.")
    drain_timeout_s: Annotated[float, Field(ge=0, le=3600, description=(
        "On SIGTERM (and after a config reload, for the old runtime): how long in-flight calls may run on; "
        "callers still waiting then get a JSON 503 with Retry-After."))] = 30.0
    drain_notice_s: Annotated[float, Field(ge=0, le=300, description=(
        "On SIGTERM: how long /readyz says not-ready while connections are still accepted, "
        "so load balancers' health checks see it before the listener closes."))] = 0.0
    # Connection-level protection (docs/resilience.md): slow or oversized clients cannot hold
    # file descriptors or memory; each refusal is a 4xx/503 in the OpenAI error shape.
    max_header_bytes: Annotated[int, Field(ge=1024, description="Request line and headers; larger is 431.")] = 64 * 1024
    header_timeout_s: Annotated[float, Field(gt=0, description="Connect to end of headers; slower is 408.")] = 10.0
    body_timeout_s: Annotated[float, Field(gt=0, description="End of headers to end of body; slower is 408.")] = 60.0
    keep_alive_timeout_s: Annotated[float, Field(gt=0, description="Idle time between requests on a connection.")] = 5.0
    max_connections: Annotated[int, Field(ge=1, description="Open connections per process; more get 503.")] = 4096


class EntraConfig(Section):
    """Azure: Microsoft Entra ID client-credential tokens instead of an ``api-key``."""

    tenant_id: str
    client_id: str
    client_secret: SecretStr = Field(description="As ${VAR}.")
    token_url: str | None = Field(
        None, description="Default https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token."
    )
    scope: str = "https://cognitiveservices.azure.com/.default"


ProviderType = Literal["openai", "anthropic", "azure", "bedrock", "gemini", "vertex"]


class ProviderConfig(Section):
    type: ProviderType
    base_url: str = Field(description="Optional for bedrock, gemini and vertex (their public endpoints).")
    api_key: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    api_version: str | None = Field(
        None, description="Anthropic: the anthropic-version header. Azure: api-version (unset: the v1 API)."
    )
    entra: EntraConfig | None = Field(None, description="Azure: Entra ID tokens instead of api_key.")
    region: str | None = Field(None, description="Bedrock: AWS region. Vertex: location (e.g. us-east5, global).")
    aws_profile: str | None = Field(None, description="Bedrock: profile in ~/.aws files (else AWS_PROFILE, default).")
    project: str | None = Field(None, description="Vertex: Google Cloud project id.")
    credentials_file: str | None = Field(
        None, description="Vertex: service-account key file (else GOOGLE_APPLICATION_CREDENTIALS)."
    )
    token_url: str | None = Field(None, description="Vertex: OAuth token endpoint (default: the key file's token_uri).")
    max_event_bytes: Annotated[int, Field(ge=1024, description="Largest stream line or event accepted.")] = 1 << 20
    responses: Literal["native", "translate"] = Field(
        "translate",
        description="openai: how /v1/responses reaches this provider: native (its own /v1/responses) or translate "
        "(onto /v1/chat/completions, which every OpenAI-compatible server has).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("base_url"):
            return data
        region = data.get("region")
        kind = data.get("type")
        if kind in ("bedrock", "vertex") and not region:
            raise ValueError(f"{kind}: region is required")
        if kind == "bedrock" and region:
            return {**data, "base_url": f"https://bedrock-runtime.{region}.amazonaws.com"}
        if kind == "gemini":
            return {**data, "base_url": "https://generativelanguage.googleapis.com"}
        if kind == "vertex" and region:
            host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
            return {**data, "base_url": f"https://{host}"}
        return data

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> ProviderConfig:
        if self.type == "azure" and (self.api_key is None) == (self.entra is None):
            raise ValueError("azure: set exactly one of api_key and entra")
        if self.type == "bedrock" and not self.region:
            raise ValueError("bedrock: region is required (it is part of the request signature)")
        if self.type == "gemini" and self.api_key is None:
            raise ValueError("gemini: api_key is required")
        if self.type == "vertex" and not (self.project and self.region):
            raise ValueError("vertex: project and region are required")
        if self.entra is not None and self.type != "azure":
            raise ValueError("entra: only for type azure")
        if self.responses == "native" and self.type != "openai":
            raise ValueError("responses: native is only for type openai (other types are translated)")
        return self


class TimeoutConfig(Section):
    """Seconds. ``first_token`` bounds the wait for the response head or first stream chunk."""

    connect: Annotated[float, Field(gt=0)] | None = 5.0
    first_token: Annotated[float, Field(gt=0)] | None = 30.0
    idle: Annotated[float, Field(gt=0)] | None = 30.0
    total: Annotated[float, Field(gt=0)] | None = 120.0


class DeploymentConfig(Section):
    provider: str
    model: str
    weight: Annotated[float, Field(gt=0)] = 1.0
    timeouts: TimeoutConfig | None = None
    region: str | None = Field(None, description="Where this deployment processes data (residency), e.g. au-east.")
    data_classes: list[str] | None = Field(None, description="Data classes this deployment is approved for.")


class PriceConfig(Section):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)] | None = None
    reasoning: Annotated[float, Field(ge=0)] | None = None


class ModelConfig(ModelResilience):
    kind: Literal["chat", "embeddings"] = "chat"
    deployments: Annotated[list[DeploymentConfig], Field(min_length=1)]
    price: PriceConfig | None = None
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    description: str | None = None
    retrieval: ModelRetrievalConfig | None = Field(None, description="RAG: collections every request is augmented from.")
    tags: list[str] = Field(
        default_factory=list,
        description="Labels of this route; 'consequential' makes the readiness gate require a review hold policy for it.",
    )


class RequestLogConfig(Section):
    buffer_size: Annotated[int, Field(ge=10)] = 50_000
    flush_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = 200
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    drain_at: Annotated[int, Field(ge=1, le=10_000)] = Field(
        64,
        description="Records waiting that start a write before flush_interval_ms: small, frequent writes keep "
        "the writer's share of the serving process in short slices, so no flush shows in the latency tail.",
    )
    spill_dir: str = ".headway/spill"


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class HeadwayConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    store: str = "sqlite:///./headway.db"
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    request_log: RequestLogConfig = Field(default_factory=RequestLogConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    auth: AuthConfig = Field(default_factory=auth_section_not_written, validate_default=True)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    observe: ObserveConfig = Field(default_factory=ObserveConfig)
    pipelines: PipelinesConfig = Field(default_factory=PipelinesConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    redis: RedisSetting = None
    admission: AdmissionConfig = Field(default_factory=AdmissionConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    idempotency: IdempotencyConfig = Field(default_factory=IdempotencyConfig)  # Idempotency-Key TTL and lease
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)  # the outbox's retries (every webhook)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> HeadwayConfig:
        for model_name, model in self.models.items():
            for index, deployment in enumerate(model.deployments):
                if deployment.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none defined"
                    raise ValueError(
                        f"models.{model_name}.deployments.{index}.provider: unknown provider "
                        f"{deployment.provider!r} (known: {known})"
                    )
        check_resilience_references(self)
        check_review_references(self.review.policies, self.models)
        unknown_routes = sorted(set(self.readiness.routes) - set(self.models))
        if unknown_routes:
            raise ValueError(f"readiness.routes.{unknown_routes[0]}: no such model (known: {', '.join(sorted(self.models)) or 'none'})")
        return self
