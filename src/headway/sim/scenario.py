"""The scenario: every dial of the simulator, as one typed, validated document.

A scenario sets global dials (latency, time to first token, inter-token delay, output
length, fault rates) and may override any of them per model under ``models:``. A
per-model entry only overrides the fields it names; everything else is inherited from
the top level (pydantic's ``model_fields_set`` tells which fields were written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from headway.errors import ConfigError

FaultKind = Literal[
    "429",
    "500",
    "503",
    "hang",
    "reset",
    "malformed",
    "cut",
    "bad_tool_json",
    "bad_json_schema",
    "slow_first_token",
]

FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)  # the same names, in order, for checks and messages


class _Strict(BaseModel):
    # A misspelt dial must fail loudly instead of silently doing nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Uniform(_Strict):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class LogNormal(_Strict):
    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class Normal(_Strict):
    dist: Literal["normal"]
    mean: float = Field(ge=0)
    stddev: float = Field(ge=0)


Distribution = Annotated[Uniform | LogNormal | Normal, Field(discriminator="dist")]
# Milliseconds: a fixed number or a distribution drawn per request (negative draws clamp to 0).
Delay = Annotated[float, Field(ge=0)] | Distribution


class FaultSettings(_Strict):
    """Fault rates and the parameters of the faults themselves."""

    # Probability per request of each fault kind; the sum must not exceed 1.
    rates: dict[FaultKind, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    retry_after_s: float = Field(default=1.0, ge=0)  # Retry-After sent with a 429
    hang_max_s: float = Field(
        default=300.0, gt=0
    )  # a hung request is dropped after this, so stop stays clean
    cut_after_chunks: int = Field(default=2, ge=0)  # content chunks sent before a stream is cut
    slow_first_token_ms: float = Field(default=2000.0, ge=0)  # time to first token under slow_first_token

    @model_validator(mode="after")
    def _rates_sum(self) -> FaultSettings:
        total = sum(self.rates.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {total:g}; they must not exceed 1")
        return self


class Dials(_Strict):
    """The per-request behaviour; set globally on the scenario and overridable per model."""

    latency_ms: Delay = 0.0  # before the response head
    ttft_ms: Delay = 0.0  # before the first content token
    itl_ms: Delay = 0.0  # between content tokens
    output_tokens: int = Field(default=16, ge=1)  # natural length of generated text; max_tokens cuts it
    faults: FaultSettings = FaultSettings()  # frozen, so one shared default is safe


class CloudAuth(_Strict):
    """Credentials the simulated clouds accept; with none set, those dialects accept anyone."""

    # Azure / Entra ID: client id → client secret, for POST /{tenant}/oauth2/v2.0/token.
    oauth_clients: dict[str, str] = Field(default_factory=dict)
    # Google: service-account client_email → its public key (PEM), for POST /token (JWT bearer).
    service_accounts: dict[str, str] = Field(default_factory=dict)
    # AWS: access key id → secret access key; Bedrock requests must carry a valid SigV4 signature.
    aws_keys: dict[str, str] = Field(default_factory=dict)
    token_ttl_s: float = Field(default=3600.0, gt=0)  # lifetime of the access tokens issued


class Scenario(Dials):
    """Everything the simulator does. ``Scenario()`` is zero latency, no faults, seed 0."""

    seed: int = 0
    # When set, requests must carry this key (Authorization: Bearer or x-api-key) or get a 401.
    require_api_key: str | None = None
    cloud_auth: CloudAuth = CloudAuth()
    models: dict[str, Dials] = Field(default_factory=dict)
    # Listed by GET /v1/models besides the keys of ``models``; any model name is served.
    catalog: list[str] = Field(default_factory=lambda: ["sim-chat", "sim-embed"])
    embedding_dimensions: int = Field(default=384, ge=1, le=8192)
    request_log_size: int = Field(default=200, ge=0)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario from a YAML (or JSON) file; errors name the file and key path."""
        file = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read scenario: {exc.strerror or exc}", file=file) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file=file) from exc
        return cls.from_data(data or {}, file=file)

    @classmethod
    def from_data(cls, data: Any, *, file: str | None = None) -> Scenario:
        """Validate a parsed document (dict) into a scenario, raising ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError("a scenario must be a mapping", file=file)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(first["msg"], file=file, path=where or None) from exc

    def dials_for(self, model: str) -> Dials:
        """The dials for one model: its overrides on top of the global ones."""
        override = self.models.get(model)
        base = Dials(
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            itl_ms=self.itl_ms,
            output_tokens=self.output_tokens,
            faults=self.faults,
        )
        if override is None:
            return base
        update = {name: getattr(override, name) for name in override.model_fields_set}
        if "faults" in update:
            written = override.faults
            update["faults"] = self.faults.model_copy(
                update={name: getattr(written, name) for name in written.model_fields_set}
            )
        return base.model_copy(update=update)

    def model_names(self) -> list[str]:
        return list(dict.fromkeys([*self.catalog, *self.models]))
