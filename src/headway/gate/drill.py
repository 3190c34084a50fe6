"""The fault drill: make the simulator fail on purpose and watch the gateway recover.

Against a staging deployment whose providers point at ``headway sim``, the drill takes
one chat route (``drill.model``, or the first chat route with a fallback chain that no
review policy holds) and, step by step, queues faults on the simulator
(``POST /sim/faults``), sends one request through the gateway and reads that request's
record back from the request log:

| step | faults queued | the record must show |
|---|---|---|
| retry | one ``500`` | ``served_by: retry`` after a failed attempt |
| fallback | one ``500`` per attempt the route makes | ``served_by: fallback:<model>`` |
| degraded | enough for the route and its whole chain | ``served_by: degraded`` (or ``stale-cache``) |
| breaker | failures until the breaker opens | an attempt skipped with ``circuit_open`` |

Steps a route is not configured for fail (retries off, no fallback, no breaker); the
degraded step is skipped when the route has no degraded mode. The drill owns the
simulator's fault queue while it runs: it clears the queue before and after each step.
The result is a ``DrillRecord``, stored through ``POST /admin/gate/drills``, which the
``reliability.drill`` check reads and re-verifies against the request log.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
import uuid
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from headway.config import HeadwayConfig, ModelConfig
from headway.errors import HeadwayError
from headway.gate.evidence import Deployment
from headway.gate.profile import DrillSettings
from headway.gate.results import FlatRecord

STEPS = ("retry", "fallback", "degraded", "breaker")
EXPECTED = {
    "retry": "answered after a retry (served_by: retry)",
    "fallback": "answered by a fallback model (served_by: fallback:<model>)",
    "degraded": "answered by the degraded mode (served_by: degraded or stale-cache)",
    "breaker": "the circuit breaker opened (an attempt skipped with circuit_open)",
}
_RECORD_WAIT_S = 10.0
_BATCH = 16  # breaker step: requests sent at once
_MAX_BREAKER_REQUESTS = 400
_MAX_SETTLE_S = 60.0  # longest wait for an earlier drill's breakers to cool down


class DrillError(HeadwayError):
    """The drill cannot run here (no simulator, no suitable route, no admin access)."""


@dataclass(frozen=True, slots=True)
class DrillStep(FlatRecord):
    name: str
    passed: bool | None  # None: not applicable to this route
    expected: str
    request_id: str | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(slots=True)
class DrillRecord:
    id: str
    created_at: float
    finished_at: float
    target: str
    model: str
    deployments: list[str]  # the route's deployment ids, as attempts name them
    simulator: str
    steps: list[DrillStep]
    binding: dict[str, Any] | None = None  # Binding.to_dict(): the config, gateway and routes it ran under

    @property
    def passed(self) -> bool:
        return all(step.passed is not False for step in self.steps)

    def step(self, name: str) -> DrillStep | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "target": self.target,
            "model": self.model,
            "deployments": list(self.deployments),
            "simulator": self.simulator,
            "passed": self.passed,
            "steps": [s.to_dict() for s in self.steps],
            "binding": self.binding,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrillRecord:
        return cls(
            id=str(data["id"]),
            created_at=float(data["created_at"]),
            finished_at=float(data["finished_at"]),
            target=str(data.get("target") or ""),
            model=str(data["model"]),
            deployments=[str(d) for d in data.get("deployments") or []],
            simulator=str(data.get("simulator") or ""),
            steps=[DrillStep.from_dict(s) for s in data.get("steps") or []],
            binding=data.get("binding") if isinstance(data.get("binding"), dict) else None,
        )


# -- what a request record must show -------------------------------------------------------------
def holds(step: str, record: dict[str, Any], deployments: list[str]) -> bool:
    """Whether a request record (``GET /admin/requests/{id}``) shows the outcome ``step`` expects."""
    served = str(record.get("served_by") or "")
    ok = 200 <= int(record.get("status_code") or 0) < 300
    attempts = [a for a in record.get("attempts") or [] if isinstance(a, dict)]
    if step == "retry":
        return ok and served == "retry" and any(a.get("outcome") == "error" for a in attempts)
    if step == "fallback":
        return ok and served.startswith("fallback:")
    if step == "degraded":
        return ok and served in ("degraded", "stale-cache")
    if step == "breaker":
        return any(
            a.get("outcome") == "skipped" and a.get("error_type") == "circuit_open" and a.get("deployment") in deployments
            for a in attempts
        )
    raise ValueError(f"unknown drill step {step!r}")


def observed(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": record.get("status_code"),
        "served_by": record.get("served_by"),
        "attempts": [
            f"{a.get('deployment')}: {a.get('outcome')}{' (' + str(a.get('error_type')) + ')' if a.get('error_type') else ''}"
            for a in record.get("attempts") or []
            if isinstance(a, dict)
        ],
    }


# -- choosing what to drill --------------------------------------------------------------------
def held_models(config: HeadwayConfig) -> set[str]:
    """Routes whose answers a review policy may hold: the drill leaves them alone."""
    held: set[str] = set()
    for policy in config.review.policies.values():
        if policy.action != "hold":
            continue
        patterns = policy.match.models
        held |= {name for name in config.models if patterns is None or any(fnmatchcase(name, p) for p in patterns)}
    return held


def drill_model(config: HeadwayConfig, settings: DrillSettings) -> str:
    if settings.model is not None:
        model = config.models.get(settings.model)
        if model is None or model.kind != "chat":
            raise DrillError(f"drill.model {settings.model!r} is not a chat model of this config")
        return settings.model
    held = held_models(config)
    chat = [name for name, m in config.models.items() if m.kind == "chat" and name not in held]
    with_fallbacks = [name for name in chat if config.models[name].fallback_chain("error")]
    if with_fallbacks or chat:
        return (with_fallbacks or chat)[0]
    raise DrillError("no chat model to drill (every chat model is held for review, or none is configured)")


def simulator_roots(config: HeadwayConfig, model: ModelConfig) -> list[str]:
    """Candidate simulator URLs: each deployment's provider base URL without ``/v1``."""
    roots: list[str] = []
    for deployment in model.deployments:
        base = config.providers[deployment.provider].base_url.rstrip("/")
        root = base.removesuffix("/v1")
        if root not in roots:
            roots.append(root)
    return roots


def attempts_of(model: ModelConfig) -> int:
    """Upstream calls one request makes to a route before it gives up on it."""
    return model.retries.max_retries + 1


# -- running it ------------------------------------------------------------------------------------
class _Simulator:
    def __init__(self, http: Deployment) -> None:
        self.http = http

    @property
    def url(self) -> str:
        return self.http.url

    async def is_simulator(self) -> bool:
        fetched = await self.http.request("GET", "/sim/stats", authenticated=False)
        return fetched.ok and isinstance(fetched.json(), dict) and "requests_total" in fetched.json()

    async def queue(self, fault: str, model: str | None, count: int) -> None:
        fetched = await self.http.request("POST", "/sim/faults", payload={"fault": fault, "model": model, "count": count})
        if not fetched.ok:
            raise DrillError(f"the simulator refused a fault: {fetched.describe()}")

    async def clear(self) -> None:
        await self.http.request("DELETE", "/sim/faults")


class _Drill:
    def __init__(self, gateway: Deployment, config: HeadwayConfig, model: str, sim: _Simulator, settings: DrillSettings) -> None:
        self.gateway = gateway
        self.config = config
        self.name = model
        self.route = config.models[model]
        self.sim = sim
        self.settings = settings
        self.deployments = [f"{d.provider}/{d.model}" for d in self.route.deployments]

    async def send(self, step: str) -> tuple[str | None, dict[str, Any] | None, str]:
        """One request through the gateway; its id, its stored record, and what went wrong if anything."""
        body = {
            "model": self.name,
            "messages": [{"role": "user", "content": f"headway gate drill: {step} {uuid.uuid4().hex}"}],
            "max_tokens": 16,
        }
        fetched = await self.gateway.request("POST", "/v1/chat/completions", payload=body)
        request_id = fetched.headers.get("x-request-id")
        if fetched.status is None:
            return None, None, fetched.describe()
        if fetched.status in (401, 403):
            raise DrillError(f"the gateway refused the drill's request: {fetched.describe()} (give an operator or admin key)")
        if request_id is None:
            return None, None, f"no x-request-id on the answer ({fetched.describe()})"
        record = await self.wait_record(request_id)
        if record is None:
            return request_id, None, f"request {request_id} never reached the request log"
        return request_id, record, ""

    async def wait_record(self, request_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + _RECORD_WAIT_S
        while time.monotonic() < deadline:
            fetched = await self.gateway.request("GET", f"/admin/requests/{request_id}")
            if fetched.ok:
                data = fetched.json()
                return data if isinstance(data, dict) else None
            if fetched.status not in (404, None):
                raise DrillError(f"cannot read the request log: {fetched.describe()}")
            await asyncio.sleep(0.05)
        return None

    async def step(self, name: str, faults: list[tuple[str | None, int]], *, batches: list[int] | None = None) -> DrillStep:
        """Queue ``faults``, then send requests (``batches``: how many at once, in turn) until one shows the outcome."""
        await self.sim.clear()
        try:
            for model, count in faults:
                await self.sim.queue("500", model, count)
            request_id, record, problem = None, None, ""
            for size in batches or [1]:
                sent = await asyncio.gather(*(self.send(name) for _ in range(size)))
                for request_id, record, problem in sent:  # noqa: B007 - the last one's are reported on failure
                    if record is not None and holds(name, record, self.deployments):
                        return DrillStep(name, True, EXPECTED[name], request_id, observed(record))
            detail = problem or "the request log shows a different outcome"
            return DrillStep(name, False, EXPECTED[name], request_id, observed(record) if record else {}, detail)
        finally:
            await self.sim.clear()

    async def settle(self, routes: list[str]) -> None:
        """Wait out breakers still open (from an earlier drill), then close them with one clean request each."""
        for _ in range(3):
            fetched = await self.gateway.request("GET", "/admin/deployments")
            if not fetched.ok:
                return
            tripped = [
                (route.get("model"), d)
                for route in fetched.json().get("data") or []
                if route.get("model") in routes
                for d in route.get("deployments") or []
                if d.get("state") not in (None, "closed")
            ]
            if not tripped:
                return
            wait = max(float(d.get("next_trial_at") or 0) - time.time() for _, d in tripped)
            if wait > _MAX_SETTLE_S:
                raise DrillError(f"a breaker of {tripped[0][0]} stays open for another {wait:.0f}s (an earlier drill?); try again then")
            await asyncio.sleep(max(0.0, wait) + 0.05)
            for name in sorted({str(model) for model, _ in tripped}):
                body = {"model": name, "messages": [{"role": "user", "content": f"headway gate drill: settle {uuid.uuid4().hex}"}], "max_tokens": 4}
                await self.gateway.request("POST", "/v1/chat/completions", payload=body)

    async def run(self) -> list[DrillStep]:
        route, steps = self.route, []
        await self.sim.clear()
        await self.settle([self.name, *route.fallback_chain("error")])
        if route.retries.max_retries >= 1:
            steps.append(await self.step("retry", [(None, 1)]))
        else:
            steps.append(DrillStep("retry", False, EXPECTED["retry"], detail=f"models.{self.name}.retries.max_retries is 0"))
        chain = [c for c in route.fallback_chain("error") if c in self.config.models]
        if chain:
            steps.append(await self.step("fallback", [(None, attempts_of(route))]))
        else:
            steps.append(DrillStep("fallback", False, EXPECTED["fallback"], detail=f"models.{self.name} has no fallbacks for errors"))
        if route.degraded is not None:
            total = attempts_of(route) + sum(attempts_of(self.config.models[c]) for c in chain)
            steps.append(await self.step("degraded", [(None, total)]))
        else:
            steps.append(DrillStep("degraded", None, EXPECTED["degraded"], detail="no degraded mode configured"))
        steps.append(await self._breaker(chain))
        return steps

    async def failures_to_open(self) -> int:
        """Failures the route's breakers still need to open, from their live windows (GET /admin/deployments)."""
        breaker = self.route.breaker
        fetched = await self.gateway.request("GET", f"/admin/deployments?model={self.name}")
        windows = []
        if fetched.ok:
            for route in fetched.json().get("data") or []:
                windows += [(int(d.get("window_requests") or 0), int(d.get("window_failures") or 0)) for d in route.get("deployments") or []]
        needed = []
        for requests, failures in windows or [(0, 0)]:
            by_ratio = (
                math.ceil((breaker.failure_ratio * requests - failures) / (1 - breaker.failure_ratio))
                if breaker.failure_ratio < 1
                else (0 if failures == requests else _MAX_BREAKER_REQUESTS)
            )
            needed.append(max(by_ratio, breaker.min_requests - requests, 1))
        # Failures spread over the route's deployments: enough for the neediest one on each.
        return max(needed) * max(1, len(self.route.deployments))

    async def _breaker(self, chain: list[str]) -> DrillStep:
        breaker = self.route.breaker
        if not breaker.enabled:
            return DrillStep("breaker", False, EXPECTED["breaker"], detail=f"models.{self.name}.breaker.enabled is false")
        requests = min(_MAX_BREAKER_REQUESTS, math.ceil(await self.failures_to_open() / attempts_of(self.route)) + 2)
        batches = [min(_BATCH, requests - sent) for sent in range(0, requests, _BATCH)] + [1]
        own = {d.model for d in self.route.deployments}
        others = {d.model for c in chain for d in self.config.models[c].deployments}
        per_request = attempts_of(self.route) + sum(attempts_of(self.config.models[c]) for c in chain)
        if own.isdisjoint(others):
            # Fail only this route's upstream models: its fallbacks answer while the breaker opens.
            faults: list[tuple[str | None, int]] = [(m, (requests + 1) * attempts_of(self.route)) for m in sorted(own)]
        else:
            faults = [(None, (requests + 1) * per_request)]
        return await self.step("breaker", faults, batches=batches)


async def find_simulator(config: HeadwayConfig, model: str, *, timeout_s: float = 5.0) -> _Simulator:
    tried = []
    for root in simulator_roots(config, config.models[model]):
        sim = _Simulator(Deployment(root, None, timeout_s=timeout_s))
        if await sim.is_simulator():
            return sim
        await sim.http.close()
        tried.append(root)
    raise DrillError(
        f"no simulator behind models.{model}: {', '.join(tried)} did not answer GET /sim/stats. "
        "Run the drill against a staging deployment whose providers point at `headway sim`."
    )


async def run_fault_drill(gateway: Deployment, config: HeadwayConfig, settings: DrillSettings) -> DrillRecord:
    """Run every step against ``gateway`` (the deployment configured by ``config``) and return the record."""
    model = drill_model(config, settings)
    sim = await find_simulator(config, model)
    started = time.time()
    drill = _Drill(gateway, config, model, sim, settings)
    try:
        steps = await drill.run()
    finally:
        await sim.http.close()
    return DrillRecord(
        id=f"drill_{secrets.token_hex(10)}",
        created_at=started,
        finished_at=time.time(),
        target=gateway.url,
        model=model,
        deployments=drill.deployments,
        simulator=sim.url,
        steps=steps,
    )
