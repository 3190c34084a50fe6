"""Who may call Headway, as what, with which data: principals, keys, roles, OIDC, residency, erasure and the audit trail. See ``README.md``."""
