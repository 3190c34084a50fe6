"""The fault suite, longer: every fault case of the test suite, run round after round.

Each case is a real-process test in ``tests/`` (SIGKILL under load, a burst over three
replicas, a budget with Redis down, the store gone for longer than the key cache, a failed
migration, hostile input, slowloris and huge headers, a stream cut mid-answer with a
fallback). A single green run says a case *can* pass; this says how often it does, and how
long each takes, over ``--rounds`` rounds (bounded: every case has its own time limit and
sends traffic only to 127.0.0.1). Results go to stdout and, with ``--out``, to a JSON file.

    .venv/bin/python bench/fault_suite.py --rounds 5 --out bench/results/fault_suite.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, pytest node ids, extra environment)
CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("SIGKILL under load: every acknowledged request has a row", ["tests/observe/test_request_log_crash.py"], {}),
    ("450 at once over 3 replicas on 60/min; budget with Redis down", ["tests/scale/test_burst_limits.py"], {}),
    ("Redis outage: local limits, no 5xx, recovery", ["tests/scale/test_redis_outage.py"], {}),
    ("store outage longer than the key cache (SQLite)", ["tests/auth/test_store_outage.py"], {}),
    ("store outage longer than the key cache (PostgreSQL)", ["tests/auth/test_store_outage.py"], {"HEADWAY_TEST_STORE": "postgresql"}),
    ("failed migration keeps /readyz not ready", ["tests/store/test_migrations.py", "-k", "failed_migration"], {}),
    ("hostile input: depth, types, fuzzed bodies", ["tests/hostile/test_hostile_input.py"], {}),
    ("slowloris, huge headers, connection cap", ["tests/hostile/test_connections.py"], {}),
    ("timeouts move on; cut streams; continuation", [
        "tests/routing/test_timeout_defaults.py", "tests/routing/test_stream_cut.py", "tests/routing/test_stream_continuation.py",
    ], {}),
    ("drain and reload under load", ["tests/ops/test_reload.py"], {}),
]


def run_case(args: list[str], env: dict[str, str], limit_s: float) -> tuple[bool, float, str]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", *args],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=limit_s, check=False,
        )
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - started, f"timed out after {limit_s:.0f} s"
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return done.returncode == 0, time.monotonic() - started, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit-s", type=float, default=600, help="time limit of one case in one round")
    parser.add_argument("--only", help="run only cases whose name contains this text")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    for round_no in range(1, options.rounds + 1):
        for name, args, env in CASES:
            if options.only and options.only not in name:
                continue
            ok, seconds, tail = run_case(args, env, options.limit_s)
            entry = results.setdefault(name, {"passed": 0, "runs": 0, "seconds": [], "last": ""})
            entry["runs"] = int(entry["runs"]) + 1  # type: ignore[call-overload]
            entry["passed"] = int(entry["passed"]) + int(ok)  # type: ignore[call-overload]
            entry["seconds"].append(round(seconds, 1))  # type: ignore[attr-defined]
            entry["last"] = tail
            print(f"round {round_no}: {'ok  ' if ok else 'FAIL'} {seconds:6.1f} s  {name}  ({tail})", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    for name, entry in results.items():
        print(f"{entry['passed']}/{entry['runs']} passed  {name}")
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results}, indent=2) + "\n")
    return 0 if all(e["passed"] == e["runs"] for e in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
