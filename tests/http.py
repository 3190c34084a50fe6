"""A tiny raw HTTP client for tests that need exact control over bytes and headers."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def post_json(url: str, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return request("POST", url, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})})
