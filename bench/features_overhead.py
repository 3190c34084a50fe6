"""What resilience, a cache miss and a review policy that does not match add to a request, in process.

    .venv/bin/python bench/features_overhead.py [--requests 2000] [--rounds 5]

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
from pathlib import Path
from typing import Any

from _harness import keyed_gateway_config, nginx_upstream

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


# Unique per process too: the cache persists in the store, so a later round would hit.
SALT = uuid.uuid4().hex[:8]


def body(i: int) -> bytes:
    return json.dumps({"model": "chat", "messages": [{"role": "user", "content": f"hi {SALT} {i}"}], "max_tokens": 5}).encode()


async def drive(config: Path, key: str, requests: int, warmup: int, sanity: bool) -> dict[str, Any]:
    from inprocess_path import post

    from headway.api.app import build_app
    from headway.config.loader import load_config

    app = build_app(load_config(str(config)))
    headers = [(b"authorization", b"Bearer " + key.encode())]
    served: list[str | None] = []
    async with app.router.lifespan_context(app):
        app.state.runtime.request_log.add_observer(lambda record: served.append(record.served_by))
        if sanity:  # the same prompt twice: the second is a cache hit where the cache is on
            for _ in range(2):
                assert await post(app, headers=headers, body=body(-1)) == 200
            return {"second_served_by": served[-1]}
        for i in range(warmup):
            assert await post(app, headers=headers, body=body(i)) == 200
        bodies = [body(warmup + i) for i in range(requests)]
        thread, process = time.thread_time(), time.process_time()
        statuses = [await post(app, headers=headers, body=one) for one in bodies]
        thread, process = time.thread_time() - thread, time.process_time() - process
        await app.state.runtime.request_log.flush()
    assert statuses == [200] * requests, sorted(set(statuses))
    assert all(by == "primary" for by in served[-requests:]), set(served[-requests:])  # no retry, fallback or hit fired
    return {"thread_us": thread / requests * 1e6, "process_us": process / requests * 1e6}


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
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "KEY"), help=argparse.SUPPRESS)
    parser.add_argument("--sanity", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(drive(Path(args.child[0]), args.child[1], args.requests, args.warmup, args.sanity))))
        return

    with tempfile.TemporaryDirectory(prefix="hw-features-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        default, key = keyed_gateway_config(upstream, directory)
        text = default.read_text()
        features = directory / "features.yaml"
        models_at = text.index("models:")
        features.write_text(text[:models_at].replace("/spill}", "/spill-features}") + FEATURES)
        configs = {"default": default, "features": features}
        sanity = {name: child(config, key, 0, 0, sanity=True)["second_served_by"] for name, config in configs.items()}
        assert sanity == {"default": "primary", "features": "cache"}, sanity
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            for name in (configs if round_ % 2 == 0 else reversed(list(configs))):
                results[name].append(child(configs[name], key, args.requests, args.warmup))
                loads.append(os.getloadavg()[0])
        summary: dict[str, Any] = {}
        for name, runs in results.items():
            summary[name] = {
                measure: {
                    "median": round(statistics.median(r[measure] for r in runs), 1),
                    "runs": [round(r[measure], 1) for r in runs],
                }
                for measure in ("thread_us", "process_us")
            }
        for measure in ("thread_us", "process_us"):
            base, more = summary["default"][measure]["median"], summary["features"][measure]["median"]
            summary[f"added_{measure}"] = {"us": round(more - base, 1), "percent": round((more - base) / base * 100, 1)}
        summary["requests_per_round"] = args.requests
        summary["load_average"] = {"min": round(min(loads), 2), "max": round(max(loads), 2)}
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
