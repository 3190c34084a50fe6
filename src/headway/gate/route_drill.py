"""The route drill: every declared route exercised end to end, so a fresh deployment can be gated before traffic.

Part of ``headway gate --drill``, after the fault drill. For each route in
``readiness.routes``:

| step | what happens | passes when |
|---|---|---|
| ``route:<name>`` | one ordinary request (chat or embeddings) | 2xx, and its record reaches the request log |
| ``hold:<name>`` (consequential) | a request that a hold policy holds; a short-lived drill reviewer (the policy's team and role) opens the queue and approves; the caller polls its status URL; the decision webhook is received | 202 → the reviewer sees the item → 200 released to the caller → a signed webhook arrives and is acknowledged |
| ``residency:<name>`` (residency declared) | one request pinned to the route's region and data class, one pinned to a region nobody serves | the first reaches only deployments in the region approved for the class; the second reaches none |

The drill reviewer's key expires in minutes and is revoked at the end, so it never
counts as a reviewer credential afterwards. The requests also give the metrics the
observability checks read their first samples.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from headway.config import HeadwayConfig, RouteReadiness
from headway.gate.drill import DrillStep, held_models
from headway.gate.evidence import Deployment, Fetched
from headway.observe import WebhookVerificationError, verify

NOWHERE = "headway-drill-nowhere"  # a region no deployment is in
_WAIT_S = 15.0


class _WebhookListener:
    """A local receiver for the caller webhook of the held request (127.0.0.1, an ephemeral port)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        verified: bool | None = None
        if self.secret:
            try:
                verify(self.secret, dict(request.headers), body)
                verified = True
            except WebhookVerificationError:
                verified = False
        self.received.append({"path": request.path, "bytes": len(body), "signed": "webhook-signature" in request.headers, "verified": verified})
        self.arrived.set()
        return web.Response(status=204 if verified is not False else 401)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/headway-gate-drill/{uuid.uuid4().hex}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _record(gateway: Deployment, request_id: str | None) -> dict[str, Any] | None:
    if request_id is None:
        return None
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        fetched = await gateway.request("GET", f"/admin/requests/{request_id}")
        if fetched.ok:
            data = fetched.json()
            return data if isinstance(data, dict) else None
        await asyncio.sleep(0.05)
    return None


def _body(config: HeadwayConfig, route: str, step: str) -> tuple[str, dict[str, Any]]:
    text = f"headway gate drill: {step} {uuid.uuid4().hex}"
    if config.models[route].kind == "embeddings":
        return "/v1/embeddings", {"model": route, "input": text}
    return "/v1/chat/completions", {"model": route, "messages": [{"role": "user", "content": text}], "max_tokens": 16}


async def _plain(gateway: Deployment, config: HeadwayConfig, route: str) -> DrillStep:
    path, body = _body(config, route, "route")
    name, expected = f"route:{route}", "answered 2xx and recorded in the request log"
    if route in _held(config):
        return DrillStep(name, None, expected, detail="held for review: exercised by the hold step")
    fetched = await gateway.request("POST", path, payload=body)
    record = await _record(gateway, fetched.headers.get("x-request-id"))
    ok = fetched.ok and record is not None
    detail = "" if ok else (fetched.describe() if not fetched.ok else "the request never reached the request log")
    observed = {"status": fetched.status, "served_by": (record or {}).get("served_by"), "deployment": (record or {}).get("deployment")}
    return DrillStep(name, ok, expected, fetched.headers.get("x-request-id"), observed, detail)


def _held(config: HeadwayConfig) -> set[str]:
    return held_models(config)


async def _hold(gateway: Deployment, config: HeadwayConfig, route: str, webhook_secret: str | None) -> DrillStep:
    """Hold → a drill reviewer decides → the caller receives → the webhook is acknowledged."""
    name = f"hold:{route}"
    expected = "held (202), decided by a reviewer with the policy's role, released to the caller (200), webhook acknowledged"
    policy = next(
        (p for p in config.review.policies.values() if p.action == "hold" and (p.match.models is None or route in p.match.models)), None
    )
    if policy is None:
        return DrillStep(name, False, expected, detail=f"no hold policy matches {route}: nothing holds its answers")
    observed: dict[str, Any] = {}
    listener = _WebhookListener(webhook_secret)
    await listener.start()
    key_id: str | None = None
    try:
        _, body = _body(config, route, "hold")
        body["metadata"] = {"review_webhook": listener.url}
        sent = await gateway.request("POST", "/v1/chat/completions", payload=body, headers={"prefer": "review=ticket"})
        observed["request"] = sent.describe()
        if sent.status == 400 and b"review_webhook" in sent.body:
            body.pop("metadata")
            sent = await gateway.request("POST", "/v1/chat/completions", payload=body, headers={"prefer": "review=ticket"})
            observed["webhook"] = "caller webhooks not allowed here (review.caller_webhook_urls)"
        if sent.status != 202:
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"not held: {sent.describe()}")
        review_id = str(sent.json().get("id"))
        observed["review"] = review_id
        team = policy.reviewers.team
        issued = await gateway.request(
            "POST",
            "/admin/keys",
            payload={
                "principal": "headway-gate-drill-reviewer",
                "kind": "user",
                "roles": [policy.reviewers.roles[0]],
                **({"team": team} if team else {}),
                "expires_in_s": 600,
                "description": "the readiness gate's drill reviewer; revoked when the drill ends",
            },
        )
        if not issued.ok:
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"cannot issue a drill reviewer key: {issued.describe()}")
        key = issued.json()
        key_id = str(key.get("id"))
        reviewer = Deployment(gateway.url, str(key.get("key") or key.get("secret") or ""))
        try:
            queue = await reviewer.request("GET", "/admin/reviews?status=open&limit=500")
            seen = queue.ok and any(i.get("id") == review_id for i in queue.json().get("data") or [])
            observed["reviewer_sees_item"] = seen
            if not seen:
                return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"the drill reviewer cannot see the item: {queue.describe()}")
            decided = await reviewer.request("POST", f"/admin/reviews/{review_id}/decide", payload={"decision": "approve", "comment": "headway gate drill"})
            observed["decision"] = decided.describe()
            if not decided.ok:
                return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"the reviewer could not decide: {decided.describe()}")
        finally:
            await reviewer.close()
        released = await gateway.request("GET", f"/v1/reviews/{review_id}", headers={"prefer": "wait=10"})
        observed["caller"] = released.describe()
        if released.status != 200:
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"the caller did not receive the answer: {released.describe()}")
        if "webhook" in observed:
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, observed["webhook"])
        try:
            await asyncio.wait_for(listener.arrived.wait(), _WAIT_S)
        except TimeoutError:
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, f"no decision webhook arrived within {_WAIT_S:g}s")
        observed["webhooks"] = listener.received
        if any(r["verified"] is False for r in listener.received):
            return DrillStep(name, False, expected, sent.headers.get("x-request-id"), observed, "the decision webhook's signature did not verify")
        return DrillStep(name, True, expected, sent.headers.get("x-request-id"), observed)
    finally:
        await listener.close()
        if key_id is not None:
            await gateway.request("DELETE", f"/admin/keys/{key_id}")


def _placement(config: HeadwayConfig, deployment: str | None) -> tuple[str | None, list[str] | None]:
    """A deployment's region and the data classes it is approved for."""
    for model in config.models.values():
        for d in model.deployments:
            if f"{d.provider}/{d.model}" == deployment:
                return d.region, d.data_classes
    return None, None


def _approved(config: HeadwayConfig, approved: list[str] | None, data_class: str) -> bool:
    """Approval for a class covers every less sensitive one (auth.data_classes, least sensitive first)."""
    levels = list(config.auth.data_classes)
    needed = levels.index(data_class) if data_class in levels else len(levels)
    return any(levels.index(c) >= needed for c in approved or [] if c in levels)


def _reached(record: dict[str, Any] | None) -> list[str]:
    """Deployments the request's data actually reached (attempts made, not skipped)."""
    attempts = [a for a in (record or {}).get("attempts") or [] if isinstance(a, dict)]
    return [str(a.get("deployment")) for a in attempts if a.get("outcome") != "skipped"]


def _inside(region: str, where: str | None) -> bool:
    return where is not None and (where == region or where.startswith(region + "-"))


async def _settle_held(gateway: Deployment, fetched: Fetched) -> None:
    """A residency probe held for review must not wait in the reviewers' queue: reject it as the drill's."""
    if fetched.status == 202:
        review_id = fetched.json().get("id")
        await gateway.request("POST", f"/admin/reviews/{review_id}/decide", payload={"decision": "reject", "comment": "headway gate drill: residency probe"})


async def _residency(gateway: Deployment, config: HeadwayConfig, route: str, region: str, data_class: str | None) -> DrillStep:
    name = f"residency:{route}"
    expected = (
        f"pinned to {region}{' as ' + data_class if data_class else ''}: reaches only deployments in {region}"
        f"{' approved for ' + data_class if data_class else ''}; pinned to a region nobody serves: reaches none"
    )
    path, body = _body(config, route, "residency")
    # A held route's probe comes back as the 202 ticket, which _settle_held rejects at once.
    pins = {"x-headway-region": region, **({"x-headway-data-class": data_class} if data_class else {}), "prefer": "review=ticket"}
    inside = await gateway.request("POST", path, payload=body, headers=pins)
    await _settle_held(gateway, inside)
    record = await _record(gateway, inside.headers.get("x-request-id"))
    reached = _reached(record)
    placements = {d: _placement(config, d) for d in reached}
    observed: dict[str, Any] = {
        "pinned": {**pins, "answer": inside.describe()},
        "reached": {d: {"region": r, "data_classes": c} for d, (r, c) in placements.items()},
        "served_by": (record or {}).get("served_by"),
    }
    if record is None or not inside.ok or not reached:
        detail = f"a request pinned to {region}{' as ' + data_class if data_class else ''} was not served by any deployment ({inside.describe()})"
        return DrillStep(name, False, expected, inside.headers.get("x-request-id"), observed, detail)
    outside_region = [d for d, (where, _) in placements.items() if not _inside(region, where)]
    if outside_region:
        return DrillStep(name, False, expected, inside.headers.get("x-request-id"), observed, f"a request pinned to {region} reached {', '.join(outside_region)}")
    unapproved = [d for d, (_, classes) in placements.items() if data_class and not _approved(config, classes, data_class)]
    if unapproved:
        return DrillStep(name, False, expected, inside.headers.get("x-request-id"), observed, f"{data_class} data reached {', '.join(unapproved)}, not approved for it")
    _, body = _body(config, route, "residency-nowhere")
    outside = await gateway.request("POST", path, payload=body, headers={"x-headway-region": NOWHERE, "prefer": "review=ticket"})
    await _settle_held(gateway, outside)
    stray = await _record(gateway, outside.headers.get("x-request-id"))
    observed["nowhere"] = {"answer": outside.describe(), "reached": _reached(stray), "served_by": (stray or {}).get("served_by")}
    if stray is None:
        return DrillStep(name, False, expected, outside.headers.get("x-request-id"), observed, "the request pinned nowhere left no record to check")
    if _reached(stray):
        return DrillStep(name, False, expected, outside.headers.get("x-request-id"), observed, f"a request pinned to {NOWHERE} reached {', '.join(_reached(stray))}: data left its region")
    return DrillStep(name, True, expected, inside.headers.get("x-request-id"), observed)


async def run_route_drill(gateway: Deployment, config: HeadwayConfig, *, webhook_secret: str | None = None) -> list[DrillStep]:
    """Every declared route: an ordinary request, the held flow for consequential ones, residency where declared."""
    steps: list[DrillStep] = []
    declared: dict[str, RouteReadiness] = dict(config.readiness.routes)
    for route, readiness in declared.items():
        if config.models[route].kind == "chat" and route in _held(config):
            steps.append(await _hold(gateway, config, route, webhook_secret))
        else:
            steps.append(await _plain(gateway, config, route))
        if readiness.consequential and route not in _held(config):
            steps.append(DrillStep(f"hold:{route}", False, "held for review", detail=f"{route} is declared consequential but no hold policy holds it"))
        if readiness.residency:
            steps.append(await _residency(gateway, config, route, readiness.residency, readiness.data_class))
    return steps

