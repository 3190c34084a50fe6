"""Roles, permissions, and the permission every HTTP route requires.

The route map is explicit and keyed by ``(METHOD, path template)`` exactly as the route
table (``headway.api.app.routes()``) declares it. A route missing from the map is
reachable by admins only, and the permission-matrix test fails until it gets an entry,
so a new endpoint can neither escape access control nor silently default to open.
``docs/security.md`` renders the same tables for people.
"""

from __future__ import annotations

from collections.abc import Mapping

PUBLIC = "public"  # no credential needed
UNMAPPED = "unmapped"  # a route nobody classified: admins only
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

ROUTE_PERMISSIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): "inference",
    ("POST", "/v1/embeddings"): "inference",
    ("GET", "/v1/models"): "inference",
    ("GET", "/v1/models/{model:path}"): "inference",
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/admin/requests"): "requests:read",
    ("GET", "/admin/requests/{request_id}"): "requests:read",
    ("GET", "/admin/keys"): "keys:read",
    ("POST", "/admin/keys"): "keys:write",
    ("GET", "/admin/keys/{key_id}"): "keys:read",
    ("POST", "/admin/keys/{key_id}/rotate"): "keys:write",
    ("DELETE", "/admin/keys/{key_id}"): "keys:write",
    ("GET", "/admin/audit"): "audit:read",
    ("GET", "/admin/audit/verify"): "audit:read",
    ("POST", "/admin/records/erase"): "records:erase",
    ("GET", "/admin/whoami"): AUTHENTICATED,
    ("POST", "/v1/retrieve"): "inference",
    ("GET", "/admin/collections"): "pipelines:read",
    ("GET", "/admin/pipelines"): "pipelines:read",
    ("GET", "/admin/pipelines/{name}/runs"): "pipelines:read",
    ("POST", "/admin/pipelines/{name}/runs"): "pipelines:write",
    ("GET", "/admin/pipelines/{name}/quarantine"): "pipelines:read",
    ("GET", "/metrics"): "observe:read",
    ("POST", "/v1/feedback"): "inference",
    ("GET", "/admin/feedback"): "observe:read",
    ("GET", "/admin/feedback/export"): "observe:read",
    ("GET", "/admin/cost"): "observe:read",
    ("GET", "/admin/alerts"): "observe:read",
    ("GET", "/admin/deployments"): "observe:read",
    # Background jobs, files and batches are /v1 calls; their handlers scope them to the owner.
    ("GET", "/v1/jobs"): "inference",
    ("GET", "/v1/jobs/{job_id}"): "inference",
    ("POST", "/v1/jobs/{job_id}/cancel"): "inference",
    ("POST", "/v1/files"): "inference",
    ("GET", "/v1/files"): "inference",
    ("GET", "/v1/files/{file_id}"): "inference",
    ("DELETE", "/v1/files/{file_id}"): "inference",
    ("GET", "/v1/files/{file_id}/content"): "inference",
    ("POST", "/v1/batches"): "inference",
    ("GET", "/v1/batches"): "inference",
    ("GET", "/v1/batches/{batch_id}"): "inference",
    ("POST", "/v1/batches/{batch_id}/cancel"): "inference",
    # Human review: the queue for reviewers; a held answer's status for the caller who asked.
    ("GET", "/admin/reviews"): "reviews:read",
    ("GET", "/admin/reviews/{review_id}"): "reviews:read",
    ("POST", "/admin/reviews/{review_id}/claim"): "reviews:decide",
    ("POST", "/admin/reviews/{review_id}/release"): "reviews:decide",
    ("POST", "/admin/reviews/{review_id}/decide"): "reviews:decide",
    ("GET", "/v1/reviews/{review_id}"): "inference",
    # The readiness gate: operators run it before go-live (`headway gate` posts here).
    ("GET", "/admin/gate/facts"): "operations",
    ("GET", "/admin/gate/reports"): "operations",
    ("POST", "/admin/gate/reports"): "operations",
    ("GET", "/admin/gate/reports/{report_id}"): "operations",
    ("GET", "/admin/gate/drills"): "operations",
    ("POST", "/admin/gate/drills"): "operations",
    # The console signs its visitors in itself (an API key through this part's authenticator,
    # then a signed session cookie) and checks each page's permission; no bearer header here.
    ("*", "/console"): PUBLIC,
}


def permissions_for(roles: frozenset[str]) -> frozenset[str]:
    granted: set[str] = {AUTHENTICATED}
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def required_permission(method: str, path_template: str) -> str:
    """The permission for a route; ``("*", path)`` entries cover mounts (every method, every sub-path)."""
    method = "GET" if method == "HEAD" else method
    return ROUTE_PERMISSIONS.get((method, path_template)) or ROUTE_PERMISSIONS.get(("*", path_template), UNMAPPED)
