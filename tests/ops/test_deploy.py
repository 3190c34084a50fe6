"""The shipped deployment files work as shipped: the systemd unit verifies, nginx terminates TLS and streams."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread, free_port


def https(port: int, method: str, path: str, body: object | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request over TLS to the nginx front (a self-signed certificate: not verified)."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ssl._create_unverified_context())
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers={"content-type": "application/json"} if data else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = ROOT / ".venv" / "bin"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = tmp_path / "headway.service"
    unit.write_text((DEPLOY / "headway.service").read_text().replace("/opt/headway/venv/bin", str(VENV_BIN)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    text = unit.read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text and "StateDirectory=headway" in text


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def nginx_front(tmp_path: Path, make_config: Callable[..., HeadwayConfig]) -> Iterator[int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed")
    cert, key = self_signed(tmp_path)
    port = free_port()
    with GatewayThread(make_config()) as gw:
        site = (DEPLOY / "nginx-headway.conf").read_text()
        site = site.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{gw.port}").replace("listen 443", f"listen {port}")
        site = site.replace("/etc/headway/tls/fullchain.pem", str(cert)).replace("/etc/headway/tls/privkey.pem", str(key))
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log warn;\nevents {{}}\n"
            f"http {{\n access_log off;\n client_body_temp_path {tmp_path};\n proxy_temp_path {tmp_path};\n{site}\n}}\n"
        )
        proc = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "nginx exited"
                try:
                    https(port, "GET", "/healthz")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "nginx did not come up"
                    time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def test_nginx_terminates_tls_and_passes_answers_and_streams(nginx_front: int) -> None:
    assert https(nginx_front, "GET", "/readyz")[0] == 200
    status, headers, body = https(nginx_front, "POST", "/v1/chat/completions",
                                  {"model": "chat", "messages": [{"role": "user", "content": "via tls"}]})
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] and headers["x-request-id"]
    status, headers, body = https(nginx_front, "POST", "/v1/chat/completions",
                                  {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "stream via tls"}]})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [line for line in body.decode().splitlines() if line.startswith("data: ")]
    assert len(events) > 2 and events[-1] == "data: [DONE]"
