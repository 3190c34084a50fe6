"""What resilience, a cache miss and a review policy that does not match add to a request, in process.

    .venv/bin/python bench/features_overhead.py [--requests 2000] [--rounds 5]
    .venv/bin/python bench/features_overhead.py --served [--seconds 6] [--rounds 3] [--server-cpus 1 --client-cpus 0]

Issue 19 asks that "resilience (retries, breakers, fallbacks configured but not firing), a
cache miss and a review policy that does not match add ≤ 10 % together". Two configs, both
the default served setup (auth required with a real store-made key, request log with its
crash segment, metrics), the nginx upstream (``_harness.nginx_upstream``):

- ``default``: one deployment, the defaults;
- ``features``: the same plus retries (2), a circuit breaker, a fallback model, a degraded
  message and a deadline; the exact response cache on for the model, every prompt unique so
  every request misses (looks up, goes upstream, stores the answer); and a review policy
  (``hold`` on ``metadata.consequential``) that no request matches.

Each round runs one config in a fresh process (start-up and a warm-up outside the count),
the configs alternating round by round so a busy machine's drift hits both alike, and
reports the serving thread's CPU µs per request (``time.thread_time``) and the process's
(all threads: the request-log writer too). Both send unique prompts, so the bodies cost the
same. A sanity pass first checks that the features config really caches (a repeated prompt
is answered from the cache) and that the default config does not.

``--served`` measures the same two configs through ``headway serve`` instead: wrk at C=10
(a Lua script making every prompt unique), the process's CPU per request from /proc (all
threads, the HTTP server's work included) and req/s, alternating configs round by round,
each round a fresh server with a 2 s warm-up. That is what a request costs a deployment;
the in-process figure leaves out the server's share, so it reads higher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import WRK_REPORT, cpu_seconds, headway_server, keyed_gateway_config, nginx_upstream, run_wrk

FEATURES = """
models:
  chat:
    deployments: [{provider: upstream, model: gpt-4o-mini}]
    price: {input: 0.15, output: 0.60}
    retries: {max_retries: 2}
    breaker: {failure_ratio: 0.5, min_requests: 10}
    fallbacks: {timeout: [backup], error: [backup], rate_limit: [backup]}
    degraded: {message: "Busy, try again soon."}
    deadline_s: 30
    cache: {enabled: true}
  backup:
    deployments: [{provider: upstream, model: gpt-4o-mini-backup}]
review:
  policies:
    consequential:
      match: {metadata: {consequential: true}}
      action: hold
"""


def features_config(default: Path, extra: str = "") -> Path:
    """``default`` (the bench config) with FEATURES for its models, its own spill folder, and
    ``extra`` top-level YAML, written beside it."""
    text = default.read_text()
    features = default.with_name("features.yaml")
    features.write_text(text[: text.index("models:")].replace("/spill}", "/spill-features}") + extra + FEATURES)
    return features


# Unique per process too: the cache persists in the store, so a later round would hit.
SALT = uuid.uuid4().hex[:8]


def body(i: int) -> bytes:
    return json.dumps({"model": "chat", "messages": [{"role": "user", "content": f"hi {SALT} {i}"}], "max_tokens": 5}).encode()


async def drive(config: Path, key: str, requests: int, warmup: int, sanity: bool) -> dict[str, Any]:
    from inprocess_path import flush_writes, post

    from headway.api.app import build_app
    from headway.cli.serve import settle_heap
    from headway.config.loader import load_config

    app = build_app(load_config(str(config)))
    headers = [(b"authorization", b"Bearer " + key.encode())]
    served: list[str | None] = []
    async with app.router.lifespan_context(app):
        settle_heap()  # as `headway serve` does once started: start-up objects frozen, young threshold 5,000
        app.state.runtime.request_log.add_observer(lambda record: served.append(record.served_by))
        if sanity:  # the same prompt twice: the second is a cache hit where the cache is on
            for _ in range(2):
                assert await post(app, headers=headers, body=body(-1)) == 200
            return {"second_served_by": served[-1]}
        for i in range(warmup):
            assert await post(app, headers=headers, body=body(i)) == 200
        await flush_writes(app)  # the warm-up's rows are written outside the count
        bodies = [body(warmup + i) for i in range(requests)]
        thread, process = time.thread_time(), time.process_time()
        statuses = [await post(app, headers=headers, body=one) for one in bodies]
        await flush_writes(app)
        thread, process = time.thread_time() - thread, time.process_time() - process
    assert statuses == [200] * requests, sorted(set(statuses))
    assert all(by == "primary" for by in served[-requests:]), set(served[-requests:])  # no retry, fallback or hit fired
    return {"thread_us": thread / requests * 1e6, "process_us": process / requests * 1e6}


def unique_prompts_script(directory: Path, key: str) -> Path:
    """A wrk script posting chat requests whose prompts never repeat (every one a cache miss):
    a salt of its own (the cache persists across rounds), the wrk thread's id, a counter."""
    salt = uuid.uuid4().hex[:12]
    script = directory / f"unique-{salt}.lua"
    script.write_text(
        "counter = 0\n"
        "threads = 0\n"
        "setup = function(thread)\n  threads = threads + 1\n  thread:set(\"id\", threads)\nend\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "request = function()\n"
        "  counter = counter + 1\n"
        f"  local body = '{{\"model\":\"chat\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi {salt} ' .. id .. "
        "'-' .. counter .. '\"}],\"max_tokens\":5}'\n"
        "  return wrk.format(nil, nil, nil, body)\n"
        "end\n" + WRK_REPORT
    )
    return script


def served_round(config: Path, key: str, seconds: int, server_cpus: str | None, client_cpus: str | None) -> dict[str, Any]:
    with headway_server(config, cpus=server_cpus) as (port, proc):
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        run_wrk(url, unique_prompts_script(config.parent, key), connections=10, seconds=2, cpus=client_cpus)  # warm-up
        before = cpu_seconds(proc.pid)
        result = run_wrk(url, unique_prompts_script(config.parent, key), connections=10, seconds=seconds, cpus=client_cpus)
        used = cpu_seconds(proc.pid) - before
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"{config.name}: {result}")
    return {"cpu_us": used / result["requests"] * 1e6, "rps": result["rps"], "p99_ms": result["p99_ms"]}


def alternating(
    configs: dict[str, Path], rounds: int, measure: Callable[[Path], dict[str, Any]], compared: Sequence[str]
) -> dict[str, Any]:
    """``measure`` each config once per round, their order reversed every other round so a busy
    machine's drift hits both alike; medians and runs of every measure, what ``features`` adds to
    ``default`` for each ``compared`` one, and the load average seen."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    loads = [os.getloadavg()[0]]
    for round_ in range(rounds):
        for name in (configs if round_ % 2 == 0 else reversed(list(configs))):
            results[name].append(measure(configs[name]))
            loads.append(os.getloadavg()[0])
    summary: dict[str, Any] = {
        name: {
            key: {"median": round(statistics.median(r[key] for r in runs), 1), "runs": [round(r[key], 1) for r in runs]}
            for key in runs[0]
        }
        for name, runs in results.items()
    }
    for key in compared:
        base, more = summary["default"][key]["median"], summary["features"][key]["median"]
        summary[f"added_{key}"] = {"us": round(more - base, 1), "percent": round((more - base) / base * 100, 1)}
    summary["load_average"] = {"min": round(min(loads), 2), "max": round(max(loads), 2)}
    return summary


def child(config: Path, key: str, requests: int, warmup: int, sanity: bool = False) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(config), key, "--requests", str(requests), "--warmup", str(warmup),
         *(["--sanity"] if sanity else [])],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--served", action="store_true", help="through headway serve and wrk at C=10")
    parser.add_argument("--seconds", type=int, default=6, help="--served: measured seconds per round")
    parser.add_argument("--server-cpus", default=None, help="--served: taskset CPU list for headway (e.g. 1)")
    parser.add_argument("--client-cpus", default=None, help="--served: taskset CPU list for wrk (e.g. 0)")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "KEY"), help=argparse.SUPPRESS)
    parser.add_argument("--sanity", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(drive(Path(args.child[0]), args.child[1], args.requests, args.warmup, args.sanity))))
        return

    with tempfile.TemporaryDirectory(prefix="hw-features-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        default, key = keyed_gateway_config(upstream, directory)
        configs = {"default": default, "features": features_config(default)}
        if args.served:
            print(json.dumps(alternating(
                configs, args.rounds,
                lambda config: served_round(config, key, args.seconds, args.server_cpus, args.client_cpus),
                compared=("cpu_us",),
            ), indent=1))
            return
        sanity = {name: child(config, key, 0, 0, sanity=True)["second_served_by"] for name, config in configs.items()}
        assert sanity == {"default": "primary", "features": "cache"}, sanity
        summary = alternating(
            configs, args.rounds, lambda config: child(config, key, args.requests, args.warmup),
            compared=("thread_us", "process_us"),
        )
        summary["requests_per_round"] = args.requests
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
