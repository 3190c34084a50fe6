"""A scaled-out Headway on one machine: N ``headway serve`` processes behind nginx.

Used by the scale tests and ``bench/scale.py``, and by ``headway replicas`` to try the
scaled-out shape by hand. The replicas share one store (PostgreSQL) and one Redis, as
production replicas would; each has its own spill journal. nginx runs unprivileged
from a temporary directory (its own pid file, error log and temp paths), balances
round-robin, and moves a request to the next replica only when it could not be sent
(connection refused), never after a replica may have started it.

Also here, because every test or benchmark of replicas needs them: ``scratch_database``
(a uniquely named PostgreSQL database, dropped afterwards) and ``RedisServer`` (a private
``redis-server`` that can be stopped and started again on the same port).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from headway.cli._common import friendly_errors
from headway.errors import HeadwayError

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the one helper for it: tests, demo and replicas use it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise HeadwayError(f"timed out after {timeout:g}s waiting for {what}")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# -- PostgreSQL -------------------------------------------------------------------------
@contextlib.contextmanager
def scratch_database(server: str = DEFAULT_POSTGRES, *, prefix: str = "hw_scratch_", template: str | None = None) -> Iterator[str]:
    """A fresh database on ``server`` for the duration of the block; yields its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    url = create_database(server, name, template=template)
    try:
        yield url
    finally:
        drop_database(server, name)


def create_database(server: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` (optionally a copy of ``template``) and return its URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        clause = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{clause}')  # names are generated here, never input
    return f"{server}/{name}"


def drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Redis ------------------------------------------------------------------------------
class RedisServer:
    """A private ``redis-server`` on a loopback port (nothing saved to disk); ``stop``/``start`` keep the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _listening(self.port), 10, f"redis-server on {self.port}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- nginx ------------------------------------------------------------------------------
def nginx_config(directory: Path, port: int, upstreams: list[int], *, keepalive: int = 0) -> str:
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in upstreams)
    pool = f"    keepalive {keepalive};\n" if keepalive else ""
    return f"""
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy; fastcgi_temp_path {directory}/fcgi;
  uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;
  client_max_body_size 20m;
  upstream headway {{
{servers}
{pool}  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://headway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 600s;
      # Only a request that never reached a replica moves on: a POST it may have started must not run twice.
      proxy_next_upstream error;
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"""


# -- the replica set --------------------------------------------------------------------
class ReplicaSet:
    """``with ReplicaSet(config, replicas=3) as rs: OpenAI(base_url=rs.url + "/v1")``.

    ``config`` is the YAML mapping every replica loads; ``store``, ``redis`` and the
    server port are whatever it says, except that each replica gets its own port and
    spill directory.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        replicas: int = 3,
        keepalive: int = 0,
        workdir: str | Path | None = None,
        env: dict[str, str] | None = None,
        cpus: str | None = None,
    ) -> None:
        self.config = config
        self.count = replicas
        self.keepalive = keepalive
        self.env = {**os.environ, **(env or {})}
        self.cpus = cpus
        self._tmp = tempfile.TemporaryDirectory(prefix="hw-replicas-") if workdir is None else None
        self.workdir = Path(workdir or (self._tmp.name if self._tmp else "."))
        self.ports = [free_port() for _ in range(replicas)]
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * replicas
        self._nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def config_path(self, index: int) -> Path:
        return self.workdir / f"replica-{index}.yaml"

    def start(self) -> ReplicaSet:
        try:
            for index in range(self.count):
                self._spawn(index)
            for index in range(self.count):
                self.wait_ready(index)
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, index: int) -> None:
        config = dict(self.config)
        config["request_log"] = {**config.get("request_log", {}), "spill_dir": str(self.workdir / f"spill-{index}")}
        self.config_path(index).write_text(yaml.safe_dump(config, sort_keys=False))
        command = [sys.executable, "-m", "headway", "serve", "--config", str(self.config_path(index)), "--port", str(self.ports[index])]
        if self.cpus:
            command = ["taskset", "-c", self.cpus, *command]
        log = open(self.workdir / f"replica-{index}.log", "ab")  # noqa: SIM115  # the child owns it
        self.procs[index] = subprocess.Popen(command, stdout=log, stderr=log, env=self.env, start_new_session=True)
        log.close()

    def wait_ready(self, index: int, timeout: float = 60) -> None:
        proc = self.procs[index]

        def ready() -> bool:
            if proc is not None and proc.poll() is not None:
                raise HeadwayError(f"replica {index} exited with {proc.returncode}; see {self.workdir}/replica-{index}.log")
            return _listening(self.ports[index]) and _status(self.replica_url(index) + "/healthz") == 200

        wait_until(ready, timeout, f"replica {index} on port {self.ports[index]}")

    def _start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = self.workdir / "nginx.conf"
        conf.write_text(nginx_config(self.workdir, self.port, self.ports, keepalive=self.keepalive))
        self._nginx = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), 15, f"nginx on {self.port}")

    def stop_replica(self, index: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Stop one replica (SIGTERM drains it and flushes its records); returns its exit code."""
        proc = self.procs[index]
        if proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(10)
        self.procs[index] = None
        return code

    def start_replica(self, index: int) -> None:
        self._spawn(index)
        self.wait_ready(index)

    def stop(self) -> None:
        if self._nginx is not None:
            self._nginx.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._nginx.wait(10)
            self._nginx = None
        for index in range(self.count):
            self.stop_replica(index)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ReplicaSet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_replicas(config_path: str, *, replicas: int, port: int | None, keepalive: int) -> None:
    """``headway replicas``: serve a config from N replicas behind nginx until interrupted."""
    from headway.config import load_config

    load_config(config_path)  # fail with a clear message before starting anything
    raw = yaml.safe_load(Path(config_path).read_text()) or {}
    replica_set = ReplicaSet(raw, replicas=replicas, keepalive=keepalive)
    if port:
        replica_set.port = port
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    with replica_set:
        print(f"{replicas} replicas on ports {', '.join(map(str, replica_set.ports))}; nginx on {replica_set.url}", flush=True)
        # Blocked only now: children started earlier keep their own signals.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)


@friendly_errors
def replicas_command(
    config: Annotated[str, typer.Option("--config", "-c", help="Config every replica loads (use a postgresql:// store and redis:).")] = "headway.yaml",
    replicas: Annotated[int, typer.Option("--replicas", "-n", min=1, max=16, help="How many headway serve processes.")] = 3,
    port: Annotated[int | None, typer.Option(help="nginx port (default: a free one).")] = None,
    keepalive: Annotated[int, typer.Option(help="Idle keep-alive connections nginx holds to each replica (0: none).")] = 32,
) -> None:
    """Serve one config from N replicas behind nginx on this machine, until Ctrl-C."""
    run_replicas(config, replicas=replicas, port=port, keepalive=keepalive)
