"""Roles and the permissions they grant.

Which permission each HTTP route needs is declared with the route itself, in the one
route table (``headway.api.route_table``): an endpoint cannot be declared without one, and
an unknown permission name is refused when the table is built. ``docs/security.md``
renders the same tables for people (checked by tests).
"""

from __future__ import annotations

from collections.abc import Mapping

PUBLIC = "public"  # no credential needed
UNMAPPED = "unmapped"  # held by admins only: anything not classified (the gate checks who holds it)
AUTHENTICATED = "authenticated"  # any authenticated principal, whatever its roles

# Every permission a role or key scope can name.
PERMISSIONS: Mapping[str, str] = {
    "inference": "call /v1/* (chat, embeddings, models, retrieval) within the model/collection allow-lists",
    "requests:read": "read the request log",
    "keys:read": "list and inspect API keys (never the secrets)",
    "keys:write": "create, rotate and revoke API keys",
    "audit:read": "read and verify the audit trail",
    "records:erase": "erase a data subject's stored records",
    "reviews:read": "read the review queue",
    "reviews:decide": "approve, edit or reject review items",
    "pipelines:read": "read pipelines, runs and data-quality results",
    "pipelines:write": "run and change pipelines and collections",
    "observe:read": "scrape metrics; read cost reports, alerts and feedback",
    "operations": "reload config, run the readiness gate and load tests",
}

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS) | {UNMAPPED},
    "operator": frozenset(
        {
            "inference", "requests:read", "keys:read", "audit:read", "reviews:read",
            "pipelines:read", "pipelines:write", "observe:read", "operations",
        }
    ),
    "developer": frozenset({"inference", "requests:read", "pipelines:read", "observe:read"}),
    "reviewer": frozenset({"reviews:read", "reviews:decide"}),
    "app": frozenset({"inference"}),
}


def permissions_for(roles: frozenset[str]) -> frozenset[str]:
    granted: set[str] = {AUTHENTICATED}
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)
