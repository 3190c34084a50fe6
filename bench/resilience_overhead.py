"""Hot-path cost of the resilience features with no faults: the gateway with them on vs the plain core.

    .venv/bin/python bench/resilience_overhead.py [--seconds 5] [--rounds 3] [--connections 10,50]
                                                  [--baseline-rev 6b1edb6]

Upstream: nginx answering a fixed chat.completion (``_harness.nginx_upstream``). Generator:
wrk. One gateway worker per variant, the variants interleaved round by round (so drift on
a shared machine hits all of them alike); the median of the rounds is reported. Besides
req/s and latency, the gateway process's CPU time per request (``/proc``): on a busy
machine that figure stays put while throughput follows the neighbours.

Variants (same build unless noted):
- ``core``: one deployment, no retries, breaker off, no fallbacks, no cache;
- ``resilience``: two deployments with latency balancing, breakers, retries, a fallback
  model, a degraded message and a deadline — everything on, nothing failing;
- ``resilience+cache``: the above with the response cache on, each request sent with
  ``Cache-Control: no-cache`` so it misses, goes upstream and is stored (the costliest path);
- ``resilience+hedge``: the above with hedging at 300 ms (never fires against nginx);
- ``baseline@REV`` (with ``--baseline-rev``): the gateway as it was at that commit, with
  the core config, run from a temporary git worktree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _harness import REQUEST_BODY, ROOT, headway_server, nginx_upstream, run_wrk
from _harness import wrk_script as harness_wrk_script

COMMON = """
server: {{host: 127.0.0.1, port: 0}}
store: sqlite:///{directory}/{name}.db
auth: {{mode: none}}
logging: {{level: warning}}
request_log: {{spill_dir: {directory}/spill-{name}}}
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
"""

PLAIN = """
models:
  chat:
    deployments: [{provider: upstream, model: gpt-4o-mini}]
    price: {input: 0.15, output: 0.60}
"""

CORE = """
models:
  chat:
    deployments: [{provider: upstream, model: gpt-4o-mini}]
    price: {input: 0.15, output: 0.60}
    retries: {max_retries: 0}
    breaker: {enabled: false}
"""

RESILIENCE = """
models:
  chat:
    deployments:
      - {{provider: upstream, model: gpt-4o-mini}}
      - {{provider: upstream, model: gpt-4o-mini-b}}
    price: {{input: 0.15, output: 0.60}}
    balancing: latency
    retries: {{max_retries: 2}}
    breaker: {{failure_ratio: 0.5, min_requests: 10}}
    fallbacks: {{timeout: [backup], error: [backup], rate_limit: [backup]}}
    degraded: {{message: "Busy, try again soon."}}
    deadline_s: 30
{extra}
  backup:
    deployments: [{{provider: upstream, model: gpt-4o-mini-backup}}]
"""


def variants(port: int, directory: Path) -> dict[str, str]:
    def config(name: str, models: str) -> str:
        return COMMON.format(directory=directory, name=name, port=port) + models

    return {
        "core": config("core", CORE),
        "resilience": config("resilience", RESILIENCE.format(extra="")),
        "resilience+cache": config("cache", RESILIENCE.format(extra="    cache: {enabled: true}")),
        "resilience+hedge": config("hedge", RESILIENCE.format(extra="    hedge: {after_ms: 300}")),
    }


def wrk_script(directory: Path, name: str, headers: dict[str, str]) -> Path:
    return harness_wrk_script(directory, REQUEST_BODY, headers=headers, name=name)


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hw-baseline-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), rev], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


@contextmanager
def python_path(src: Path | None) -> Iterator[None]:
    """Serve from another source tree: PYTHONPATH comes before the editable install's path."""
    before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    config: Path, script: Path, connections: list[int], seconds: int, src: Path | None
) -> dict[int, dict[str, float]]:
    with python_path(src), headway_server(config) as (port, proc):
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        run_wrk(url, script, connections=10, seconds=2)  # warm-up
        out: dict[int, dict[str, float]] = {}
        for c in connections:
            before = cpu_seconds(proc.pid)
            result = run_wrk(url, script, connections=c, seconds=seconds)
            # CPU per request is robust to a busy machine, where req/s and latency are not.
            result["cpu_us_per_request"] = (cpu_seconds(proc.pid) - before) / max(1, result["requests"]) * 1e6
            out[c] = result
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="10,50")
    parser.add_argument(
        "--baseline-rev", default=None, help="also run the gateway of this commit (core config)"
    )
    parser.add_argument("--only", default=None, help="comma-separated variants to run (core is always run)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory(prefix="hw-resil-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        plan: dict[str, tuple[Path, Path, Path | None]] = {}
        plain_script = wrk_script(directory, "plain", {})
        wanted = set(args.only.split(",")) | {"core"} if args.only else None
        for name, text in variants(upstream, directory).items():
            if wanted is not None and name not in wanted:
                continue
            config = directory / f"{name}.yaml"
            config.write_text(text)
            headers = {"Cache-Control": "no-cache"} if name == "resilience+cache" else {}
            plan[name] = (config, wrk_script(directory, name, headers) if headers else plain_script, None)
        with contextlib_nullable(args.baseline_rev) as tree:
            if tree is not None:
                config = directory / "baseline.yaml"
                config.write_text(COMMON.format(directory=directory, name="baseline", port=upstream) + PLAIN)
                plan[f"baseline@{args.baseline_rev}"] = (config, plain_script, tree / "src")
            runs: dict[str, list[dict[int, dict[str, float]]]] = {name: [] for name in plan}
            for _ in range(args.rounds):
                for name, (config, script, src) in plan.items():
                    runs[name].append(measure(config, script, connections, args.seconds, src))
    results = {
        name: {
            c: {
                key: statistics.median(r[c][key] for r in rounds)
                for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")
            }
            for c in connections
        }
        for name, rounds in runs.items()
    }
    print_table(results, connections)
    if args.out:
        Path(args.out).write_text(
            json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "results": results}, indent=2)
        )


@contextmanager
def contextlib_nullable(rev: str | None) -> Iterator[Path | None]:
    if rev is None:
        yield None
        return
    with worktree(rev) as path:
        yield path


def print_table(results: dict[str, dict[int, dict[str, float]]], connections: list[int]) -> None:
    core = results["core"]
    print("\nvariant             | conns | CPU us/req | vs core | req/s   | vs core | p50 ms | p99 ms")
    for name, per_c in results.items():
        for c in connections:
            r, base = per_c[c], core[c]
            cpu = (
                r["cpu_us_per_request"] / base["cpu_us_per_request"] - 1
                if base["cpu_us_per_request"]
                else 0.0
            )
            rps = r["rps"] / base["rps"] - 1 if base["rps"] else 0.0
            print(
                f"{name:<19} | {c:>5} | {r['cpu_us_per_request']:>10.0f} | {cpu:>+6.1%} | {r['rps']:>7.0f} | {rps:>+6.1%}"
                f" | {r['p50_ms']:>6.2f} | {r['p99_ms']:>6.2f}"
            )


if __name__ == "__main__":
    main()
