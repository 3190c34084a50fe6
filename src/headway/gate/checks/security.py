"""Security and access: authentication enforced, no secrets in the file, scoped keys, an intact audit chain."""

from __future__ import annotations

from typing import Any

import aiohttp

from headway.auth import UNMAPPED, permissions_for
from headway.config import OidcIssuerConfig
from headway.gate.check import Check
from headway.gate.config_source import VARIABLE, secret_paths, value_at
from headway.gate.context import GateContext
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, partial, passed

_PROBES = ("/v1/models", "/admin/requests")


async def auth(ctx: GateContext) -> Finding:
    mode = ctx.config.auth.mode if ctx.config is not None else None
    if mode == "none":
        return failed("auth.mode is none: anyone who can reach the gateway can use it", mode=mode)
    probes: dict[str, str] = {}
    for path in _PROBES:
        fetched = await ctx.fetch(path, authenticated=False)
        if fetched.status is None:
            raise EvidenceUnavailable(fetched.describe())
        probes[path] = fetched.describe()
        if fetched.status not in (401, 403):
            return failed(f"GET {path} without credentials answered HTTP {fetched.status}, not 401", mode=mode, probes=probes)
    return passed("requests without credentials are refused with 401", mode=mode or "unknown (no config)", probes=probes)


def plaintext_secrets(raw: Any) -> tuple[list[str], list[str]]:
    """(key paths with literal secrets, key paths whose ``${VAR:-default}`` writes a secret into the file)."""
    literal, defaults = [], []
    for path in secret_paths(raw):
        value = value_at(raw, path)
        if not isinstance(value, str) or not value.strip():
            continue
        match = VARIABLE.match(value)
        if match is None:
            literal.append(path)
        elif match.group(2):
            defaults.append(path)
    return literal, defaults


async def secrets(ctx: GateContext) -> Finding:
    raw = ctx.need_raw_config()
    literal, defaults = plaintext_secrets(raw)
    evidence: dict[str, Any] = {"file": ctx.config_file, "literal": literal, "defaults": defaults}
    if literal or defaults:
        parts = []
        if literal:
            parts.append(f"written literally at {', '.join(literal)}")
        if defaults:
            parts.append(f"given a default value in the file at {', '.join(defaults)}")
        return failed(f"secrets are {'; '.join(parts)}", **evidence)
    return passed("every secret-looking key reads ${VAR} from the environment, with no default", **evidence)


def key_problems(key: dict[str, Any], *, now: float, max_days: float) -> list[str]:
    problems = []
    roles = frozenset(str(r) for r in key.get("roles") or [])
    granted = permissions_for(roles)
    if "admin" in roles or UNMAPPED in granted:
        problems.append("holds the admin role")
    elif "inference" in granted and not any(key.get(field) for field in ("scopes", "models", "routes")):
        problems.append("may call every model (no models, routes or scopes)")
    expires = key.get("expires_at")
    if expires is None:
        problems.append("never expires")
    elif float(expires) - now > max_days * 86_400:
        problems.append(f"expires in {(float(expires) - now) / 86_400:.0f} days (limit {max_days:g})")
    return problems


async def keys(ctx: GateContext) -> Finding:
    config = ctx.config
    if config is not None and not config.auth.enabled:
        return failed("auth is off, so API keys protect nothing", mode="none")
    data = await ctx.api("/admin/keys?limit=1000")
    active = [k for k in data.get("data") or [] if isinstance(k, dict)]
    max_days = ctx.profile.evidence.key_max_days
    problems = {f"{k.get('id')} ({k.get('principal')})": p for k in active if (p := key_problems(k, now=ctx.now, max_days=max_days))}
    evidence: dict[str, Any] = {"active_keys": len(active), "problems": problems}
    if not active:
        if config is not None and config.auth.oidc:
            return passed("no API keys: callers sign in through OIDC", oidc_issuers=[i.issuer for i in config.auth.oidc], **evidence)
        return failed("no API keys are issued: every caller would need the bootstrap admin key", **evidence)
    if problems:
        return failed(f"{len(problems)} of {len(active)} active keys are too broad or too long-lived", **evidence)
    return passed(f"all {len(active)} active keys are scoped and expire within {max_days:g} days", **evidence)


async def audit(ctx: GateContext) -> Finding:
    fetched = await ctx.fetch("/admin/audit/verify")
    if fetched.status == 503:
        return failed("there is no audit trail (it needs a SQL store)", response=fetched.describe())
    if not fetched.ok:
        raise EvidenceUnavailable(fetched.describe())
    report = fetched.json()
    evidence: dict[str, Any] = {"checked": report.get("checked"), "head_seq": report.get("head_seq"), "problems": report.get("problems")}
    if not report.get("ok"):
        count = len(report.get("problems") or [])
        return failed(f"the audit chain is broken: {count} edited, deleted or re-linked record(s)", **evidence)
    config = ctx.need_config()
    if config.auth.audit.chain_secret is None:
        return partial(
            f"the audit chain verifies ({report.get('checked')} records), but without a key anyone with write access could re-chain it",
            fix='Set `auth: {audit: {chain_secret: "${HEADWAY_AUDIT_SECRET}"}}`.',
            **evidence,
        )
    return passed(f"the keyed audit chain verifies: {report.get('checked')} records, head #{report.get('head_seq')}", **evidence)


async def _jwks(url: str) -> tuple[int, str]:
    """(number of keys the identity provider publishes, what happened)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, session.get(url) as response:
            if response.status != 200:
                return 0, f"HTTP {response.status}"
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return 0, f"unreachable ({exc.__class__.__name__})"
    keys = body.get("keys") if isinstance(body, dict) else None
    return (len(keys), f"{len(keys)} key(s)") if isinstance(keys, list) else (0, "no 'keys' list")


async def _jwks_url(issuer: OidcIssuerConfig) -> str | None:
    if issuer.jwks_url:
        return issuer.jwks_url
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(issuer.issuer.rstrip("/") + "/.well-known/openid-configuration") as response,
        ):
            metadata = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None
    url = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
    return str(url) if url else None


async def identity(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    people = sorted(name for name, p in config.auth.principals.items() if p.kind == "user")
    if not config.auth.oidc:
        return failed(
            "no identity provider (auth.oidc): people sign in with API keys the gateway hands out, outside the "
            "organisation's joiner/leaver process",
            fix="Add `auth.oidc: [{issuer, audience, role_map, team_map}]` for your IdP (Entra ID, Okta, Keycloak), or waive "
            "`security.identity` with a reason and an owner.",
            user_principals=people,
        )
    issuers: dict[str, str] = {}
    dead = []
    for issuer in config.auth.oidc:
        url = await _jwks_url(issuer)
        count, what = await _jwks(url) if url else (0, "no JWKS URL (discovery failed)")
        issuers[issuer.issuer] = f"{url or '-'}: {what}"
        if not count:
            dead.append(issuer.issuer)
    evidence: dict[str, Any] = {"issuers": issuers, "user_principals": people}
    if dead:
        return failed(f"the identity provider's signing keys cannot be fetched: {', '.join(dead)}", **evidence)
    return passed(f"{len(issuers)} identity provider(s) publish signing keys the gateway can verify tokens with", **evidence)


CHECKS = (
    Check(
        "security.auth", "security", "Authentication is enforced",
        "The config's auth.mode, and unauthenticated probes of /v1/models and /admin/requests (both must answer 401).",
        'Set `auth: {mode: required, bootstrap_admin_key: "${HEADWAY_ADMIN_KEY}"}`.',
        auth,
    ),
    Check(
        "security.secrets", "security", "No secrets in the config file",
        "The config file as written: literal values (or ${VAR:-default} defaults) under secret-looking keys.",
        "Write every secret as ${VAR} with no default and set VAR in the environment (or a secrets manager).",
        secrets,
    ),
    Check(
        "security.keys", "security", "API keys are scoped and expire",
        "GET /admin/keys: every active key has an expiry within `evidence.key_max_days`, no admin role, and models, "
        "routes or scopes when it may call models.",
        "Revoke broad keys and issue scoped ones: `headway keys create --principal app --role app --model chat --expires-in 90d`.",
        keys,
    ),
    Check(
        "security.identity", "security", "People sign in through the organisation's identity provider",
        "The config's auth.oidc, and each issuer's JWKS (jwks_url, or discovered from its metadata) fetched: it must publish keys.",
        "Add `auth.oidc` for the organisation's IdP so joiners and leavers are handled there.",
        identity,
    ),
    Check(
        "security.audit", "security", "The audit trail is intact and keyed",
        "GET /admin/audit/verify (the auth part's chain verifier) and the config's audit.chain_secret.",
        'Set `auth.audit.chain_secret: "${HEADWAY_AUDIT_SECRET}"`; investigate any record the verifier names.',
        audit,
    ),
)
