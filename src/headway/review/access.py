"""Who may see and decide a review item.

An item is assigned to a team (or to any team) and a set of roles. A reviewer sees it
when they hold ``reviews:read``, one of its roles, and (when it has one) its team; they
may decide it when they also hold ``reviews:decide``. Admins see and decide everything.
Items a reviewer may not see are answered as if they did not exist (404), so ids leak
nothing; items they see but may not decide are refused (403).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from headway.errors import PermissionDeniedError
from headway.review.items import ReviewItem

ADMIN = "admin"
READ = "reviews:read"
DECIDE = "reviews:decide"


@dataclass(frozen=True, slots=True)
class Reviewer:
    name: str
    team: str | None
    roles: frozenset[str]
    permissions: frozenset[str]

    @classmethod
    def of(cls, name: str, team: str | None, roles: Iterable[str], permissions: Iterable[str]) -> Reviewer:
        permissions = frozenset(permissions)
        if "*" in permissions:  # an open console session holds every permission
            permissions = permissions | {READ, DECIDE}
        return cls(name, team, frozenset(roles), permissions)

    @classmethod
    def from_principal(cls, principal: Any) -> Reviewer:
        """From the auth part's ``Principal`` (``request.state.principal``)."""
        return cls.of(principal.name, principal.team, principal.roles, principal.permissions)

    @classmethod
    def from_session(cls, session: Any) -> Reviewer:
        """From a console ``Session``."""
        return cls.of(session.name, session.team, session.roles, session.permissions)

    @classmethod
    def operator(cls, name: str) -> Reviewer:
        """Someone with direct access to the store (the CLI): an admin."""
        return cls(name, None, frozenset({ADMIN}), frozenset({READ, DECIDE}))

    @property
    def admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def may_read(self) -> bool:
        return self.admin or READ in self.permissions

    def assigned(self, team: str | None, roles: Iterable[str]) -> bool:
        roles = frozenset(roles)
        return (team is None or team == self.team) and (not roles or bool(roles & self.roles))

    def sees(self, item: ReviewItem) -> bool:
        return self.admin or (READ in self.permissions and self.assigned(item.team, item.roles))

    def may_decide(self, item: ReviewItem) -> bool:
        return self.admin or (DECIDE in self.permissions and self.assigned(item.team, item.roles))

    def check_decide(self, item: ReviewItem) -> None:
        if not self.may_decide(item):
            assigned = f"team {item.team}" if item.team else "any team"
            raise PermissionDeniedError(
                f"{self.name} may not decide review {item.review_id}: it is assigned to {assigned} "
                f"with roles {', '.join(item.roles) or 'any'}, and deciding needs the {DECIDE!r} permission.",
                code="review_not_assigned",
            )
