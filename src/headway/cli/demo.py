"""``headway demo``: the simulator plus a gateway on embedded defaults, ready to paste against."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.panel import Panel

import headway
from headway.api.app import build_app
from headway.cli.serve import configure_logging
from headway.config.loader import load_config

DEMO_CONFIG = Path(headway.__file__).parent / "examples" / "demo.yaml"


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def banner(url: str, sim_url: str) -> str:
    return f"""[bold]Headway is running[/] at [cyan]{url}[/]  (simulated providers at {sim_url})

[bold]curl[/]
  curl {url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{{"model": "chat-default", "messages": [{{"role": "user", "content": "Hello"}}]}}'

[bold]OpenAI Python SDK[/]
  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key="demo")
  print(client.chat.completions.create(model="chat-default",
        messages=[{{"role": "user", "content": "Hello"}}]).choices[0].message.content)

Models: chat-default (OpenAI dialect), claude (Anthropic, translated), embed-small (embeddings).
Request log: [cyan]headway requests --config {DEMO_CONFIG}[/]   Readiness: {url}/readyz
Try a failure: add \\[sim:fault=500] to a message.   Ctrl-C stops both."""


def run_demo(*, host: str, port: int, sim_port: int | None) -> None:
    from headway.sim import Scenario, start_in_thread

    sim = start_in_thread(Scenario(), host=host, port=sim_port or _free_port(host))
    try:
        os.environ["HEADWAY_SIM_URL"] = sim.url
        config = load_config(DEMO_CONFIG)
        configure_logging(config)
        url = f"http://{host}:{port}"
        Console().print(Panel(banner(url, sim.url), title="headway demo", expand=False), highlight=False)
        uvicorn.run(
            build_app(config),
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
    finally:
        sim.stop()
