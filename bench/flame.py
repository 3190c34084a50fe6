"""Flame graphs of `headway serve` on the real hot path, sampled by py-spy under wrk load.

    .venv/bin/python bench/flame.py [--connections 10] [--seconds 20] [--name serve_c10]

Default embedded config with auth (a real key made in the store), request log and
metrics on; upstream nginx answering a fixed chat.completion; one worker. py-spy samples
the thread holding the GIL (``--gil``: CPU, not waits; the request-log writer thread
included) at 250 Hz while wrk drives the load and
writes ``bench/profiles/<name>.svg`` (the flame graph) and ``<name>.txt`` (collapsed
stacks), then prints the functions with the most own samples and each thread's share.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, headway_server, keyed_gateway_config, nginx_upstream, run_wrk, wrk_script

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
PROFILES = ROOT / "bench" / "profiles"


def lua_with_key(directory: Path, key: str) -> Path:
    return wrk_script(directory, headers={"Authorization": f"Bearer {key}"})


def summarise(collapsed: Path, top: int) -> dict[str, object]:
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        threads[frames[0] if frames else "?"] += samples
        own[frames[-1]] += samples
    return {
        "samples": total,
        "threads": {name: f"{n / total:.1%}" for name, n in threads.most_common()},
        "top_own": [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--name", default="serve_c10")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    PROFILES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hw-flame-") as tmp, nginx_upstream() as upstream:
        config, key = keyed_gateway_config(upstream, Path(tmp))
        script = lua_with_key(Path(tmp), key)
        with headway_server(config) as (port, proc):
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            run_wrk(url, script, connections=args.connections, seconds=3)  # warm-up
            collapsed = PROFILES / f"{args.name}.txt"
            spies = [
                subprocess.Popen([
                    str(PY_SPY), "record", "--pid", str(proc.pid), "--duration", str(args.seconds), "--rate", "250",
                    "--threads", "--gil", "--nonblocking", "--format", fmt, "--output", str(out),
                ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for fmt, out in (("flamegraph", PROFILES / f"{args.name}.svg"), ("raw", collapsed))
            ]
            time.sleep(0.5)
            load = os.getloadavg()[0]
            result = run_wrk(url, script, connections=args.connections, seconds=args.seconds)
            for spy in spies:
                spy.wait(60)
    print(json.dumps({"wrk": result, "load_average_before": load, **summarise(collapsed, args.top)}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
