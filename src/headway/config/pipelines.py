"""The ``pipelines:`` section: sources, data contracts, checks, indexing, schedule, alerts.

A pipeline reads one source, holds it to a contract, runs quality checks and (when it
has an ``index``) publishes the accepted records into a retrieval collection. Each
pipeline is independent; ``alerts`` and ``scheduler`` are shared by all of them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from headway.config.section import Regex, Section

FieldType = Literal["string", "integer", "number", "boolean", "datetime"]
Policy = Literal["evolve", "quarantine", "fail"]
Level = Literal["warn", "fail"]
KeySpec = str | list[str]

# The markers pandas reads as missing by default: a profile and a CSV source agree with it.
DEFAULT_MISSING_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


class FolderSource(Section):
    type: Literal["folder"]
    path: str
    include: list[str] = Field(
        default_factory=lambda: ["**/*.md", "**/*.txt", "**/*.html", "**/*.htm", "**/*.pdf"]
    )


class CsvSource(Section):
    type: Literal["csv"]
    path: str
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    key: KeySpec | None = Field(
        None,
        description="Column (or columns) identifying a record; default: the row's content hash, "
        "which a run never uses to delete.",
    )
    missing_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING_VALUES),
        description="Cell values read as missing (compared after trimming spaces).",
    )


class JsonlSource(Section):
    type: Literal["jsonl"]
    path: str
    key: KeySpec | None = Field(
        None, description="Field identifying a record; default: the record's content hash."
    )


class SqlSource(Section):
    type: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; put credentials in ${VAR}.")
    query: str = Field(description="A SELECT; its columns are the record's fields.")
    key: str = Field(description="Column identifying a record; needed to propagate deletions.")
    cursor: str | None = Field(
        None,
        description="Monotonic column (updated_at, id): later runs read only rows past the last value seen.",
    )


SourceConfig = Annotated[FolderSource | CsvSource | JsonlSource | SqlSource, Field(discriminator="type")]


class FieldRule(Section):
    type: FieldType = "string"
    required: bool = False
    unique: bool = False
    min: float | str | None = Field(
        None, description="Lower bound: a number, or an ISO date for datetime fields."
    )
    max: float | str | None = None
    pattern: Regex | None = Field(None, description="Regular expression the whole value must match.")
    allowed: list[str | int | float | bool] | None = None


class SchemaPolicy(Section):
    """What a run does when the source's columns differ from the accepted schema."""

    new_column: Policy = "evolve"
    removed_column: Policy = "quarantine"
    type_change: Policy = "quarantine"


class DataContractConfig(Section):
    """A pipeline's data contract (``contract:``): the rule per field, and what a schema change does."""

    fields: dict[str, FieldRule] = Field(default_factory=dict)
    on_schema_change: SchemaPolicy = Field(default_factory=SchemaPolicy)


class CheckConfig(Section):
    """One quality check; ``warn``/``fail`` are thresholds in the check's own unit.

    completeness, uniqueness, validity: the ratio of good values (0–1); below a threshold trips it.
    freshness: age in seconds of the newest value of ``field``; above a threshold trips it.
    volume: relative deviation of rows read from the median of the last ``window`` runs.
    """

    check: Literal["completeness", "uniqueness", "validity", "freshness", "volume"]
    field: str | None = None
    warn: float | None = None
    fail: float | None = None
    window: Annotated[int, Field(ge=2, le=100)] = 5

    @model_validator(mode="after")
    def _needs_field(self) -> CheckConfig:
        if self.check in ("completeness", "uniqueness", "freshness") and not self.field:
            raise ValueError(f"a {self.check} check needs 'field'")
        if self.warn is None and self.fail is None:
            raise ValueError("give at least one of 'warn' or 'fail'")
        return self


class IndexConfig(Section):
    collection: str | None = Field(
        None, description="Collection to publish into; default: the pipeline's name."
    )
    embeddings: str | None = Field(
        "local:all-minilm-l6-v2",
        description="A local model run in process: 'local:all-minilm-l6-v2' (the default) or "
        "'local:all-mpnet-base-v2' (better ranking at ~13x the CPU; its weights: retrieval/data/mpnet-weights.txt); or a configured "
        "model of kind 'embeddings'; null: lexical index only.",
    )
    mode: Literal["lexical", "vector", "hybrid"] | None = Field(
        None, description="How queries of this collection rank by default (retrieval.mode when unset)."
    )
    dimensions: Annotated[int, Field(ge=8, le=8192)] | None = None
    chunk_chars: Annotated[int, Field(ge=100, le=20_000)] = Field(
        1500,
        description="Chunk size in characters; 1500 chosen on the bundled retrieval questions (docs/benchmarks.md).",
    )
    overlap_chars: Annotated[int, Field(ge=0, le=5000)] = 150
    text_fields: list[str] = Field(
        default_factory=list, description="Tabular sources: fields forming the text."
    )
    title_field: str | None = None
    metadata_fields: list[str] = Field(default_factory=list, description="Fields kept for retrieval filters.")
    batch_size: Annotated[int, Field(ge=1, le=2048)] = 64

    @model_validator(mode="after")
    def _overlap_fits(self) -> IndexConfig:
        if self.overlap_chars >= self.chunk_chars:
            raise ValueError("overlap_chars must be smaller than chunk_chars")
        return self


class ScheduleConfig(Section):
    every_s: Annotated[float, Field(ge=1)] | None = Field(None, description="Interval cadence in seconds.")
    cron: str | None = Field(None, description="Cron cadence, e.g. '*/15 * * * *' (UTC).")

    @model_validator(mode="after")
    def _one_cadence(self) -> ScheduleConfig:
        if (self.every_s is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every_s' or 'cron'")
        if self.cron is not None:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"not a valid cron expression: {self.cron!r}")
        return self


class RetryConfig(Section):
    attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_s: Annotated[float, Field(ge=0)] = 30.0


class SafetyConfig(Section):
    """Limits past which a run is ``degraded`` and publishes nothing: the last good index keeps serving."""

    max_loss_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.2,
        description="Largest share of the accepted records one run may delete or set aside; 1: no limit.",
    )
    max_quarantine_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.2, description="Largest share of the rows read one run may quarantine; 1: no limit."
    )
    small_change: Annotated[int, Field(ge=0)] = Field(
        5, description="Losing or quarantining at most this many records never trips a share limit."
    )


class PipelineConfig(Section):
    source: SourceConfig
    contract: DataContractConfig = Field(default_factory=DataContractConfig)
    checks: list[CheckConfig] = Field(default_factory=list)
    index: IndexConfig | None = None
    schedule: ScheduleConfig | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    description: str | None = None


class AlertsConfig(Section):
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC key (${VAR}); 'whsec_' + base64 or plain text."
    )
    timeout_s: Annotated[float, Field(gt=0)] = 5.0

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class SchedulerConfig(Section):
    enabled: bool = True
    poll_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    workers: Annotated[int, Field(ge=0, le=16)] = Field(
        1, description="Job workers in this process; 0: none."
    )
    lease_s: Annotated[float, Field(ge=5)] = 120.0


class PipelinesConfig(Section):
    definitions: dict[str, PipelineConfig] = Field(default_factory=dict)
    alerts: AlertsConfig = Field(default_factory=lambda: AlertsConfig.model_validate({}))
    scheduler: SchedulerConfig = Field(default_factory=lambda: SchedulerConfig.model_validate({}))

    def collection_of(self, name: str) -> str | None:
        index = self.definitions[name].index
        return None if index is None else index.collection or name
