"""Operations and privacy: each declared route has an owner, an on-call that answers, a runbook, and stays in its region.

Declared per route in ``readiness.routes``. Ownership is measured against the live key
list (the owning team exists and someone in it holds an active key); on-call is measured
by a signed test page its receiver must acknowledge; the runbook must be readable (a file
beside the config, or a URL answering 2xx); residency is measured by the drill (a
request pinned to the route's region is served there, one pinned elsewhere is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from headway.gate.check import Check
from headway.gate.checks.observability import known_secret, probe_receiver
from headway.gate.context import GateContext
from headway.gate.results import Finding, failed, passed

_DECLARE = "Declare it per route: `readiness.routes.<route>: {owner: team, on_call: https://..., runbook: docs/runbooks/route.md}`."


def _routes_or_fail(ctx: GateContext) -> tuple[dict[str, Any], Finding | None]:
    routes = ctx.declared()
    if not routes:
        models = sorted(ctx.need_config().models)
        return routes, failed("no route is declared (readiness.routes): nothing says who owns what", fix=_DECLARE, declared=[], models=models)
    return routes, None


async def ownership(ctx: GateContext) -> Finding:
    routes, none = _routes_or_fail(ctx)
    if none is not None:
        return none
    config = ctx.need_config()
    keys = [k for k in (await ctx.api("/admin/keys?limit=1000")).get("data") or [] if isinstance(k, dict)]
    staffed = {str(k.get("team")) for k in keys if k.get("team") and (k.get("expires_at") is None or float(k["expires_at"]) > ctx.now)}
    problems, seen = [], {}
    for route, declared in routes.items():
        owner = declared.owner
        seen[route] = {"owner": owner, "team_known": owner in config.auth.teams if owner else False, "active_keys_in_team": owner in staffed}
        if owner is None:
            problems.append(f"{route}: no owner")
        elif config.auth.teams and owner not in config.auth.teams:
            problems.append(f"{route}: owner {owner!r} is not a team (auth.teams)")
        elif owner not in staffed:
            problems.append(f"{route}: nobody in team {owner!r} holds an active key")
    if problems:
        return failed("; ".join(problems), fix=_DECLARE, routes=seen)
    return passed(f"every declared route has an owning team with active members ({', '.join(sorted({d.owner or '' for d in routes.values()}))})", routes=seen)


async def on_call(ctx: GateContext) -> Finding:
    routes, none = _routes_or_fail(ctx)
    if none is not None:
        return none
    config = ctx.need_config()
    secret = known_secret(config.observe.alerts.webhooks[0].secret) if config.observe.alerts.webhooks else None
    problems, seen = [], {}
    probed: dict[str, tuple[bool, str]] = {}
    for route, declared in routes.items():
        if not declared.on_call:
            problems.append(f"{route}: no on-call receiver")
            continue
        if declared.on_call not in probed:
            probed[declared.on_call] = await probe_receiver(declared.on_call, secret)
        ok, what = probed[declared.on_call]
        seen[route] = {"on_call": declared.on_call, "test_page": what}
        if not ok:
            problems.append(f"{route}: the on-call receiver did not acknowledge a test page ({what})")
    if problems:
        return failed("; ".join(problems), fix="Point `on_call` at the rota's paging receiver (it must answer 2xx).", routes=seen)
    return passed(f"{len(probed)} on-call receiver(s) acknowledged a signed test page", routes=seen)


async def _readable(ctx: GateContext, runbook: str) -> tuple[bool, str]:
    if runbook.startswith(("http://", "https://")):
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, session.get(runbook) as response:
                return 200 <= response.status < 300, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return False, f"unreachable ({exc.__class__.__name__})"
    base = Path(ctx.config_file).parent if ctx.config_file else Path.cwd()
    path = (base / runbook) if not Path(runbook).is_absolute() else Path(runbook)
    try:
        size = path.stat().st_size
    except OSError:
        return False, f"{path} does not exist"
    return size > 0, f"{path}: {size} bytes" if size else f"{path} is empty"


async def runbooks(ctx: GateContext) -> Finding:
    routes, none = _routes_or_fail(ctx)
    if none is not None:
        return none
    problems, seen = [], {}
    for route, declared in routes.items():
        if not declared.runbook:
            problems.append(f"{route}: no runbook")
            continue
        ok, what = await _readable(ctx, declared.runbook)
        seen[route] = {"runbook": declared.runbook, "read": what}
        if not ok:
            problems.append(f"{route}: runbook not readable ({what})")
    if problems:
        return failed("; ".join(problems), fix=_DECLARE, routes=seen)
    return passed("every declared route has a readable runbook", routes=seen)


async def residency(ctx: GateContext) -> Finding:
    routes, none = _routes_or_fail(ctx)
    if none is not None:
        return none
    problems, seen = [], {}
    for route, declared in routes.items():
        if not declared.residency or not declared.data_class:
            problems.append(f"{route}: no {'residency' if not declared.residency else 'data_class'} declared")
            continue
        ok, why_not, drilled = await ctx.drilled(f"residency:{route}")
        seen[route] = {"residency": declared.residency, "data_class": declared.data_class, "drill": drilled or why_not}
        if not ok:
            problems.append(f"{route}: residency not exercised ({why_not})")
    if problems:
        return failed(
            "; ".join(problems),
            fix="Declare `residency` and `data_class` per route, give deployments a `region`, and run `headway gate --drill`.",
            routes=seen,
        )
    return passed("every declared route's residency held in the drill: served in its region, refused elsewhere", routes=seen)


CHECKS = (
    Check(
        "operations.owners", "operations", "Every route has an owning team",
        "readiness.routes.<r>.owner, auth.teams, and GET /admin/keys: the team exists and someone in it holds an active key.",
        _DECLARE,
        ownership,
    ),
    Check(
        "operations.on_call", "operations", "Every route's on-call answers a page",
        "readiness.routes.<r>.on_call: a signed test page POSTed to each receiver, which must answer 2xx.",
        "Point `on_call` at the rota's paging receiver.",
        on_call,
    ),
    Check(
        "operations.runbooks", "operations", "Every route has a runbook",
        "readiness.routes.<r>.runbook: the file (beside the config) is non-empty, or the URL answers 2xx.",
        _DECLARE,
        runbooks,
    ),
    Check(
        "operations.residency", "operations", "Data stays in its region",
        "readiness.routes.<r>.residency and data_class, and the current drill's residency step: pinned to the region it is "
        "served there; pinned to a region nobody serves it is refused.",
        "Declare residency and data_class per route, give deployments a region, run `headway gate --drill`.",
        residency,
    ),
)
