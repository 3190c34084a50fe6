"""Scale-out figures: replicas 1-3, the overshoot of each global limit, and the load generator itself.

    .venv/bin/python bench/scale.py [--seconds 8] [--parts replicas,overshoot,loadgen] [--out scale.json]

- replicas: wrk through nginx in front of 1, 2 and 3 ``headway serve`` processes sharing one
  PostgreSQL database and one Redis; upstream is nginx answering a fixed chat.completion.
  Measured without limits and with a global requests/minute limit (one Redis decision a
  request) set too high to refuse anything.
- overshoot: 3 replicas, the simulator upstream, many concurrent clients spread over the
  replicas; what each global limit let through against what it allows (requests/min,
  tokens/min, a spend budget, and requests/min while Redis is down with the local share).
- loadgen: ``headway load`` and wrk on the same targets (a Headway replica; the simulator);
  and ``headway load`` pinned to one core against nginx (a zero-latency target).
Everything runs on 127.0.0.1; every process, database and Redis key is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _harness import ROOT, nginx_upstream, run_wrk, wrk_script

from headway.cli.replicas import RedisServer, ReplicaSet, free_port, scratch_database, wait_until
from headway.loadtest import latest_run
from headway.store import RequestQuery, open_store

SHARED_REDIS = "redis://127.0.0.1:6379/0"
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def base_config(upstream_url: str, store: str, **sections: Any) -> dict[str, Any]:
    deployment = [{"provider": "upstream", "model": "gpt-4o-mini"}]
    config: dict[str, Any] = {
        "store": store,
        "auth": {"mode": "none"},
        "logging": {"level": "warning"},
        "providers": {"upstream": {"type": "openai", "base_url": f"{upstream_url}/v1"}},
        "models": {"chat": {"deployments": deployment, "price": {"input": 0.15, "output": 0.60}}},
    }
    config.update(sections)
    return config


@contextmanager
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"hwbench:{time.time_ns()}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(SHARED_REDIS)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def sim_process(cpus: str | None = None, latency_ms: float = 0.0) -> Iterator[str]:
    port = free_port()
    pin = ["taskset", "-c", cpus] if cpus else []
    scenario = Path(tempfile.mkdtemp(prefix="hw-sim-")) / "scenario.yaml"
    scenario.write_text(f"latency_ms: {latency_ms}\n")
    proc = subprocess.Popen(
        [*pin, PYTHON, "-m", "headway", "sim", "--port", str(port), "--scenario", str(scenario)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), 30, "the simulator")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- replicas ----------------------------------------------------------------------------
def bench_replicas(seconds: int, directory: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    script = wrk_script(directory)
    with nginx_upstream() as upstream_port:
        upstream = f"http://127.0.0.1:{upstream_port}"
        for variant, admission in (
            ("no_limits", {}),
            ("global_limit", {"limits": {"models": {"chat": {"requests_per_minute": 10**9}}}}),
        ):
            for count in (1, 2, 3):
                with redis_prefix() as prefix, scratch_database(prefix="hw_bench_") as store:
                    config = base_config(
                        upstream,
                        store,
                        redis={"url": SHARED_REDIS, "key_prefix": prefix},
                        admission=admission,
                    )
                    with ReplicaSet(config, replicas=count, keepalive=32) as replicas:
                        url = replicas.url + "/v1/chat/completions"
                        run_wrk(url, script, connections=10, seconds=2)  # warm-up
                        per_c = {c: run_wrk(url, script, connections=c, seconds=seconds) for c in (1, 10, 50)}
                results[f"{variant}/{count}"] = per_c
                print(
                    f"replicas {variant} x{count}: "
                    + ", ".join(
                        f"C={c} {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms"
                        for c, r in per_c.items()
                    ),
                    flush=True,
                )
    return results


# -- overshoot ----------------------------------------------------------------------------
async def blast(
    urls: list[str], total: int, concurrency: int, body: dict[str, Any]
) -> list[tuple[int, dict[str, Any] | None]]:
    payload = orjson.dumps(body)
    results: list[tuple[int, dict[str, Any] | None]] = []
    counter = iter(range(total))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for index in counter:
                url = urls[index % len(urls)] + "/v1/chat/completions"
                try:
                    async with session.post(
                        url, data=payload, headers={"content-type": "application/json"}
                    ) as resp:
                        raw = await resp.read()
                        results.append((resp.status, orjson.loads(raw) if raw.startswith(b"{") else None))
                except aiohttp.ClientError:  # a reset keep-alive connection: the request never ran
                    results.append((0, None))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def spend_until_refused(urls: list[str], concurrency: int, body: dict[str, Any]) -> list[tuple[int, str | None]]:
    """Each client sends until the budget says exceeded; a budget fully reserved is retried shortly."""
    payload = orjson.dumps(body)
    outcomes: list[tuple[int, str | None]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def client(index: int) -> None:
            url = urls[index % len(urls)] + "/v1/chat/completions"
            for _ in range(1000):
                async with session.post(url, data=payload, headers={"content-type": "application/json"}) as resp:
                    raw = await resp.read()
                code = orjson.loads(raw).get("error", {}).get("code") if resp.status != 200 else None
                outcomes.append((resp.status, code))
                if code == "budget_exceeded":
                    return
                if code == "budget_reserved":
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(client(i) for i in range(concurrency)))
    return outcomes


def failovers(replicas: ReplicaSet) -> list[int]:
    """How often each replica fell back to local limits (Redis slower than its timeout)."""
    counts = []
    for index in range(replicas.count):
        with urllib.request.urlopen(replicas.replica_url(index) + "/readyz", timeout=10) as response:
            counts.append(int(json.loads(response.read())["checks"]["redis"]["failovers"]))
    return counts


def stored(store_url: str) -> list[Any]:
    store = open_store(store_url)
    try:
        return store.list_requests(RequestQuery(limit=100_000))
    finally:
        store.close()


def bench_overshoot() -> dict[str, Any]:
    results: dict[str, Any] = {}
    chat = {
        "model": "chat",
        "messages": [{"role": "user", "content": "how many tokens is this prompt"}],
        "max_tokens": 64,
    }
    with sim_process() as sim, RedisServer() as redis:
        # A generous timeout: this measures Redis-mode semantics, not a CPU-starved box's flapping.
        redis_config = {"url": redis.url, "key_prefix": "hw:", "timeout_ms": 2000, "probe_interval_ms": 200}
        # requests/min and tokens/min, global over 3 replicas.
        for name, limit in (("requests_per_minute", 300), ("tokens_per_minute", 20_000)):
            with scratch_database(prefix="hw_bench_") as store:
                config = base_config(
                    sim, store, redis=redis_config, admission={"limits": {"models": {"chat": {name: limit}}}}
                )
                with ReplicaSet(config, replicas=3) as replicas:
                    urls = [replicas.replica_url(i) for i in range(3)]
                    replies = asyncio.run(
                        blast(urls, 900 if name == "requests_per_minute" else 1500, 60, chat)
                    )
                    fell_back = failovers(replicas)
                records = [r for r in stored(store) if r.status_code == 200]
                admitted = Counter(status for status, _ in replies)
                if name == "requests_per_minute":
                    measured = admitted[200]
                else:
                    measured = sum(r.input_tokens + r.output_tokens for r in records)
                results[name] = {
                    "limit": limit,
                    "admitted": measured,
                    "overshoot": measured - limit,
                    "statuses": dict(admitted),
                    "failovers": fell_back,
                }
                print(
                    f"overshoot {name}: limit {limit}, let through {measured} ({measured - limit:+d}); "
                    f"statuses {dict(admitted)}; failovers {fell_back}",
                    flush=True,
                )
        # A budget of $0.50 at $1,000 per million output tokens: about $0.065 reserved a request.
        priced = {
            "deployments": [{"provider": "upstream", "model": "gpt-4o-mini"}],
            "price": {"input": 100.0, "output": 1000.0},
        }
        with scratch_database(prefix="hw_bench_") as store:
            config = base_config(
                sim,
                store,
                redis=redis_config,
                models={"chat": priced},
                admission={"budgets": {"keys": {"*": {"usd": 0.5, "period": "day"}}}},
            )
            with ReplicaSet(config, replicas=3) as replicas:
                urls = [replicas.replica_url(i) for i in range(3)]
                outcomes = asyncio.run(spend_until_refused(urls, 30, chat))
            spent = sum(r.cost_usd or 0.0 for r in stored(store) if r.status_code == 200)
            estimate = (8 + 4) * 100 / 1e6 + 64 * 1000 / 1e6
            codes = Counter(code or status for status, code in outcomes)
            results["budget_usd"] = {
                "cap": 0.5,
                "spent": round(spent, 6),
                "overshoot": round(spent - 0.5, 6),
                "estimate_per_request": estimate,
                "outcomes": dict(codes),
            }
            print(
                f"overshoot budget: cap $0.50, spent ${spent:.4f} ({spent - 0.5:+.4f}; one estimate is ${estimate:.4f}); {dict(codes)}",
                flush=True,
            )
        # Redis down: each replica alone enforces its share (1/3) of 300/min.
        with scratch_database(prefix="hw_bench_") as store:
            config = base_config(
                sim,
                store,
                redis=redis_config,
                admission={
                    "limits": {"models": {"chat": {"requests_per_minute": 300}}},
                    "local_fallback_share": 1 / 3,
                },
            )
            with ReplicaSet(config, replicas=3) as replicas:
                redis.stop()
                urls = [replicas.replica_url(i) for i in range(3)]
                replies = asyncio.run(blast(urls, 900, 60, chat))
                redis.start()
            admitted = Counter(status for status, _ in replies)
            results["requests_per_minute_redis_down"] = {
                "limit": 300,
                "admitted": admitted[200],
                "overshoot": admitted[200] - 300,
                "statuses": dict(admitted),
            }
            print(
                f"overshoot requests_per_minute with Redis down (share 1/3): let through {admitted[200]} of limit 300; {dict(admitted)}",
                flush=True,
            )
    return results


# -- load generator ----------------------------------------------------------------------------
def headway_load(url: str, directory: Path, *args: str, cpus: str | None = None) -> dict[str, Any]:
    out = directory / f"runs-{time.time_ns()}"
    command = [PYTHON, "-m", "headway", "load", "-u", url, "--quiet", "--out", str(out), *args]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    report = latest_run(out)
    assert report is not None
    step = report.steps[0]
    latency = step.latency_ms
    assert latency is not None
    return {
        "rps": step.throughput_rps,
        "p50_ms": latency.p50,
        "p99_ms": latency.p99,
        "requests": step.ok,
        "errors": step.error_count,
    }


# Generators on one core, the target on the other: neither measurement depends on how much
# CPU the generator itself takes from the target.
GENERATOR_CPU, TARGET_CPU = "0", "1"


def compare(
    name: str, url: str, directory: Path, seconds: int, connections: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "the quick brown fox"}], "max_tokens": 16}
    script = wrk_script(directory, json.dumps(body))
    if headers:
        extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        script.write_text(extra + script.read_text())
    target = url + "/chat/completions"
    run_wrk(target, script, connections=connections, seconds=2, cpus=GENERATOR_CPU)  # warm-up
    wrk = run_wrk(target, script, connections=connections, seconds=seconds, threads=1, cpus=GENERATOR_CPU)
    header_args = [arg for k, v in (headers or {}).items() for arg in ("--header", f"{k}: {v}")]
    ours = headway_load(
        url, directory, "-m", "chat", "-c", str(connections), "-d", str(seconds), "--prompt-tokens", "4",
        *header_args, cpus=GENERATOR_CPU,
    )
    ratio = {k: round(ours[k] / wrk[k], 3) if wrk[k] else None for k in ("rps", "p50_ms", "p99_ms")}
    print(
        f"loadgen {name} C={connections}: wrk {wrk['rps']:.0f} req/s p50 {wrk['p50_ms']:.2f} p99 {wrk['p99_ms']:.2f} | "
        f"headway load {ours['rps']:.0f} req/s p50 {ours['p50_ms']:.2f} p99 {ours['p99_ms']:.2f} | ratio {ratio}",
        flush=True,
    )
    return {"wrk": wrk, "headway_load": ours, "ratio": ratio}


def bench_loadgen(seconds: int, directory: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with nginx_upstream() as upstream_port:
        upstream = f"http://127.0.0.1:{upstream_port}"
        with (
            scratch_database(prefix="hw_bench_") as store,
            ReplicaSet(base_config(upstream, store), replicas=1, cpus=TARGET_CPU) as replica,
        ):
            results["headway_zero_latency_upstream"] = compare(
                "headway (1 replica, nginx upstream)", replica.replica_url(0) + "/v1", directory, seconds, 10
            )
        # A model-like target: the simulator answering after 50 ms, directly and behind Headway.
        with sim_process(cpus=TARGET_CPU, latency_ms=50) as sim:
            results["simulator_50ms"] = compare("simulator (50 ms)", sim + "/v1", directory, seconds, 10)
            with (
                scratch_database(prefix="hw_bench_") as store,
                ReplicaSet(base_config(sim, store), replicas=1, cpus=TARGET_CPU) as replica,
            ):
                results["headway_50ms_upstream"] = compare(
                    "headway (1 replica, simulator 50 ms)", replica.replica_url(0) + "/v1", directory, seconds, 10
                )
        with sim_process(cpus=TARGET_CPU) as sim:
            # 10 ms: the generators' own per-request costs start to show in the latency.
            results["simulator_10ms"] = compare(
                "simulator (10 ms)", sim + "/v1", directory, seconds, 10, headers={"x-sim-latency-ms": "10"}
            )
        # One core for the generator, the other for nginx: the generator's own ceiling.
        one_core = headway_load(upstream + "/v1", directory, "-c", "64", "-d", str(seconds), cpus=GENERATOR_CPU)
        results["one_core_vs_nginx"] = one_core
        print(
            f"loadgen on one core against nginx: {one_core['rps']:.0f} req/s "
            f"(p50 {one_core['p50_ms']:.2f} ms, errors {one_core['errors']})",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--parts", default="replicas,overshoot,loadgen")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="hw-bench-scale-") as tmp:
        directory = Path(tmp)
        if "loadgen" in parts:
            results["loadgen"] = bench_loadgen(args.seconds, directory)
        if "overshoot" in parts:
            results["overshoot"] = bench_overshoot()
        if "replicas" in parts:
            results["replicas"] = bench_replicas(args.seconds, directory)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    json.dump(results, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
