"""``headway demo``: the simulator and a production-shaped gateway, with a guided tour.

The demo config (``examples/demo.yaml``) has auth on, a model with retries, a breaker, a
fallback and a degraded mode, a consequential route held for review, a pipeline feeding
retrieval, alert rules and the console. Before serving, the demo creates one key per role
(app, reviewer, operator); once the gateway answers, the tour indexes the bundled articles,
asks a RAG question, leaves a request waiting in the reviewer's queue and runs ``headway
gate``, then prints a banner with everything a newcomer needs to try next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console

import headway
from headway.api import build_app
from headway.cli.keys_cmd import Session, cli_actor
from headway.cli.replicas import free_port
from headway.cli.serve import configure_logging
from headway.config import load_config

EXAMPLES = Path(headway.__file__).parent / "examples"
DEMO_CONFIG = EXAMPLES / "demo.yaml"
KNOWLEDGE = EXAMPLES / "knowledge"
LOG_FILE = Path(".headway") / "demo.log"  # relative to where the demo runs, like its database
ENV_FILE = Path(".headway") / "demo.env"  # what the CLI in another terminal needs to read demo.yaml
# principal -> role: who the demo issues keys to (declared under auth.principals in demo.yaml)
DEMO_PRINCIPALS = {"demo-app": "app", "demo-reviewer": "reviewer", "demo-operator": "operator"}
PRIMARY_SIM_MODEL = "gpt-4o-mini"  # chat-default's only deployment
PRIMARY_ATTEMPTS = 3  # chat-default: max_retries 2, so three failures send it to the fallback


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def demo_environment(environ: Mapping[str, str], sim_url: str, env_file: Path) -> dict[str, str]:
    """The variables demo.yaml reads, also written to ``env_file`` (0600) for the CLI in another terminal.

    The audit chain's secret is made once and kept in that file: every later run (and ``headway
    audit verify``) must use the same one, or the chain would not verify across restarts.
    """
    kept = read_env_file(env_file)
    store = environ.get("HEADWAY_DEMO_STORE") or f"sqlite:///{(env_file.parent / 'demo.db').resolve()}"
    values = {
        "HEADWAY_SIM_URL": sim_url,
        "HEADWAY_AUDIT_SECRET": environ.get("HEADWAY_AUDIT_SECRET") or kept.get("HEADWAY_AUDIT_SECRET") or secrets.token_urlsafe(32),
        "HEADWAY_DEMO_KNOWLEDGE": environ.get("HEADWAY_DEMO_KNOWLEDGE") or str(KNOWLEDGE),
        "HEADWAY_DEMO_STORE": store,
    }
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.touch(mode=0o600, exist_ok=True)
    env_file.chmod(0o600)
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()), encoding="utf-8")
    return values


def create_demo_keys(config_path: str) -> dict[str, str]:
    """One fresh key per demo principal (role -> key); earlier demo runs' keys are revoked."""
    from headway.auth import anonymous, key_spec, parse_key_request

    tokens: dict[str, str] = {}
    with Session(config_path) as session:
        for principal, role in DEMO_PRINCIPALS.items():
            for old in session.keys.list_keys(principal=principal, limit=1000):
                session.keys.revoke(old.key_id)
            request = parse_key_request({"principal": principal, "roles": [role], "description": "headway demo"})
            spec = key_spec(session.config.auth, request, anonymous(session.config.auth.data_classes))
            record, token = session.keys.create(spec, created_by=cli_actor())
            session.record("key.create", f"key:{record.key_id}", principal=principal, roles=[role], team=spec.team)
            tokens[role] = token
    return tokens


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def http(
    method: str, url: str, *, key: str | None = None, body: Any = None, timeout: float = 30.0, headers: Mapping[str, str] | None = None
) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**({"content-type": "application/json"} if data is not None else {}), **(headers or {})}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, head = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, head = exc.read(), exc.code, exc.headers
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return Reply(status, {k.lower(): v for k, v in head.items()}, parsed)


def chat(url: str, key: str, model: str, text: str, headers: Mapping[str, str] | None = None) -> Reply:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return http("POST", f"{url}/v1/chat/completions", key=key, body=body, headers=headers)


def answer_text(reply: Reply) -> str:
    try:
        return str(reply.body["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        return json.dumps(reply.body)[:200]


@dataclass
class Tour:
    """What the tour did, for the banner and for the test that walks it."""

    url: str
    sim_url: str
    keys: dict[str, str]
    pipeline: str | None = None  # the knowledge run's status
    rag: str | None = None  # retrieval quality of the RAG question
    held_review: str | None = None
    held_request: str | None = None
    gate: str | None = None  # verdict line
    gate_findings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def wait_until_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http("GET", f"{url}/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the gateway at {url} did not answer within {timeout:g}s")


def index_knowledge(tour: Tour, timeout: float = 60.0) -> None:
    operator = tour.keys["operator"]
    started = http("POST", f"{tour.url}/admin/pipelines/knowledge/runs", key=operator, body={})
    if started.status not in (200, 202):
        tour.problems.append(f"pipeline run not started: {started.status} {started.body}")
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = http("GET", f"{tour.url}/admin/pipelines/knowledge/runs?limit=1", key=operator).body
        data = runs.get("data") if isinstance(runs, dict) else None
        if data and data[0].get("status") not in (None, "running", "queued"):
            tour.pipeline = str(data[0]["status"])
            return
        time.sleep(0.3)
    tour.problems.append(f"the knowledge pipeline did not finish within {timeout:g}s")


def run_tour(tour: Tour, *, gate: bool = True) -> Tour:
    """The steps a newcomer would take, done once so the banner can show their results."""
    wait_until_ready(tour.url)
    index_knowledge(tour)
    rag = chat(tour.url, tour.keys["app"], "support", "How long do refunds take?")
    tour.rag = f"{rag.status} {rag.headers.get('x-headway-served-by', '')}".strip()
    # A ticket (202) rather than the plain SDK call's 409 review_pending: both carry the review id.
    held = chat(
        tour.url, tour.keys["app"], "decisions", "Approve a credit limit of 5,000 EUR for customer 1042?",
        headers={"prefer": "review=ticket"},
    )
    if held.status in (202, 409) and held.headers.get("x-headway-review-id"):
        tour.held_review = held.headers.get("x-headway-review-id")
        tour.held_request = held.headers.get("x-request-id")
    else:
        tour.problems.append(f"the consequential request was not held: {held.status} {answer_text(held)}")
    if gate:
        run_demo_gate(tour)
    return tour


def run_demo_gate(tour: Tour) -> None:
    from headway.gate import GateOptions, load_profile, run_gate

    options = GateOptions(
        profile=load_profile("standard"), url=tour.url, config_file=str(DEMO_CONFIG), api_key=tour.keys["operator"], save=True
    )
    try:
        report = asyncio.run(run_gate(options))
    except Exception as exc:  # the demo goes on; the banner says what happened
        tour.gate = f"could not run: {exc.__class__.__name__}: {exc}"
        return
    score = f"{report.score:.2f}" if report.score is not None else "-"
    tour.gate = f"{report.verdict_label} (score {score}, {len(report.checks)} checks)"
    tour.gate_findings = [f"{c.status}: {c.title} — {c.summary}" for c in report.failing()[:5]]


def fallback_command(url: str, sim_url: str, app_key: str) -> str:
    """One line: the primary's next calls fail (queued in the simulator), then ask; the fallback answers."""
    fault = json.dumps({"fault": "500", "model": PRIMARY_SIM_MODEL, "count": PRIMARY_ATTEMPTS})
    ask = json.dumps({"model": "chat-default", "messages": [{"role": "user", "content": "Hello"}]})
    return (
        f"curl -s -o /dev/null {sim_url}/sim/faults -d '{fault}' && "
        f"curl -s -D - {url}/v1/chat/completions -H 'authorization: Bearer {app_key}' "
        f"-H 'content-type: application/json' -d '{ask}' | grep -iE 'x-headway-served-by|content'"
    )


def banner(tour: Tour, config_path: str) -> str:
    url, keys = tour.url, tour.keys
    lines = [
        f"[bold]Headway is running[/] at [cyan]{url}[/]  (simulated providers at {tour.sim_url})",
        "",
        f"[bold]Console[/]   [cyan]{url}/console/[/]  ({url}/ leads there; log in with a key below)",
        f"[bold]Keys[/]      app       {keys['app']}",
        f"          reviewer  {keys['reviewer']}",
        f"          operator  {keys['operator']}",
        "",
        "[bold]Ask[/] (OpenAI SDK or curl, base_url " + f"{url}/v1, api_key = the app key)",
        f"  curl {url}/v1/chat/completions -H 'authorization: Bearer {keys['app']}' \\",
        "    -H 'content-type: application/json' \\",
        '    -d \'{"model": "chat-default", "messages": [{"role": "user", "content": "Hello"}]}\'',
        "",
        "[bold]Make the primary fail[/]: the answer comes from the fallback (x-headway-served-by: fallback:claude)",
        f"  {fallback_command(url, tour.sim_url, keys['app'])}",
        "  Every model failing instead: put \\[sim:fault=500] in the message; the degraded message answers.",
        "",
    ]
    if tour.held_review:
        lines.append(
            f"[bold]Review[/]    request {tour.held_request} is held: {url}/console/reviews/{tour.held_review} "
            "(log in with the reviewer key)"
        )
    if tour.pipeline:
        lines.append(f"[bold]Pipeline[/]  knowledge indexed ({tour.pipeline}); model 'support' answers from it ({tour.rag})")
    if tour.gate:
        lines.append(f"[bold]Gate[/]      headway gate: {tour.gate}")
        lines.extend(f"            {finding}" for finding in tour.gate_findings)
        lines.append(
            f"          rerun (add --drill for the fault drill and a load test): "
            f"headway gate --config {config_path} --url {url} --api-key {keys['operator']}"
        )
    lines.extend(f"[yellow]note:[/] {problem}" for problem in tour.problems)
    lines += [
        "",
        f"[bold]Another terminal[/] (the CLI reads the same config): set -a; . ./{ENV_FILE}; set +a",
        f"  headway requests --config {config_path}     headway review list --config {config_path}",
        f"Log lines: {LOG_FILE}   Metrics: {url}/metrics (operator key)",
        "Ctrl-C stops both.",
    ]
    return "\n".join(lines)


def run_demo(*, host: str, port: int, sim_port: int | None, gate: bool = True, on_tour: Callable[[Tour], None] | None = None) -> None:
    from headway.sim import Scenario, start_in_thread

    console = Console()
    sim = start_in_thread(Scenario(), host=host, port=sim_port or free_port(host))
    server: uvicorn.Server | None = None
    stack = contextlib.ExitStack()
    try:
        os.environ.update(demo_environment(os.environ, sim.url, ENV_FILE))
        # The local embedding model's loaders draw progress bars; the banner is the demo's output.
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        config_path = str(DEMO_CONFIG)
        config = load_config(config_path)
        # The terminal is for the banner; the JSON log lines (one per request) go to a file.
        LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        log_stream = stack.enter_context(LOG_FILE.open("a", encoding="utf-8"))
        configure_logging(config, stream=log_stream)
        # sentence-transformers draws a progress bar per batch while its logger says INFO.
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        keys = create_demo_keys(config_path)
        url = f"http://{host}:{port}"
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(config), host=host, port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", timeout_graceful_shutdown=5,
                log_config=None,  # uvicorn's lines go to the demo's log file with the rest
            )
        )
        tour = Tour(url=url, sim_url=sim.url, keys=keys)

        def guide() -> None:
            console.print("headway demo: starting; indexing the knowledge base, holding a request for review"
                          + (", running the gate" if gate else "") + " …", highlight=False)
            try:
                run_tour(tour, gate=gate)
            except Exception as exc:  # the gateway keeps serving; the banner says what did not work
                tour.problems.append(f"tour stopped: {exc.__class__.__name__}: {exc}")
            # Not in a panel: commands must copy and paste whole, whatever the terminal's width.
            console.rule("headway demo")
            console.print(banner(tour, config_path), highlight=False, soft_wrap=True)
            console.rule()
            if on_tour is not None:
                on_tour(tour)

        threading.Thread(target=guide, name="headway-demo-tour", daemon=True).start()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the demo ends
            server.run()
        console.print("headway demo: stopped", highlight=False)
    finally:
        sim.stop()
        stack.close()
