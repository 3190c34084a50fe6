"""Gateways running the bundled example configs against the session simulator, and the gate run on them.

``production`` (one per session, shared by the gate's modules): ``examples/production.yaml``
on a copy of a migrated SQLite store, its pipeline run, an app key and a reviewer key
issued, gated twice with the strict profile — once before the drill (it fails: nothing
was exercised) and once with ``--drill`` after ``headway eval`` ran both declared routes'
evaluation sets (it passes, with no other traffic). Flip tests start ``staging`` gateways from the same
file with one thing changed. The example's environment (secrets, the simulator's URL,
an OTLP sink) is the site's: it is applied only while a gateway is built, never left in
the test process.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from headway.config.fingerprint import config_fingerprint
from headway.config.models import HeadwayConfig
from headway.evals import EvalOptions, EvalRun, load_set, run_eval
from headway.gate.binding import Binding
from headway.gate.config_source import parse_for_gate
from headway.gate.context import GateContext
from headway.gate.evidence import Deployment
from headway.gate.profile import Profile, parse_profile
from headway.gate.registry import BUILTIN_CHECKS
from headway.gate.results import CheckResult, GateReport
from headway.gate.runner import GateOptions, evaluate, run_gate
from headway.store.sql import open_store
from headway.testing import GatewayThread
from tests.http import request

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "headway" / "examples"
PRODUCTION = EXAMPLES / "production.yaml"
DEMO = EXAMPLES / "demo.yaml"
T = TypeVar("T")
Edit = dict[str, Any] | Callable[[dict[str, Any]], Any]
ADMIN_KEY = "hw-test-gate-admin-key-0123456789abcdef"
# The strict profile with the drill's load test bounded to a second (tests stay fast) and a p95 objective
# a shared, busy CI machine meets (the gate's tests are not a benchmark; error rate stays strict).
TEST_PROFILE = {
    "extends": "strict",
    "name": "strict-test",
    "drill": {"load_duration_s": 1, "load_requests": 150},
    "load": {"slos": "p95_ms=10000,error_rate=0.01"},
}


# The identity provider's published signing key (a public key: nothing secret).
JWKS = {"keys": [{"kty": "RSA", "kid": "gate-test", "use": "sig", "alg": "RS256", "e": "AQAB", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}]}


class _Sink(http.server.BaseHTTPRequestHandler):
    """Answers 200 to any POST (the OTLP collector, the alert and on-call receivers) and serves the IdP's JWKS."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        body = json.dumps(JWKS).encode() if self.path == "/jwks" else b""
        self.send_response(200 if body else 404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def sink() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def strict_test_profile() -> Profile:
    return parse_profile(TEST_PROFILE, source="strict-test.yaml")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


@dataclass
class Site:
    """Where one test's deployments live: environment, folders, and a migrated store template."""

    root: Path
    env: dict[str, str]
    template: Path | None = None
    counter: list[int] = field(default_factory=lambda: [0])

    def write_config(self, edit: Edit | None = None, *, base: Path = PRODUCTION) -> Path:
        """A copy of ``base`` changed by ``edit``: a mapping merged over it, or a function changing it in place."""
        raw = yaml.safe_load(base.read_text())
        if callable(edit):
            edit(raw)
        elif edit:
            raw = merge(raw, edit)
        self.counter[0] += 1
        path = self.root / f"config-{self.counter[0]}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    def store(self) -> str:
        """A store URL for a new gateway: a copy of the migrated template (a fresh migration costs a second)."""
        self.counter[0] += 1
        path = self.root / f"store-{self.counter[0]}.db"
        if self.template is not None and self.template.exists():
            shutil.copy(self.template, path)
        return f"sqlite:///{path}"

    def load(self, path: Path, *, store: str | None = None) -> HeadwayConfig:
        """The config a gateway runs; its spill journal (a relative default) goes to the test's folder."""
        raw = yaml.safe_load(path.read_text())
        raw.setdefault("request_log", {})["spill_dir"] = str(self.root / "spill")
        return parse_for_gate(raw, file=str(path), env={**self.env, "HEADWAY_STORE_URL": store or self.store()})

    def gateway(self, config: HeadwayConfig, env: dict[str, str] | None = None) -> GatewayThread:
        """A gateway built with the site's environment (``env`` over it): tracing reads OTEL_* when the runtime is made."""
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**self.env, **(env or {})}.items():
                patch.setenv(name, value)
            for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
                patch.delenv(name, raising=False)
            return GatewayThread(config)


@pytest.fixture(scope="session")
def site(sim: Any, sink: str, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Shared by the gate's test modules; the environment is the site's, never the test process's."""
    root = tmp_path_factory.mktemp("gate")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    (knowledge / "refunds.md").write_text("# Refunds\n\nRefunds reach the card within five working days.\n")
    (knowledge / "shipping.md").write_text("# Shipping\n\nOrders ship from the warehouse the next morning.\n")
    env = {
        "HEADWAY_UPSTREAM_URL": sim.url,
        "HEADWAY_ADMIN_KEY": ADMIN_KEY,
        "HEADWAY_AUDIT_SECRET": "audit-secret-for-the-gate-tests-0001",
        "HEADWAY_ALERT_WEBHOOK_SECRET": "alert-secret-for-the-gate-tests",
        "HEADWAY_ALERT_WEBHOOK_URL": sink + "/alerts",
        "HEADWAY_KNOWLEDGE_DIR": str(knowledge),
        "PROVIDER_API_KEY": "sk-sim-provider",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
        "HEADWAY_REVIEW_WEBHOOK_SECRET": "review-webhook-secret-for-the-gate-tests",
        "HEADWAY_ONCALL_URL": sink + "/oncall",
        "HEADWAY_OIDC_JWKS_URL": sink + "/jwks",
        "HEADWAY_RUNBOOK_DIR": str(EXAMPLES / "runbooks"),
        "HEADWAY_EVAL_DIR": str(EXAMPLES / "evals"),
    }
    # `headway serve` logs request lines at info; the test process's logging would hide them.
    logging.getLogger("headway.requests").setLevel(logging.INFO)
    site = Site(root, env)
    template = root / "template.db"
    store = open_store(f"sqlite:///{template}")
    try:
        store.migrate()  # only the schema: no scheduler may claim a pipeline slot in the copies' past
    finally:
        store.close()
    site.template = template
    return site


def admin(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"authorization": f"Bearer {ADMIN_KEY}", **({"content-type": "application/json"} if data else {})}
    reply = request(method, url, data, headers)
    assert 200 <= reply.status < 300, (method, url, reply.status, reply.body[:500])
    return reply.json()


def wait_for_pipeline(gateway: GatewayThread, name: str = "knowledge", timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pipeline in admin("GET", gateway.url + "/admin/pipelines")["data"]:
            run = pipeline.get("last_run")
            if pipeline["name"] == name and run and run["status"] != "running":
                return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"pipeline {name} did not run within {timeout}s")


def issue_app_key(gateway: GatewayThread) -> dict[str, Any]:
    body = {"principal": "support-app", "roles": ["app"], "models": ["chat"], "expires_in_s": 30 * 86400}
    return dict(admin("POST", gateway.url + "/admin/keys", body))


def issue_reviewer_key(gateway: GatewayThread) -> dict[str, Any]:
    """The risk team's reviewer gets a credential: a configured principal alone cannot open the queue."""
    body = {"principal": "risk-reviewer", "kind": "user", "roles": ["reviewer"], "expires_in_s": 30 * 86400}
    return dict(admin("POST", gateway.url + "/admin/keys", body))


def run_evals(site: Site, gateway: GatewayThread, config_path: Path, evals_dir: Path, routes: tuple[str, ...] = ("chat", "decisions")) -> list[EvalRun]:
    """``headway eval`` for each declared route's set, bound to ``config_path`` (as the command binds it)."""
    config = parse_for_gate(read_yaml(config_path), file=str(config_path), env=site.env)
    done = []
    for route in routes:
        eval_set = config.readiness.routes[route].eval_set
        assert eval_set is not None
        options = EvalOptions(
            url=gateway.url, api_key=ADMIN_KEY, route=route, eval_set=load_set(eval_set), judge_route="chat-backup",
            runs_dir=evals_dir, binding=Binding(config_fingerprint(config), gateway.url, [route]).to_dict(),
        )
        run, _ = run_sync(run_eval(options))
        done.append(run)
    return done


@contextmanager
def staging(
    site: Site, edit: Edit | None = None, *, ready: bool = True, env: dict[str, str] | None = None
) -> Iterator[tuple[GatewayThread, Path]]:
    """A production-config gateway changed by ``edit``; ``ready``: its pipeline ran, app and reviewer keys exist."""
    path = site.write_config(edit)
    config = site.load(path)
    with site.gateway(config, env) as gateway:
        if ready:
            if config.pipelines.definitions and config.pipelines.scheduler.enabled:
                wait_for_pipeline(gateway)
            issue_app_key(gateway)
            issue_reviewer_key(gateway)
        yield gateway, path


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@asynccontextmanager
async def context(
    site: Site,
    gateway: GatewayThread | None,
    config_path: Path,
    *,
    loadtest_dir: Path | None = None,
    profile: Profile | None = None,
    evals_dir: Path | None = None,
) -> AsyncIterator[GateContext]:
    """A gate context as ``run_gate`` builds it, for running single checks."""
    raw = read_yaml(config_path)
    deployment = Deployment(gateway.url, ADMIN_KEY) if gateway is not None else None
    ctx = GateContext(
        profile=profile or strict_test_profile(),
        config=parse_for_gate(raw, file=str(config_path), env=site.env),
        raw_config=raw,
        config_file=str(config_path),
        deployment=deployment,
        loadtest_dir=str(loadtest_dir or site.root / "loadtests"),
        evals_dir=str(evals_dir or site.root / "evals"),
    )
    try:
        yield ctx
    finally:
        if deployment is not None:
            await deployment.close()


async def run_check(check_id: str, ctx: GateContext) -> CheckResult:
    check = next(c for c in BUILTIN_CHECKS if c.id == check_id)
    ctx.now = time.time()
    ctx._recent = None
    if ctx.deployment is not None:
        ctx.deployment.forget()
    return await evaluate(check, ctx)


@dataclass
class Production:
    gateway: GatewayThread
    config_path: Path
    loadtest_dir: Path
    evals_dir: Path
    evals: list[EvalRun]
    before: GateReport  # strict, before the drill
    after: GateReport  # strict, after the drill


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread (never the test's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def production(site: Site) -> Iterator[Production]:
    """Shared by the gate's test modules: tests may read it and add reports, never change its config or keys."""
    loadtests, evals_dir = site.root / "loadtests", site.root / "evals"
    with site.gateway(site.load(PRODUCTION)) as gateway:
        wait_for_pipeline(gateway)
        issue_app_key(gateway)
        issue_reviewer_key(gateway)

        def gate(drill: bool) -> GateReport:
            options = GateOptions(
                profile=strict_test_profile(), url=gateway.url, config_file=str(PRODUCTION), drill=drill, loadtest_dir=str(loadtests),
                evals_dir=str(evals_dir), env=site.env,
            )
            return run_sync(run_gate(options))

        before = gate(False)
        evals = run_evals(site, gateway, PRODUCTION, evals_dir)
        after = gate(True)
        yield Production(gateway, PRODUCTION, loadtests, evals_dir, evals, before, after)


def statuses(report: GateReport) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


