"""Who may call Headway, as what, with which data: principals, keys, roles, OIDC, residency, erasure and the audit trail. See ``README.md``."""

from headway.auth.audit import AuditEvent, AuditLog
from headway.auth.audit_trail import AuditTrail
from headway.auth.erasure import ErasureHook, ErasureRegistry, Subject
from headway.auth.key_policy import key_spec, parse_key_request
from headway.auth.key_store import KeyRepository
from headway.auth.permissions import AUTHENTICATED, PERMISSIONS, PUBLIC, UNMAPPED, permissions_for
from headway.auth.principal import AllowList, Principal, anonymous
from headway.auth.residency import CLASS_HEADER, REGION_HEADER, Residency, narrowed, restrict
from headway.auth.service import AuthService

__all__ = [
    "AUTHENTICATED",
    "CLASS_HEADER",
    "PERMISSIONS",
    "PUBLIC",
    "REGION_HEADER",
    "UNMAPPED",
    "AllowList",
    "AuditEvent",
    "AuditLog",
    "AuditTrail",
    "AuthService",
    "ErasureHook",
    "ErasureRegistry",
    "KeyRepository",
    "Principal",
    "Residency",
    "Subject",
    "anonymous",
    "key_spec",
    "narrowed",
    "parse_key_request",
    "permissions_for",
    "restrict",
]
