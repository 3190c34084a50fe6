#!/usr/bin/env python3
"""Set up once, start the services the suite needs, then lint, type-check and run the tests.

Extra arguments go to pytest (``python3 scripts/test.py tests/api -x``), which then runs them in one
process. Without arguments both passes (SQLite, then PostgreSQL) run on pytest-xdist workers:
``HEADWAY_TEST_WORKERS`` sets how many (``0``: one process, as with arguments).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time

from _bootstrap import ROOT, ensure_venv

# The commands this machine kind documents for starting its services when they are down.
SERVICES = {
    "PostgreSQL": (5432, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "Redis": (
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
}
DEBIAN_PACKAGES = {"nginx": "/usr/sbin/nginx", "wrk": "/usr/bin/wrk", "chromium": "/usr/bin/chromium"}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ensure_services() -> None:
    for name, (port, command) in SERVICES.items():
        if _listening(port):
            continue
        print(f"starting {name} …", flush=True)
        subprocess.run(command, shell=True, check=False)
        for _ in range(50):
            if _listening(port):
                break
            time.sleep(0.2)
        else:
            print(f"warning: {name} is not listening on 127.0.0.1:{port}; its tests will fail", file=sys.stderr)


def ensure_debian_packages() -> None:
    missing = [pkg for pkg, path in DEBIAN_PACKAGES.items() if not os.path.exists(path)]
    if not missing or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print(f"installing Debian packages: {' '.join(missing)} …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env, stdout=subprocess.DEVNULL)


def parallel_args() -> list[str]:
    """pytest-xdist options for the full passes: the tests mostly wait (sockets, subprocesses, deadlines),
    so two workers per core, at most 8; each test module stays on one worker (its module fixtures once)."""
    wanted = os.environ.get("HEADWAY_TEST_WORKERS", "").strip()
    workers = int(wanted) if wanted else min(8, 2 * (os.cpu_count() or 1))
    return ["-n", str(workers), "--dist", "loadscope", "--no-loadscope-reorder"] if workers > 1 else []


# (environment, pytest command, whether "no tests collected" (exit 5) is fine)
Step = tuple[dict[str, str], list[str], bool]


def test_passes(pytest: str) -> list[Step]:
    """The SQLite pass (every test), then every test that touches the store again on PostgreSQL (one
    cloned database per test; the slow fuzzing and process-level tests run once, on SQLite, to keep CI
    short). On xdist workers each pass is followed by its ``serial`` tests, run alone."""
    parallel = parallel_args()
    steps: list[Step] = []
    for env, selected in (({}, ""), ({"HEADWAY_TEST_STORE": "postgresql"}, "store and not slow")):
        if not parallel:
            steps.append((env, [pytest, "-q", *(["-m", selected] if selected else [])], False))
            continue
        within = f"{selected} and " if selected else ""
        steps.append((env, [pytest, "-q", *parallel, "-m", f"{within}not serial"], False))
        steps.append((env, [pytest, "-q", "-m", f"{within}serial"], True))
    return steps


def main() -> int:
    bin_dir = ensure_venv(extras="dev")
    ensure_services()
    ensure_debian_packages()
    os.chdir(ROOT)
    steps: list[Step] = [
        ({}, [str(bin_dir / "ruff"), "check", "src", "tests", "bench", "scripts"], False),
        ({}, [str(bin_dir / "mypy")], False),
    ]
    if sys.argv[1:]:
        steps.append(({}, [str(bin_dir / "pytest"), *sys.argv[1:]], False))
    else:
        steps.extend(test_passes(str(bin_dir / "pytest")))
    for env, step, empty_ok in steps:
        shown = shlex.join(os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a for a in step)
        print("$", *(f"{k}={v}" for k, v in env.items()), shown, flush=True)
        code = subprocess.run(step, check=False, env={**os.environ, **env}).returncode
        if code != 0 and not (empty_ok and code == 5):
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
