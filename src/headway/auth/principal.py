"""Who is calling: the principal, its effective permissions, allow-lists and placement.

A principal's effective rights are the *intersection* of every level that speaks: its
roles (capped by a key's scopes), its team's allow-lists, its own, and the key's. An
allow-list is therefore a conjunction of glob-pattern groups; a level that says nothing
adds no group. Placement (regions, data class) narrows the same way: regions intersect,
the data class takes the most sensitive one named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate

from headway.auth.permissions import permissions_for


@dataclass(frozen=True, slots=True)
class AllowList:
    """Names allowed by *every* group of glob patterns; no groups means everything is allowed."""

    groups: tuple[tuple[str, ...], ...] = ()
    _regexes: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, *groups: Sequence[str] | None) -> AllowList:
        kept = tuple(tuple(g) for g in groups if g is not None)
        regexes = tuple(re.compile("|".join(translate(p) for p in g) or r"(?!)") for g in kept)
        return cls(kept, regexes)

    @property
    def unrestricted(self) -> bool:
        return not self.groups

    def allows(self, name: str) -> bool:
        return all(regex.match(name) for regex in self._regexes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.allows(name)

    def filter(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.allows(n)]

    def narrowed(self, group: Sequence[str] | None) -> AllowList:
        return AllowList.of(*self.groups, group)

    def describe(self) -> str:
        return " and ".join("[" + ", ".join(g) + "]" for g in self.groups) or "everything"


EVERYTHING = AllowList()


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    kind: str  # "user" | "service" | "anonymous"
    team: str | None
    roles: frozenset[str]
    permissions: frozenset[str]
    models: AllowList = EVERYTHING
    routes: AllowList = EVERYTHING
    collections: AllowList = EVERYTHING
    data_class: str | None = None
    regions: frozenset[str] | None = None
    via: str = "key"  # "key" | "bootstrap" | "oidc" | "none"
    key_id: str | None = None

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def attributes(self) -> dict[str, object]:
        """What the request path reads (``CallContext.attributes``)."""
        return {
            "principal": self,
            "allowed_models": self.models,
            "allowed_routes": self.routes,
            "allowed_collections": self.collections,
            "data_class": self.data_class,
            "region": self.regions,
            "key_id": self.key_id,
            "via": self.via,
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """One level's say about a principal: allow-lists and placement (``None``: no say)."""

    models: Sequence[str] | None = None
    routes: Sequence[str] | None = None
    collections: Sequence[str] | None = None
    data_class: str | None = None
    regions: Sequence[str] | None = None


def strictest_class(classes: Sequence[str], named: Iterable[str | None]) -> str | None:
    """The most sensitive of the named classes, by position in the ordered ``classes``."""
    present = [c for c in named if c is not None]
    return max(present, key=classes.index) if present else None


def intersect_regions(named: Iterable[Sequence[str] | None]) -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for regions in named:
        if regions is None:
            continue
        result = frozenset(regions) if result is None else result & frozenset(regions)
    return result


def build_principal(
    *,
    name: str,
    kind: str,
    team: str | None,
    roles: Iterable[str],
    grants: Sequence[Grant],
    data_classes: Sequence[str],
    scopes: Iterable[str] | None = None,
    via: str = "key",
    key_id: str | None = None,
) -> Principal:
    role_set = frozenset(roles)
    permissions = permissions_for(role_set)
    if scopes is not None:
        # A scoped key keeps only the permissions it names (plus being authenticated).
        permissions = permissions & (frozenset(scopes) | {"authenticated"})
    return Principal(
        name=name,
        kind=kind,
        team=team,
        roles=role_set,
        permissions=permissions,
        models=AllowList.of(*(g.models for g in grants)),
        routes=AllowList.of(*(g.routes for g in grants)),
        collections=AllowList.of(*(g.collections for g in grants)),
        data_class=strictest_class(data_classes, (g.data_class for g in grants)),
        regions=intersect_regions(g.regions for g in grants),
        via=via,
        key_id=key_id,
    )


def anonymous(data_classes: Sequence[str]) -> Principal:
    """The principal of ``auth: {mode: none}``: every permission, no restriction."""
    return build_principal(
        name="anonymous", kind="anonymous", team=None, roles=("admin",), grants=(), data_classes=data_classes, via="none"
    )
