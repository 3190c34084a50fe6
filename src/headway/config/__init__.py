"""Typed configuration for Headway: one YAML file, secrets from the environment."""

from headway.config.auth import ROLES, AuthConfig, OidcIssuerConfig, Role
from headway.config.fingerprint import changed, config_fingerprint, leaves
from headway.config.guards import PII_KINDS, GuardsConfig, LimitsConfig
from headway.config.idempotency import IdempotencyConfig
from headway.config.jobs import BatchConfig, JobsConfig
from headway.config.loader import literal_secrets, load_config, parse_config
from headway.config.models import (
    HeadwayConfig,
    LoggingConfig,
    ModelConfig,
    ProviderConfig,
    ServerConfig,
    TimeoutConfig,
)
from headway.config.observe import AlertRuleConfig, RetentionConfig, TracingConfig
from headway.config.pipelines import (
    CheckConfig,
    CsvSource,
    DataContractConfig,
    FieldRule,
    FolderSource,
    IndexConfig,
    JsonlSource,
    KeySpec,
    PipelineConfig,
    PipelinesConfig,
    SafetyConfig,
    ScheduleConfig,
    SourceConfig,
    SqlSource,
)
from headway.config.readiness import RouteReadiness
from headway.config.resilience import (
    FALLBACK_CAUSES,
    Balancing,
    BreakerConfig,
    CacheConfig,
    FallbackCause,
    OutputContractConfig,
    RetryConfig,
)
from headway.config.retrieval import RetrievalConfig
from headway.config.review import ClassifierConfig, MatchConfig, PolicyConfig, ReviewConfig, ReviewerConfig
from headway.config.scale import (
    EVERYONE,
    AdmissionConfig,
    BudgetConfig,
    BudgetPeriod,
    RateLimitConfig,
    RedisConfig,
)
from headway.config.webhooks import RetrySchedule, WebhooksConfig

__all__ = [
    "EVERYONE",
    "FALLBACK_CAUSES",
    "PII_KINDS",
    "ROLES",
    "AdmissionConfig",
    "AlertRuleConfig",
    "AuthConfig",
    "Balancing",
    "BatchConfig",
    "BreakerConfig",
    "BudgetConfig",
    "BudgetPeriod",
    "CacheConfig",
    "CheckConfig",
    "ClassifierConfig",
    "CsvSource",
    "DataContractConfig",
    "FallbackCause",
    "FieldRule",
    "FolderSource",
    "GuardsConfig",
    "HeadwayConfig",
    "IdempotencyConfig",
    "IndexConfig",
    "JobsConfig",
    "JsonlSource",
    "KeySpec",
    "LimitsConfig",
    "LoggingConfig",
    "MatchConfig",
    "ModelConfig",
    "OidcIssuerConfig",
    "OutputContractConfig",
    "PipelineConfig",
    "PipelinesConfig",
    "PolicyConfig",
    "ProviderConfig",
    "RateLimitConfig",
    "RedisConfig",
    "RetentionConfig",
    "RetrievalConfig",
    "RetryConfig",
    "RetrySchedule",
    "ReviewConfig",
    "ReviewerConfig",
    "Role",
    "RouteReadiness",
    "SafetyConfig",
    "ScheduleConfig",
    "ServerConfig",
    "SourceConfig",
    "SqlSource",
    "TimeoutConfig",
    "TracingConfig",
    "WebhooksConfig",
    "changed",
    "config_fingerprint",
    "leaves",
    "literal_secrets",
    "load_config",
    "parse_config",
]
