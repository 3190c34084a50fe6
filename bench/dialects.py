"""What translating a dialect costs: the same answer asked for as chat, Responses, Messages
and legacy completions, through one in-process gateway and the simulator (its default scenario).

    .venv/bin/python bench/dialects.py [--requests 300]

Sequential requests on 127.0.0.1 (bounded: ``--requests`` per dialect); prints p50/p95 per
dialect and the difference from chat, which is the translation's cost (both directions,
plus ``store: true`` for Responses: one insert per response).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import base_config  # noqa: E402

from headway.config.loader import parse_config  # noqa: E402
from headway.sim import Scenario, start_in_thread  # noqa: E402
from headway.testing import GatewayThread  # noqa: E402

TEXT = "Say hello in five words"
BODIES = {
    "chat": ("/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": TEXT}], "max_tokens": 20}),
    "responses (store)": ("/v1/responses", {"model": "chat", "input": TEXT, "max_output_tokens": 20}),
    "responses (no store)": ("/v1/responses", {"model": "chat", "input": TEXT, "max_output_tokens": 20, "store": False}),
    # The same through an OpenAI-type provider with ``responses: native`` (the simulator's /v1/responses).
    "responses native (store)": ("/v1/responses", {"model": "native", "input": TEXT, "max_output_tokens": 20}),
    "responses native (no store)": ("/v1/responses", {"model": "native", "input": TEXT, "max_output_tokens": 20, "store": False}),
    "messages": ("/v1/messages", {"model": "chat", "max_tokens": 20, "messages": [{"role": "user", "content": TEXT}]}),
    "completions": ("/v1/completions", {"model": "chat", "prompt": TEXT, "max_tokens": 20}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    sim = start_in_thread(Scenario(seed=7), host="127.0.0.1", port=0)
    directory = Path(tempfile.mkdtemp(prefix="hw-bench-dialects-"))
    try:
        native = {"sim-native": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key": "${SIM_KEY:-sk-sim-openai}", "responses": "native"}}
        models = {"native": {"deployments": [{"provider": "sim-native", "model": "gpt-4o-mini"}]}}
        config = base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", providers=native, models=models)
        with GatewayThread(parse_config(config)) as gw:
            connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)  # one keep-alive connection

            def post(path: str, body: dict[str, object]) -> None:
                connection.request("POST", path, json.dumps(body), {"content-type": "application/json"})
                response = connection.getresponse()
                response.read()
                assert response.status == 200, response.status

            results: dict[str, list[float]] = {}
            for name, (path, body) in BODIES.items():
                for _ in range(20):  # warm up
                    post(path, body)
                samples = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    post(path, body)
                    samples.append((time.perf_counter() - started) * 1000)
                results[name] = samples
            base = statistics.median(results["chat"])
            print(f"{'dialect':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 vs chat':>12}")
            for name, samples in results.items():
                p50 = statistics.median(samples)
                p95 = statistics.quantiles(samples, n=20)[18]
                print(f"{name:<28} {p50:8.2f} {p95:8.2f} {p50 - base:+11.2f}")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
