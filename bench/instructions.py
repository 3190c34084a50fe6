"""Instructions per request on the real request path, counted by valgrind's callgrind.

    .venv/bin/python bench/instructions.py [--requests 300] [--warmup 300] [--stream]
    .venv/bin/python bench/instructions.py --cpu-only --requests 3000   # no valgrind: CPU µs/request

Wall-clock and even CPU time move ±10 % on a shared machine; instruction counts move
well under 1 %, so each hot-path change is judged by this figure. The set-up is the
default embedded config with what the issue names on: auth with a real key (made in the
store by ``headway keys create``), the request log (write-behind writer, crash segment),
metrics. The upstream is nginx answering a fixed ``chat.completion``
(``_harness.nginx_upstream``), outside valgrind; requests go straight into the ASGI app
(``inprocess_path.post``) one at a time, so the count is Headway's own work per request
— the app, aiohttp's client, the request log — and not a server's or a load generator's.

How it counts: this script re-runs itself under ``valgrind --tool=callgrind
--collect-atstart=yes``; after start-up and the warm-up the child zeroes callgrind's
counters (``callgrind_control -z``), drives ``--requests`` requests, lets the write-behind
writer flush them, and dumps (``callgrind_control -d``). So start-up and imports are out,
and the background writer's work for those requests is in. callgrind's own slowdown
(~50×) changes timing, not the count; the count varies by a few tenths of a percent run
to run (dict/set hashing, timers firing). The dump is kept under ``--out`` for
``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import ROOT, keyed_gateway_config, nginx_upstream
from inprocess_path import BODY, post

STREAM_BODY = b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}'


def callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], capture_output=True, check=True, timeout=300)


async def drive(config: Path, key: str, requests: int, warmup: int, stream: bool, counted: bool) -> dict[str, Any]:
    from headway.api.app import build_app
    from headway.config.loader import load_config

    app = build_app(load_config(str(config)))
    headers = [(b"authorization", b"Bearer " + key.encode())]
    body = STREAM_BODY if stream else BODY
    async with app.router.lifespan_context(app):
        for _ in range(warmup):
            assert await post(app, headers=headers, body=body) == 200
        await asyncio.sleep(0.5)  # let the warm-up's records flush before counting
        if counted:
            callgrind("-z")
        cpu, wall = time.process_time(), time.perf_counter()
        statuses = [await post(app, headers=headers, body=body) for _ in range(requests)]
        # Records are written behind: wait out one flush interval so their cost is counted.
        await asyncio.sleep(0.6)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if counted:
            callgrind("-d", "measured")
    assert statuses == [200] * requests, sorted(set(statuses))
    return {"cpu_us_per_request": round(cpu / requests * 1e6, 1), "wall_us_per_request": round(wall / requests * 1e6, 1)}


def summary_of(dump: Path) -> int:
    match = re.search(r"^summary:\s+(\d+)", dump.read_text(errors="replace"), re.M)
    if not match:
        raise RuntimeError(f"no summary line in {dump}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--stream", action="store_true", help="streamed chat completions (stream: true)")
    parser.add_argument("--cpu-only", action="store_true", help="no valgrind: CPU µs per request only")
    parser.add_argument("--out", default=None, help="folder to keep the callgrind dump in")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = asyncio.run(drive(Path(args.child[0]), args.child[1], args.requests, args.warmup, args.stream, True))
        print("CHILD " + json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="hw-instr-") as tmp, nginx_upstream() as upstream:
        config, key = keyed_gateway_config(upstream, Path(tmp))
        if args.cpu_only:
            result = asyncio.run(drive(config, key, args.requests, args.warmup, args.stream, False))
            print(json.dumps({"requests": args.requests, "stream": args.stream, **result}))
            return
        out = Path(args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        dump = out / "callgrind.out"
        for old in out.glob("callgrind.out*"):
            old.unlink()
        child = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}", sys.executable, __file__,
                "--requests", str(args.requests), "--warmup", str(args.warmup),
                *(["--stream"] if args.stream else []), "--child", str(config), key,
            ],
            capture_output=True, text=True, timeout=3600, cwd=ROOT,
        )
        if child.returncode != 0:
            sys.exit(f"callgrind run failed ({child.returncode}):\n{child.stderr[-3000:]}")
        measured = [p for p in out.glob("callgrind.out*") if "Trigger: dump measured" in p.read_text(errors="replace")[:2000]]
        if len(measured) != 1:
            sys.exit(f"expected one measured dump in {out}, found {len(measured)}")
        instructions = summary_of(measured[0])
        under_valgrind = json.loads(child.stdout.split("CHILD ", 1)[1].splitlines()[0])
        print(json.dumps({
            "requests": args.requests,
            "stream": args.stream,
            "instructions_per_request": round(instructions / args.requests),
            "instructions_total": instructions,
            "dump": str(measured[0]) if args.out else None,
            "load_average": os.getloadavg()[0],
            "under_valgrind": under_valgrind,
        }))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
