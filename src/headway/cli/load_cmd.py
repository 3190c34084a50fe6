"""``headway load``: options in, ``headway.loadtest.load_command`` does the rest.

Exit codes: 0 every SLO held, 1 an SLO was breached, 2 the options were invalid.
Runs are saved under ``--out`` (default ``.headway/loadtests``), where the readiness
gate reads the latest one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headway.cli._common import friendly_errors
from headway.loadtest import DEFAULT_RUNS_DIR


@friendly_errors
def load(
    base_url: Annotated[str, typer.Option("--base-url", "-u", help="What an OpenAI SDK takes as base_url, e.g. http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name sent in every request.")] = "gpt-4o-mini",
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar=["HEADWAY_API_KEY", "OPENAI_API_KEY"], help="Bearer key (default: $HEADWAY_API_KEY, then $OPENAI_API_KEY).")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="chat or embeddings.")] = "chat",
    concurrency: Annotated[str, typer.Option("--concurrency", "-c", help="Closed loop: in-flight levels, one step each, e.g. 1,10,50.")] = "1",
    rate: Annotated[str | None, typer.Option(help="Open loop: arrival rates in req/s, one step each (replaces --concurrency).")] = None,
    arrival: Annotated[str, typer.Option(help="Open-loop arrivals: constant or poisson.")] = "constant",
    duration: Annotated[float | None, typer.Option("--duration", "-d", help="Seconds per step (default 10 when --requests is not given).")] = None,
    requests: Annotated[int | None, typer.Option("--requests", "-n", help="Requests per step.")] = None,
    prompt_tokens: Annotated[int, typer.Option(help="Approximate prompt length in tokens.")] = 32,
    max_tokens: Annotated[int, typer.Option(help="max_tokens of every request.")] = 16,
    stream: Annotated[bool, typer.Option("--stream", help="Stream responses (measures time to first token and inter-token latency).")] = False,
    unique_prompts: Annotated[bool, typer.Option("--unique-prompts", help="Vary every prompt so caches cannot answer.")] = False,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds.")] = 60.0,
    max_in_flight: Annotated[int, typer.Option(help="Open loop: most requests in flight; later arrivals are dropped and counted.")] = 1000,
    price_input: Annotated[float | None, typer.Option(help="USD per million input tokens, for cost when the target sends no cost header.")] = None,
    price_output: Annotated[float | None, typer.Option(help="USD per million output tokens.")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="Extra header, 'Name: value' (repeatable).")] = None,
    slo: Annotated[str, typer.Option(help="Thresholds that set the exit code, e.g. p99_ms=2000,error_rate=0.01.")] = "",
    seed: Annotated[int, typer.Option(help="Seed of Poisson arrivals.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder the JSON report is saved in (the readiness gate reads the latest).")] = DEFAULT_RUNS_DIR,
    html: Annotated[Path | None, typer.Option(help="Where to write the HTML chart (default: beside the JSON).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress bars.")] = False,
) -> None:
    """Load-test any OpenAI-compatible endpoint (Headway or not): sweeps, rates, SLOs, JSON and HTML."""
    from headway.loadtest import load_command

    code = load_command(
        base_url=base_url,
        model=model,
        api_key=api_key,
        endpoint=endpoint,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        duration=duration,
        requests=requests,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=stream,
        unique_prompts=unique_prompts,
        timeout=timeout,
        max_in_flight=max_in_flight,
        price_input=price_input,
        price_output=price_output,
        header=header,
        slo=slo,
        seed=seed,
        out=out,
        html=html,
        quiet=quiet,
    )
    raise typer.Exit(code)
