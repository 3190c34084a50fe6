"""What a new key may grant: validation shared by ``POST /admin/keys`` and ``headway keys create``.

- Roles, scopes and data classes must be ones Headway knows.
- A key for a principal named in the config stays inside that principal's team and roles.
- Nobody can mint a key with a role they do not hold themselves, unless they are admin.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headway.auth.key_store import KeySpec
from headway.auth.permissions import PERMISSIONS
from headway.auth.principal import Principal
from headway.config import ROLES, AuthConfig, Role
from headway.errors import InvalidRequestError, PermissionDeniedError

_Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9@._:+\-]+$")]


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    principal: _Name
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))]
    kind: Literal["user", "service"] = "service"
    team: _Name | None = None
    scopes: list[str] | None = Field(None, max_length=len(PERMISSIONS))
    models: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, max_length=200)
    routes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, max_length=200)
    collections: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, max_length=200)
    data_class: str | None = Field(None, max_length=64)
    regions: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=1000)
    expires_in_s: Annotated[float, Field(gt=0, le=10 * 366 * 86400)] | None = None
    expires_at: float | None = None


def parse_key_request(raw: object) -> KeyRequest:
    try:
        return KeyRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidRequestError(f"{param}: {message}" if param else message, param=param, code="invalid_value") from None


def key_spec(config: AuthConfig, request: KeyRequest, creator: Principal, *, now: float | None = None) -> KeySpec:
    now = time.time() if now is None else now
    unknown = sorted(set(request.scopes or ()) - set(PERMISSIONS))
    if unknown:
        raise InvalidRequestError(f"unknown scopes {unknown}; known: {', '.join(PERMISSIONS)}", param="scopes", code="invalid_value")
    if request.data_class is not None and request.data_class not in config.data_classes:
        raise InvalidRequestError(
            f"unknown data class {request.data_class!r}; known: {', '.join(config.data_classes)}", param="data_class", code="invalid_value"
        )
    team = request.team
    configured = config.principals.get(request.principal)
    if configured is not None:
        if team is not None and configured.team is not None and team != configured.team:
            raise InvalidRequestError(
                f"{request.principal} belongs to team {configured.team!r}, not {team!r}", param="team", code="invalid_value"
            )
        team = team or configured.team
        extra = sorted(set(request.roles) - set(configured.roles))
        if extra:
            raise InvalidRequestError(
                f"{request.principal} is configured with roles {configured.roles}; a key cannot add {extra}", param="roles", code="invalid_value"
            )
    if team is not None and config.teams and team not in config.teams:
        raise InvalidRequestError(f"unknown team {team!r}; known: {', '.join(config.teams)}", param="team", code="invalid_value")
    if "admin" not in creator.roles:
        escalated = sorted(set(request.roles) - creator.roles)
        if escalated:
            raise PermissionDeniedError(f"{creator.name} cannot grant roles it does not hold: {escalated}", param="roles", code="privilege_escalation")
    expires_at = request.expires_at
    if request.expires_in_s is not None:
        expires_at = now + request.expires_in_s
    if expires_at is not None and expires_at <= now:
        raise InvalidRequestError("expires_at is in the past", param="expires_at", code="invalid_value")
    return KeySpec(
        principal=request.principal,
        roles=tuple(dict.fromkeys(request.roles)),
        kind=request.kind,
        team=team,
        scopes=_tuple(request.scopes),
        models=_tuple(request.models),
        routes=_tuple(request.routes),
        collections=_tuple(request.collections),
        data_class=request.data_class,
        regions=_tuple(request.regions),
        description=request.description,
        expires_at=expires_at,
    )


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None
