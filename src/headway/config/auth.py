"""The ``auth:`` section: who may call Headway, as what, from where, with which data.

Secure by default: a config that does not mention ``auth`` at all does not load. The
operator either configures credentials (``mode: required``) or writes ``mode: none``
explicitly, which the readiness gate reports as a failure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator

from headway.config.section import Section

Role = Literal["admin", "operator", "developer", "reviewer", "app"]
ROLES: tuple[Role, ...] = get_args(Role)

# Least to most sensitive. A deployment approved for a class is approved for every class below it.
DEFAULT_DATA_CLASSES = ("public", "internal", "confidential", "restricted")

# Algorithms a JWT may be signed with. HMAC (HS*) is never accepted for OIDC: the verifying key
# would be public (the JWKS), so "HMAC signed with the public key" must be impossible by construction.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

_MISSING_AUTH_MESSAGE = (
    "this config has no `auth` section, and Headway refuses to start without authentication. "
    "Add `auth: {mode: required, bootstrap_admin_key: \"${HEADWAY_ADMIN_KEY}\"}` (API keys; "
    "add `oidc:` issuers for single sign-on), or write `auth: {mode: none}` to run open on purpose "
    "(the readiness gate fails that)"
)


class _NotWritten:
    """Marks an ``auth`` section the operator did not write (see ``auth_section_not_written``)."""


_NOT_WRITTEN = _NotWritten()


def auth_section_not_written() -> Any:
    """Default for ``HeadwayConfig.auth``: validated, and refused, so the omission is an error."""
    return _NOT_WRITTEN


class AccessLists(Section):
    """Allow-lists; ``None`` means no restriction at this level. Entries are glob patterns (``gpt-*``)."""

    models: list[str] | None = Field(None, description="Model (route) names this holder may call.")
    routes: list[str] | None = Field(None, description="HTTP paths this holder may call, e.g. /v1/chat/*.")
    collections: list[str] | None = Field(None, description="Retrieval collections this holder may read.")


class Placement(Section):
    """Where data may go and how sensitive it is; requests may narrow this, never widen it."""

    data_class: str | None = Field(None, description="Data class of everything this holder sends.")
    regions: list[str] | None = Field(None, description="Regions the holder's data may be processed in.")


class TeamConfig(AccessLists, Placement):
    description: str | None = None


class PrincipalConfig(AccessLists, Placement):
    """A user or service account known by name; keys issued to it inherit these settings."""

    kind: Literal["user", "service"] = "user"
    team: str | None = None
    roles: Annotated[list[Role], Field(min_length=1)]


class OidcIssuerConfig(Section):
    issuer: str = Field(description="Exact `iss` claim value.")
    audience: str | list[str] = Field(description="Accepted `aud` value(s).")
    jwks_url: str | None = Field(None, description="JWKS URL; default: discovered from the issuer's metadata.")
    algorithms: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["RS256"])
    subject_claim: str = "sub"
    roles_claim: str = "roles"
    groups_claim: str = "groups"
    team_claim: str | None = Field(None, description="Claim holding the team name directly.")
    role_map: dict[str, Role] = Field(default_factory=dict, description="Claim value (role or group) -> Headway role.")
    team_map: dict[str, str] = Field(default_factory=dict, description="Group -> Headway team.")
    default_roles: list[Role] = Field(default_factory=list)
    default_team: str | None = None
    leeway_s: Annotated[float, Field(ge=0, le=300)] = 30.0
    jwks_cache_s: Annotated[float, Field(gt=0)] = 300.0
    jwks_min_refresh_s: Annotated[float, Field(ge=0)] = Field(
        10.0, description="An unknown `kid` triggers at most one JWKS refresh per this interval."
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"algorithms {refused} are refused: only asymmetric algorithms "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}) can be verified with a public JWKS"
            )
        return value

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL")
        return value


class AuditConfig(Section):
    chain_secret: SecretStr | None = Field(
        None, description="HMAC key for the audit hash chain; without it anyone with write access could re-chain."
    )
    buffer_size: Annotated[int, Field(ge=100)] = 10_000
    flush_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = 200


class AuthConfig(Section):
    mode: Literal["none", "required"] = "required"
    bootstrap_admin_key: SecretStr | None = Field(
        None, description='Admin key from the environment ("${HEADWAY_ADMIN_KEY}"), to create the first real keys.'
    )
    key_cache_ttl_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        30.0, description="How long a verified key stays trusted in memory without another look at the store."
    )
    store_outage_grace_s: Annotated[float, Field(ge=0, le=7 * 86400)] = Field(
        3600.0,
        description="While the store is unreachable, a key this replica verified within this many seconds keeps "
        "working (never past its own expiry; revocations made during the outage apply once the store is back). "
        "0: every key needs the store once its cache entry lapses.",
    )
    revocation_poll_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        5.0, description="How often each replica looks for keys revoked elsewhere."
    )
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    principals: dict[str, PrincipalConfig] = Field(default_factory=dict)
    oidc: list[OidcIssuerConfig] = Field(default_factory=list)
    data_classes: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: list(DEFAULT_DATA_CLASSES))
    audit: AuditConfig = Field(default_factory=AuditConfig)

    @model_validator(mode="before")
    @classmethod
    def _written(cls, data: Any) -> Any:
        if data is _NOT_WRITTEN:
            raise ValueError(_MISSING_AUTH_MESSAGE)
        return data

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("must be at least 24 characters (generate one: `openssl rand -base64 32`)")
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> AuthConfig:
        classes = set(self.data_classes)
        if len(classes) != len(self.data_classes):
            raise ValueError("data_classes must not repeat a class")
        holders: list[tuple[str, Placement]] = [
            *((f"teams.{n}", t) for n, t in self.teams.items()),
            *((f"principals.{n}", p) for n, p in self.principals.items()),
        ]
        for where, holder in holders:
            if holder.data_class is not None and holder.data_class not in classes:
                raise ValueError(f"{where}.data_class: unknown class {holder.data_class!r} (known: {', '.join(self.data_classes)})")
        for name, principal in self.principals.items():
            if principal.team is not None and self.teams and principal.team not in self.teams:
                raise ValueError(f"principals.{name}.team: unknown team {principal.team!r}")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode != "none"
