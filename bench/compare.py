"""Direct, Headway and — where installed — LiteLLM and the Portkey gateway, side by side in
one run on the same upstream, with the ratios.

    .venv/bin/python bench/compare.py [--seconds 8] [--levels 1,10,50] [--workers 1]
        [--server-cpus 1 --client-cpus 0]            # pin targets apart from wrk (taskset)
        [--litellm litellm] [--portkey "npx @portkey-ai/gateway"]   # bench/peers.sh installs both

Upstream: nginx answering a fixed chat.completion (``_harness.nginx_upstream``). Client: wrk
(POST, ``-t1`` at C=1, ``-t2`` above). Headway: ``headway serve`` with the default embedded
config, auth with a real key made in the store, request log and metrics on. LiteLLM runs
``<cmd> --config <generated yaml> --port P`` (model ``chat`` → ``openai/gpt-4o-mini`` at the
upstream, no database); Portkey runs ``<cmd> --port=P`` and is called with its
``x-portkey-provider: openai`` and ``x-portkey-custom-host`` headers. A peer whose command is
not found is reported as skipped, never guessed at. For each target and level: req/s,
p50/p99, the target's CPU per request (its processes' CPU from /proc over the level) and
its RSS; the load average is read before each target. The ratios line divides Headway's
req/s by each peer's, and its p50 over direct by the direct p50.

Sizing workers: with ``--workers N --server-cpus <N cores> --client-cpus <other cores>`` the
scaling per core is visible; give Headway one worker per core it may use and keep the load
generator (and in production the TLS terminator) off those cores.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _harness import (
    cpu_seconds,
    free_port,
    headway_server,
    keyed_gateway_config,
    memory_trend,
    nginx_upstream,
    rss_mb,
    run_wrk,
    stop_group,
    wait_port,
    wrk_script,
)


def keyed_script(directory: Path, name: str, headers: dict[str, str]) -> Path:
    return wrk_script(directory, headers=headers, name=name)


def _installed(path: Path, fallback: str) -> str:
    return str(path) if path.exists() else fallback


@contextmanager
def peer_process(command: list[str], port: int, cpus: str | None, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_port(port, 120)
        except RuntimeError as exc:  # say why the peer did not come up, not just that it didn't
            raise RuntimeError(f"{command[0]} did not start: {log.read_text(errors='replace')[-2000:]}") from exc
        yield proc
    finally:
        stop_group(proc)


def measure(url: str, script: Path, levels: list[int], seconds: int, pid: int | None, client_cpus: str | None) -> dict[str, Any]:
    run_wrk(url, script, connections=10, seconds=2, cpus=client_cpus)  # warm-up
    out: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2), "levels": {}}
    for connections in levels:
        before = cpu_seconds(pid) if pid else 0.0
        result = run_wrk(url, script, connections=connections, seconds=seconds, cpus=client_cpus)
        if pid:
            result["cpu_us_per_request"] = round((cpu_seconds(pid) - before) / max(1, result["requests"]) * 1e6, 1)
        out["levels"][connections] = result
    if pid:
        out["rss_mb"] = round(rss_mb(pid), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--workers", default="1", help="Headway worker counts to run, e.g. 1,2")
    parser.add_argument("--server-cpus", default=None, help="taskset CPU list for the targets (e.g. 1)")
    parser.add_argument("--client-cpus", default=None, help="taskset CPU list for wrk (e.g. 0)")
    peers = Path(__file__).resolve().parent / ".peers"  # where bench/peers.sh installs them
    parser.add_argument("--litellm", default=_installed(peers / "litellm/bin/litellm", "litellm"),
                        help="LiteLLM proxy command (skipped if not found; bench/peers.sh installs it)")
    parser.add_argument("--portkey", default=_installed(peers / "portkey/node_modules/.bin/gateway", "portkey-gateway"),
                        help="Portkey gateway command (skipped if not found; bench/peers.sh installs it)")
    parser.add_argument("--rss-requests", type=int, default=0,
                        help="after its levels, keep one-worker Headway at C=10 until this many requests, sampling RSS")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="hw-compare-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        direct_url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
        results["direct"] = measure(direct_url, wrk_script(directory), levels, args.seconds, None, args.client_cpus)

        config, key = keyed_gateway_config(upstream, directory)
        script = keyed_script(directory, "headway", {"Authorization": f"Bearer {key}"})
        for workers in (int(w) for w in args.workers.split(",")):
            with headway_server(config, workers=workers, cpus=args.server_cpus) as (port, proc):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                results[f"headway_w{workers}"] = measure(url, script, levels, args.seconds, proc.pid, args.client_cpus)
                if workers == 1 and args.rss_requests:
                    results["headway_w1"]["memory"] = memory_trend(
                        url, script, proc.pid, args.rss_requests, connections=10, slice_s=20, cpus=args.client_cpus
                    )

        litellm = shutil.which(shlex.split(args.litellm)[0])
        if litellm:
            port = free_port()
            litellm_config = directory / "litellm.yaml"
            # Current LiteLLM refuses to start without a master key (so would we): give it one
            # per run and send it, as Headway gets its own key.
            master_key = f"sk-{secrets.token_hex(16)}"
            litellm_config.write_text(
                "model_list:\n  - model_name: chat\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                f"      api_base: http://127.0.0.1:{upstream}/v1\n      api_key: bench\n"
                f"general_settings:\n  master_key: {master_key}\n"
            )
            command = [*shlex.split(args.litellm), "--config", str(litellm_config), "--port", str(port)]
            with peer_process(command, port, args.server_cpus, directory / "litellm.log") as proc:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                litellm_script = keyed_script(directory, "litellm", {"Authorization": f"Bearer {master_key}"})
                results["litellm"] = measure(url, litellm_script, levels, args.seconds, proc.pid, args.client_cpus)
        else:
            results["litellm"] = {"skipped": f"{args.litellm!r} not found"}

        portkey = shutil.which(shlex.split(args.portkey)[0])
        if portkey:
            port = free_port()
            command = [*shlex.split(args.portkey), f"--port={port}"]
            headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1",
                       "Authorization": "Bearer bench"}
            with peer_process(command, port, args.server_cpus, directory / "portkey.log") as proc:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                results["portkey"] = measure(url, keyed_script(directory, "portkey", headers), levels, args.seconds,
                                             proc.pid, args.client_cpus)
        else:
            results["portkey"] = {"skipped": f"{args.portkey!r} not found"}
    print_table(results, levels)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


def print_table(results: dict[str, Any], levels: list[int]) -> None:
    print(f"{results['date']}, {results['cores']} cores")
    header = "target | load before | " + " | ".join(f"C={c} req/s | p50 ms | p99 ms | CPU µs/req" for c in levels) + " | RSS MB"
    print(header)
    for name, value in results.items():
        if not isinstance(value, dict):
            continue
        if "skipped" in value:
            print(f"{name} | skipped: {value['skipped']}")
            continue
        cells = []
        for c in levels:
            level = value["levels"][c]
            errors = f" ({level['errors']} errors)" if level["errors"] else ""
            cells.append(f"{level['rps']:,.0f}{errors} | {level['p50_ms']:.2f} | {level['p99_ms']:.2f} | {level.get('cpu_us_per_request', '—')}")
        print(f"{name} | {value['load_average_before']} | " + " | ".join(cells) + f" | {value.get('rss_mb', '—')}")
    direct = results["direct"]["levels"]
    for name, value in results.items():
        if not name.startswith("headway") or not isinstance(value, dict):
            continue
        for c in levels:
            level = value["levels"][c]
            ratios = [f"p50 over direct {level['p50_ms'] - direct[c]['p50_ms']:.2f} ms",
                      f"p99/p50 {level['p99_ms'] / max(level['p50_ms'], 1e-9):.1f}"]
            for peer in ("litellm", "portkey"):
                if "levels" in results.get(peer, {}):
                    ratios.append(f"{peer} ×{level['rps'] / max(results[peer]['levels'][c]['rps'], 1e-9):.1f}")
            print(f"{name} C={c}: " + ", ".join(ratios))
        if "memory" in value:
            trend = value["memory"]["samples"]
            print(f"{name} RSS over {value['memory']['requests']:,} requests at C=10: "
                  + ", ".join(f"{s['rss_mb']} MB @ {s['requests']:,}" for s in trend))


if __name__ == "__main__":
    main()
