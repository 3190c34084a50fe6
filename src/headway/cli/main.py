"""The ``headway`` command: one typer app, one small module per command group."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from headway.cli._common import friendly_errors
from headway.cli.audit_cmd import app as audit_app
from headway.cli.backup_cmd import backup_command, restore_command
from headway.cli.eval_cmd import eval_command
from headway.cli.examples_cmd import example_command
from headway.cli.gate_cmd import gate_command
from headway.cli.jobs_cmd import batches_app, jobs_app, worker_command
from headway.cli.keys_cmd import app as keys_app
from headway.cli.load_cmd import load as load_command
from headway.cli.migrate_cmd import app as migrate_app
from headway.cli.observe_cmd import cost_command, feedback_app
from headway.cli.pipeline_cmd import app as pipeline_app
from headway.cli.records_cmd import app as records_app
from headway.cli.replicas import replicas_command
from headway.cli.retrieval_cmd import app as retrieval_app
from headway.cli.review_cmd import app as review_app

app = typer.Typer(help="Headway: the production layer for AI applications.", no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Validate the config file or print its JSON Schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
config_app.command("example")(example_command)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(migrate_app, name="migrate")
app.add_typer(records_app, name="records")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(retrieval_app, name="retrieval")
app.add_typer(review_app, name="review")
app.add_typer(feedback_app, name="feedback")
app.command("cost")(cost_command)
app.command("load")(load_command)
app.command("replicas")(replicas_command)
app.command("gate")(gate_command)
app.command("eval")(eval_command)
app.add_typer(jobs_app, name="jobs")
app.add_typer(batches_app, name="batches")
app.command("worker")(worker_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)

ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]


@app.command()
@friendly_errors
def serve(
    config: ConfigOption = "headway.yaml",
    host: Annotated[str | None, typer.Option(help="Bind address (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes.")] = None,
) -> None:
    """Run the gateway."""
    from headway.cli.serve import serve as run_serve
    from headway.config import load_config

    loaded = load_config(config)
    run_serve(
        config,
        loaded,
        host=host or loaded.server.host,
        port=port if port is not None else loaded.server.port,
        workers=workers or loaded.server.workers,
    )


@app.command()
@friendly_errors
def demo(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8000,
    sim_port: Annotated[int | None, typer.Option(help="Simulator port (default: a free one).")] = None,
) -> None:
    """Start the provider simulator and a gateway on embedded defaults."""
    from headway.cli.demo import run_demo

    run_demo(host=host, port=port, sim_port=sim_port)


@app.command()
@friendly_errors
def sim(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
    host: str = "127.0.0.1",
    scenario: Annotated[str | None, typer.Option(help="Scenario YAML: latency, faults, seed.")] = None,
) -> None:
    """Run the fault-injecting provider simulator: OpenAI (chat, Responses, embeddings), Anthropic, Azure OpenAI, Bedrock, Gemini and Vertex (Claude) dialects."""
    from headway.sim import Scenario, run_sim

    run_sim(
        Scenario.load(scenario) if scenario else Scenario(),
        host,
        port,
        on_ready=lambda url: typer.echo(f"headway sim listening on {url} (OpenAI: {url}/v1, Anthropic: {url}, control: {url}/sim/stats)"),
    )


@app.command()
@friendly_errors
def requests(
    config: ConfigOption = "headway.yaml",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    model: str | None = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
) -> None:
    """Show recent requests from the request log."""
    from headway.cli.requests_cmd import show_requests

    show_requests(config, limit=limit, model=model, as_json=as_json)


@config_app.command("check")
@friendly_errors
def config_check(path: Annotated[str, typer.Argument(help="Config file to validate.")]) -> None:
    """Validate a config file; exit 2 with the file, key path and expectation on error."""
    from headway.config import load_config
    from headway.routing import deadline_warnings

    loaded = load_config(path)
    for warning in deadline_warnings(loaded):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{path}: ok — {len(loaded.providers)} providers, {len(loaded.models)} models, store {loaded.store.split(':', 1)[0]}"
    )


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file."""
    from headway.config import HeadwayConfig

    json.dump(HeadwayConfig.model_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")


def main() -> None:
    app()
