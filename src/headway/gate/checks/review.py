"""Human review: consequential routes are held, someone can decide, and decisions arrive within the SLA.

A route is consequential when ``readiness.routes.<name>.consequential`` says so (or its
model carries ``tags: [consequential]``): declared, so deleting the hold policy and the
tag together cannot make review "not applicable". Nothing declared consequential fails
the section unless it is waived (reason and owner). A hold policy
covers it fully when it matches every request of that route: its ``models`` include the
route and it has no other condition (metadata, tags, teams, findings, sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from headway.auth import permissions_for
from headway.config import HeadwayConfig, PolicyConfig, ReviewerConfig
from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.results import Finding, failed, partial, passed

CONSEQUENTIAL = "consequential"
_CONDITIONS = ("metadata", "tags", "teams", "findings", "review_requested", "contract_failed")
_DECIDE = "reviews:decide"


def covers(policy: PolicyConfig, route: str) -> str | None:
    """``full``, ``partial`` (only some of the route's requests), or None when the policy never matches it."""
    match = policy.match
    if match.models is not None and not any(fnmatchcase(route, p) for p in match.models):
        return None
    conditional = [c for c in _CONDITIONS if getattr(match, c) is not None]
    if conditional or (match.sample_rate is not None and match.sample_rate < 1):
        return "partial"
    return "full"


_UNDECLARED_FIX = (
    "Declare `readiness.routes.<route>.consequential: true` for every route whose answers act on people, or waive "
    "the review section: `readiness.waivers: [{check: review, reason: ..., owner: ...}]`."
)


def consequential_routes(config: HeadwayConfig) -> list[str]:
    """Declared consequential (readiness) or tagged so (models.<name>.tags), in config order."""
    declared = set(config.readiness.consequential())
    return [name for name, m in config.models.items() if name in declared or CONSEQUENTIAL in m.tags]


async def hold_policies(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    routes = consequential_routes(config)
    if not routes:
        return failed("no route is declared consequential, so nothing says whether answers need a human", fix=_UNDECLARED_FIX, declared=list(config.readiness.routes))
    max_sla = ctx.profile.evidence.review_max_sla_s
    holds = {name: p for name, p in config.review.policies.items() if p.action == "hold"}
    coverage: dict[str, Any] = {}
    missing, conditional, slow = [], [], []
    for route in routes:
        found = {name: kind for name, p in holds.items() if (kind := covers(p, route)) is not None}
        full = [name for name, kind in found.items() if kind == "full"]
        coverage[route] = {name: {"covers": kind, "sla_s": holds[name].sla_s} for name, kind in found.items()}
        if not found:
            missing.append(route)
        elif not full:
            conditional.append(route)
        elif min(holds[n].sla_s for n in full) > max_sla:
            slow.append(route)
    evidence: dict[str, Any] = {"consequential": routes, "coverage": coverage, "max_sla_s": max_sla}
    if missing:
        return failed(f"no hold policy for consequential route(s): {', '.join(missing)}", **evidence)
    if conditional or slow:
        why = []
        if conditional:
            why.append(f"held only when extra conditions match: {', '.join(conditional)}")
        if slow:
            why.append(f"SLA longer than {max_sla:g}s: {', '.join(slow)}")
        return partial("; ".join(why), **evidence)
    # The policy is the config's claim; the drill's held request (hold, decide, release, webhook) measures it.
    unproven = {}
    for route in routes:
        ok, why_not, drilled = await ctx.drilled(f"hold:{route}")
        evidence.setdefault("drill", {})[route] = drilled or why_not
        if not ok:
            unproven[route] = why_not
    if unproven:
        return passed(
            f"every consequential route ({', '.join(routes)}) has a hold policy, but no current drill held a request end to end: "
            + "; ".join(f"{r}: {w}" for r, w in unproven.items()),
            basis="config",
            fix="Run `headway gate --drill`: it holds a request on each consequential route, decides it as a drill reviewer, "
            "and checks the caller receives it and the webhook is acknowledged.",
            **evidence,
        )
    return passed(f"every consequential route ({', '.join(routes)}) is held for review; the drill held, decided and released one", **evidence)


@dataclass(frozen=True, slots=True)
class Holder:
    name: str  # principal (config) or "key <id> (principal)"
    team: str | None
    roles: frozenset[str]


def can_act(holder: Holder, assignment: ReviewerConfig) -> bool:
    """A non-admin who sees and may decide the items (the review part's rule, without the admin override)."""
    return (
        _DECIDE in permissions_for(holder.roles)
        and bool(holder.roles & set(assignment.roles))
        and (assignment.team is None or holder.team == assignment.team)
    )


def assignments(config: HeadwayConfig) -> dict[str, ReviewerConfig]:
    found: dict[str, ReviewerConfig] = {}
    for name, policy in config.review.policies.items():
        if policy.action != "hold":
            continue
        found[name] = policy.reviewers
        if policy.escalation is not None:
            found[f"{name} (escalation)"] = policy.escalation
    return found


DRILL_REVIEWER = "headway-gate-drill-reviewer"


async def _holders(ctx: GateContext) -> list[Holder]:
    """Principals holding a valid credential: an active, unexpired API key (a configured principal without one cannot act)."""
    data = await ctx.api("/admin/keys?limit=1000")
    holders = []
    for key in data.get("data") or []:
        if not isinstance(key, dict) or key.get("principal") == DRILL_REVIEWER:
            continue  # the drill's own short-lived reviewer proves the workflow, not that someone staffs it
        expires = key.get("expires_at")
        if expires is not None and float(expires) <= ctx.now:
            continue
        holders.append(Holder(f"key {key.get('id')} ({key.get('principal')})", key.get("team"), frozenset(key.get("roles") or [])))
    return holders


async def reviewers(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    wanted = assignments(config)
    if not wanted:
        return failed(
            "no hold policies are configured, so nobody reviews anything",
            fix=_UNDECLARED_FIX,
            policies=sorted(config.review.policies),
            consequential=consequential_routes(config),
        )
    holders = await _holders(ctx)
    oidc_roles = {role for issuer in config.auth.oidc for role in (*issuer.role_map.values(), *issuer.default_roles)}
    found: dict[str, list[str]] = {}
    nobody, only_oidc = [], []
    for name, assignment in wanted.items():
        found[name] = [h.name for h in holders if can_act(h, assignment)]
        if found[name]:
            continue
        if oidc_roles & set(assignment.roles):
            only_oidc.append(name)
        else:
            nobody.append(name)
    evidence: dict[str, Any] = {
        "reviewers": found,
        "assignments": {n: {"team": a.team, "roles": list(a.roles)} for n, a in wanted.items()},
    }
    evidence["configured_principals"] = sorted(
        n for n, p in config.auth.principals.items() if any(can_act(Holder(n, p.team, frozenset(p.roles)), a) for a in wanted.values())
    )
    if nobody:
        return failed(
            f"nobody but an admin can decide the items of: {', '.join(nobody)} (no active key with the role, in the team)",
            fix="Issue each reviewer a key: `headway keys create --principal alice --team risk --role reviewer --expires-in 90d` "
            "(a principal in the config without a key cannot open the queue).",
            **evidence,
        )
    if only_oidc:
        return partial(
            f"only OIDC role mappings could supply reviewers for: {', '.join(only_oidc)} (no credential to check)",
            basis="config",
            fix="Name at least one reviewer principal (config or key) per policy and team.",
            **evidence,
        )
    return passed("every hold policy has reviewers with the role, in the team, who may decide", **evidence)


async def sla(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    if not config.review.policies:
        return failed("no review policies are configured", fix=_UNDECLARED_FIX, consequential=consequential_routes(config))
    open_items = await ctx.api("/admin/reviews?status=open&limit=500")
    final_items = await ctx.api("/admin/reviews?status=final&limit=500")
    grace = max(60.0, 10 * config.review.sweep_interval_s)
    overdue = [i.get("id") for i in open_items.get("data") or [] if float(i.get("deadline_at") or ctx.now) < ctx.now - grace]
    since = ctx.now - ctx.profile.evidence.window_days * 86_400
    final = [i for i in final_items.get("data") or [] if float(i.get("created_at") or 0) >= since]
    expired = [i.get("id") for i in final if i.get("status") == "expired"]
    ratio = len(expired) / len(final) if final else 0.0
    evidence: dict[str, Any] = {
        "open": len(open_items.get("data") or []),
        "overdue": overdue,
        "final_in_window": len(final),
        "expired": expired[:20],
        "expired_ratio": round(ratio, 4),
        "limit": ctx.profile.evidence.review_miss_ratio,
    }
    if overdue:
        return failed(f"{len(overdue)} open item(s) are past their deadline and nothing acted on them", **evidence)
    if ratio > ctx.profile.evidence.review_miss_ratio:
        return failed(f"{len(expired)} of {len(final)} recent items expired without a decision ({ratio:.0%})", **evidence)
    return passed(f"no item is overdue; {len(expired)} of {len(final)} recent items expired", **evidence)


CHECKS = (
    Check(
        "review.hold_policies", "review", "Consequential routes are held for review",
        "The config: every model tagged `consequential` is matched in full by a `hold` policy whose SLA is at most "
        "`evidence.review_max_sla_s`.",
        "Add `review.policies.<name>: {match: {models: [route]}, action: hold, sla_s: 3600, reviewers: {team, roles}}`.",
        hold_policies,
    ),
    Check(
        "review.reviewers", "review", "Someone can act on held items",
        "The config's principals and GET /admin/keys: for each hold policy (and escalation), a non-admin holder of "
        "one of its roles, in its team, with the reviews:decide permission.",
        "Add reviewer principals (`auth.principals.<name>: {team: T, roles: [reviewer]}`) and issue them keys or OIDC.",
        reviewers,
    ),
    Check(
        "review.sla", "review", "Reviews are decided within the SLA",
        "GET /admin/reviews: no open item past its deadline, and at most `evidence.review_miss_ratio` of recent final "
        "items expired undecided.",
        "Staff the queue (more reviewers, an escalation team) or lengthen an SLA nobody can meet.",
        sla,
    ),
)
