"""The aiohttp application: model endpoints in both dialects, plus the control plane.

One request flows: parse JSON → check the key → dialect parses → choose the fault →
draw the timing → answer (error, hang, reset, or generate and play back). Every request
is counted and logged before it is answered, so even a hung one shows in ``/sim/stats``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from headway.errors import InvalidRequestError
from headway.sim import control
from headway.sim.anthropic_dialect import AnthropicDialect
from headway.sim.azure_dialect import AzureDialect
from headway.sim.bedrock_dialect import BedrockDialect
from headway.sim.cloud_auth import Denied, check_key_or_token, check_sigv4, entra_token, google_token
from headway.sim.content import generate
from headway.sim.dialect import Dialect, json_response
from headway.sim.faults import Applicability, choose_fault, parse_directives
from headway.sim.gemini_dialect import API_KEY_INVALID, GeminiDialect
from headway.sim.openai_dialect import OpenAIDialect
from headway.sim.playback import drop_connection, hang, pause, play_stream, send_truncated
from headway.sim.responses_dialect import ResponsesDialect
from headway.sim.scenario import FaultKind, FaultSettings, Scenario
from headway.sim.state import STATE, SimState
from headway.sim.stats import ABORTED, LoggedRequest
from headway.sim.timing import TIMING_DIALS, draw_timing
from headway.sim.vertex_anthropic_dialect import VertexAnthropicDialect

OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()
AZURE = AzureDialect()
BEDROCK = BedrockDialect()
GEMINI = GeminiDialect()
VERTEX_ANTHROPIC = VertexAnthropicDialect()
RESPONSES = ResponsesDialect()
ERROR_FAULTS: dict[str, int] = {"429": 429, "500": 500, "503": 503}
CLIENT_CLOSED = "client_closed"
MAX_BODY_BYTES = 64 * 1024 * 1024
_STARTED = int(time.time())

Outcome = tuple[web.StreamResponse, int | str]


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _authorized(scenario: Scenario, request: web.Request) -> bool:
    required = scenario.require_api_key
    if required is None:
        return True
    key = request.headers.get("x-api-key")
    if key is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    return key is not None and hmac.compare_digest(key.encode(), required.encode())


def _denied(state: SimState, request: web.Request, dialect: Dialect, raw: bytes) -> Denied | None:
    """Why this request's credentials are refused, in the terms of its dialect's service."""
    scenario = state.scenario
    if dialect is BEDROCK:
        return check_sigv4(scenario, request, raw)
    if dialect in (AZURE, GEMINI, VERTEX_ANTHROPIC):
        # Gemini answers a wrong API key with 400 INVALID_ARGUMENT, as Google's API does.
        gemini_key = dialect is GEMINI and _bearer_less(request)
        denied = check_key_or_token(scenario, state.tokens, request, key_status=400 if gemini_key else 401)
        if denied is not None and not denied.message:
            message = API_KEY_INVALID if gemini_key else dialect.default_message(denied.status)
            return Denied(denied.status, message, denied.headers)
        return denied
    return None if _authorized(scenario, request) else Denied(401, dialect.default_message(401))


def _bearer_less(request: web.Request) -> bool:
    return not request.headers.get("Authorization", "").lower().startswith("bearer ")


def _timing_overrides(headers: Mapping[str, str], directives: Mapping[str, str]) -> dict[str, float]:
    """Per-request timing, header first then directive, e.g. ``x-sim-latency-ms: 250``."""
    overrides: dict[str, float] = {}
    for name in TIMING_DIALS:
        raw = headers.get("x-sim-" + name.replace("_", "-"))
        if raw is None:
            raw = directives.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise InvalidRequestError(f"sim {name} must be a number of milliseconds, got {raw!r}") from None
        if value < 0:
            raise InvalidRequestError(f"sim {name} must not be negative")
        overrides[name] = value
    return overrides


async def _serve(
    request: web.Request, dialect: Dialect, entry: LoggedRequest, body: Any, raw: bytes, from_path: dict[str, Any]
) -> Outcome:
    state = request.app[STATE]
    scenario = state.scenario
    if body is None:
        return dialect.error(400, "We could not parse the JSON body of your request."), 400
    denied = _denied(state, request, dialect, raw)
    if denied is not None:
        return dialect.error(denied.status, denied.message, headers=denied.headers), denied.status
    try:
        # Model and streaming named by the path (Azure deployments, Bedrock, Gemini) win over the body.
        prompt = dialect.parse({**body, **from_path} if isinstance(body, dict) else body)
        dials = state.dials(prompt.model)
        applicability = Applicability(True, prompt.tool is not None, prompt.wants_json)
        fault, source = choose_fault(
            headers=request.headers,
            directives=prompt.directives,
            queue=state.queue,
            settings=dials.faults,
            rng=state.fault_rng,
            model=prompt.model,
            applicability=applicability,
        )
        overrides = _timing_overrides(request.headers, prompt.directives)
    except InvalidRequestError as exc:
        return dialect.error(400, exc.message, param=exc.param), 400
    state.recorder.fault(entry, fault, source)
    timing = draw_timing(dials, state.latency_rng, overrides, slow_first_token=fault == "slow_first_token")
    early = await _early_fault(request, state, dialect, fault, timing.latency, dials.faults)
    if early is not None:
        return early
    completion = generate(prompt, seed=scenario.seed, output_tokens=dials.output_tokens, fault=fault)
    if prompt.stream:
        await pause(timing.latency)
        frames = dialect.frames(completion, prompt, malformed=fault == "malformed")
        cut_after = dials.faults.cut_after_chunks if fault == "cut" else None
        response = await play_stream(
            request, frames, timing, cut_after=cut_after, content_type=dialect.stream_content_type
        )
        return response, (ABORTED if cut_after is not None else 200)
    await pause(timing.generation_time(completion.completion_tokens))
    if fault == "malformed":
        return json_response(dialect.malformed_body()), 200
    payload = dialect.body(completion, prompt)
    if fault == "cut":
        return await send_truncated(request, payload), ABORTED
    return json_response(payload), 200


async def _early_fault(
    request: web.Request,
    state: SimState,
    dialect: Dialect,
    fault: FaultKind | None,
    latency: float,
    settings: FaultSettings,
) -> Outcome | None:
    """Faults answered before any content is generated: errors, hang, reset."""
    if fault is None:
        return None
    status = ERROR_FAULTS.get(fault)
    if status is not None:
        await pause(latency)
        headers = {"Retry-After": f"{settings.retry_after_s:g}"} if status == 429 else None
        return dialect.error(status, dialect.default_message(status), headers=headers), status
    if fault == "hang":
        await hang(request, settings.hang_max_s, state.stopping)
        return web.Response(), ABORTED
    if fault == "reset":
        await pause(latency)
        drop_connection(request, reset=True)
        return web.Response(), ABORTED
    return None


async def _record(
    request: web.Request, dialect: Dialect, endpoint: str, from_path: dict[str, Any] | None = None
) -> web.StreamResponse:
    """Log and count one model-endpoint request around ``_serve``."""
    state = request.app[STATE]
    raw = await request.read()
    body = _loads(raw)
    from_path = from_path or {}
    fields = {**body, **from_path} if isinstance(body, dict) else from_path
    model = fields.get("model") if isinstance(fields.get("model"), str) else None
    entry = state.recorder.begin(
        method=request.method,
        path=request.path,
        endpoint=endpoint,
        headers=request.headers,
        body=body,
        model=model,
        stream=bool(fields.get("stream")),
    )
    status: int | str = CLIENT_CLOSED
    try:
        if endpoint == "embeddings":
            response, status = await _serve_embeddings(request, dialect, entry, body, raw, from_path)
        else:
            response, status = await _serve(request, dialect, entry, body, raw, from_path)
        return response
    except ConnectionResetError:  # the client hung up while we were writing
        return web.Response()
    finally:
        state.recorder.finish(entry, status)


async def _serve_embeddings(
    request: web.Request, dialect: Dialect, entry: LoggedRequest, body: Any, raw: bytes, from_path: dict[str, Any]
) -> Outcome:
    state = request.app[STATE]
    scenario = state.scenario
    if body is None:
        return OPENAI.error(400, "We could not parse the JSON body of your request."), 400
    denied = _denied(state, request, dialect, raw)
    if denied is not None:
        return dialect.error(denied.status, denied.message, headers=denied.headers), denied.status
    try:
        fields = {**body, **from_path} if isinstance(body, dict) else body
        model, inputs, dimensions, encoding = OPENAI.parse_embeddings(fields, scenario.embedding_dimensions)
        dials = state.dials(model)
        directives = parse_directives(inputs[-1])
        fault, source = choose_fault(
            headers=request.headers,
            directives=directives,
            queue=state.queue,
            settings=dials.faults,
            rng=state.fault_rng,
            model=model,
            applicability=Applicability(False, False, False),
        )
        overrides = _timing_overrides(request.headers, directives)
    except InvalidRequestError as exc:
        return OPENAI.error(400, exc.message, param=exc.param), 400
    state.recorder.fault(entry, fault, source)
    timing = draw_timing(dials, state.latency_rng, overrides)
    early = await _early_fault(request, state, OPENAI, fault, timing.latency, dials.faults)
    if early is not None:
        return early
    await pause(timing.latency)
    if fault == "malformed":
        return json_response(OPENAI.malformed_body()), 200
    payload = OPENAI.embeddings_body(model, inputs, dimensions, encoding)
    if fault == "cut":
        return await send_truncated(request, payload), ABORTED
    return json_response(payload), 200


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _record(request, OPENAI, "chat.completions")


async def responses(request: web.Request) -> web.StreamResponse:
    return await _record(request, RESPONSES, "responses")


async def messages(request: web.Request) -> web.StreamResponse:
    return await _record(request, ANTHROPIC, "messages")


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await _record(request, OPENAI, "embeddings")


async def azure_deployment(request: web.Request) -> web.StreamResponse:
    """Azure's classic API: ``/openai/deployments/{deployment}/{operation}?api-version=…``."""
    operation = request.match_info["operation"]
    if "api-version" not in request.query:
        await request.read()
        return AZURE.error(404, "Resource not found")  # what Azure answers without api-version
    endpoint = "embeddings" if operation == "embeddings" else "chat.completions"
    return await _record(request, AZURE, endpoint, {"model": request.match_info["deployment"]})


async def azure_v1(request: web.Request) -> web.StreamResponse:
    endpoint = "embeddings" if request.match_info["operation"] == "embeddings" else "chat.completions"
    return await _record(request, AZURE, endpoint)


async def bedrock_converse(request: web.Request) -> web.StreamResponse:
    stream = request.match_info["operation"] == "converse-stream"
    return await _record(request, BEDROCK, "converse", {"model": request.match_info["model"], "stream": stream})


def _method(target: str) -> tuple[str, str]:
    model, _, method = target.rpartition(":")
    return model, method


async def gemini_models(request: web.Request) -> web.StreamResponse:
    """``/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""
    return await _google(request, "google", request.match_info["target"])


async def vertex_models(request: web.Request) -> web.StreamResponse:
    """``/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{method}``."""
    return await _google(request, request.match_info["publisher"], request.match_info["target"])


async def _google(request: web.Request, publisher: str, target: str) -> web.StreamResponse:
    model, method = _method(target)
    if publisher == "anthropic" and method in ("rawPredict", "streamRawPredict"):
        return await _record(request, VERTEX_ANTHROPIC, "messages", {"model": model})
    if publisher == "google" and method in ("generateContent", "streamGenerateContent"):
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":
            await request.read()
            return GEMINI.error(400, "The simulator streams Gemini answers only as SSE: add ?alt=sse.")
        return await _record(request, GEMINI, "generateContent", {"model": model, "stream": stream})
    await request.read()
    return GEMINI.error(404, f"Method {method!r} of publisher {publisher!r} is not simulated.")


async def _token(request: web.Request, grant: str) -> web.StreamResponse:
    """A token endpoint; its form (secrets, assertions) is never logged."""
    state = request.app[STATE]
    form = await request.post()
    entry = state.recorder.begin(
        method=request.method, path=request.path, endpoint=f"token.{grant}", headers=request.headers,
        body={"grant_type": form.get("grant_type")}, model=None, stream=False,
    )  # fmt: skip
    if grant == "entra":
        status, body = entra_token(state.scenario, state.tokens, form)
    else:
        audience = str(request.url.with_query(None))
        status, body = google_token(state.scenario, state.tokens, form, audience)
    state.recorder.finish(entry, status)
    return web.json_response(body, status=status)


async def entra_token_endpoint(request: web.Request) -> web.StreamResponse:
    return await _token(request, "entra")


async def google_token_endpoint(request: web.Request) -> web.StreamResponse:
    return await _token(request, "google")


async def models(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    anthropic = "anthropic-version" in request.headers
    dialect: Dialect = ANTHROPIC if anthropic else OPENAI
    entry = state.recorder.begin(
        method=request.method,
        path=request.path,
        endpoint="models",
        headers=request.headers,
        body=None,
        model=None,
        stream=False,
    )
    if not _authorized(state.scenario, request):
        state.recorder.finish(entry, 401)
        return dialect.error(401, dialect.default_message(401))
    names = state.scenario.model_names()
    body = ANTHROPIC.models_body(names) if anthropic else OPENAI.models_body(names, _STARTED)
    state.recorder.finish(entry, 200)
    return json_response(body)


async def _wake_hung(app: web.Application) -> None:
    app[STATE].stopping.set()


def build_app(scenario: Scenario) -> web.Application:
    """The simulator as an aiohttp application (serve it with ``SimServer`` or any runner)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = SimState(scenario)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/openai/deployments/{deployment}/{operation:chat/completions|embeddings}", azure_deployment)
    app.router.add_post("/openai/v1/{operation:chat/completions|embeddings}", azure_v1)
    app.router.add_post("/model/{model}/{operation:converse|converse-stream}", bedrock_converse)
    app.router.add_post("/v1beta/models/{target}", gemini_models)
    app.router.add_post("/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}", vertex_models)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", entra_token_endpoint)
    app.router.add_post("/token", google_token_endpoint)
    control.add_routes(app.router)
    app.on_shutdown.append(_wake_hung)
    return app
