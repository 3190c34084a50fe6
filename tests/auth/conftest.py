"""Gateways with access control on, and helpers to mint keys through the admin API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.http import post_json, request

ADMIN_KEY = "hw-test-bootstrap-admin-key-0123456789abcdef"
ROLES = ("admin", "operator", "developer", "reviewer", "app")


def secure_auth(**overrides: Any) -> dict[str, Any]:
    return {
        "mode": "required",
        "bootstrap_admin_key": "${HW_TEST_ADMIN_KEY:-" + ADMIN_KEY + "}",
        **overrides,
    }


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_KEY)


def create_key(gw: GatewayThread, **spec: Any) -> tuple[str, str]:
    """Mint a key through ``POST /admin/keys`` with the bootstrap admin key; returns (id, token)."""
    reply = post_json(f"{gw.url}/admin/keys", spec, ADMIN)
    assert reply.status == 201, reply.body
    body = reply.json()
    return body["id"], body["key"]


@pytest.fixture
def secure_config(make_config: Callable[..., HeadwayConfig], tmp_path: Path) -> Callable[..., HeadwayConfig]:
    def build(auth: dict[str, Any] | None = None, **sections: Any) -> HeadwayConfig:
        return make_config(auth=secure_auth(**(auth or {})), **sections)

    return build


@pytest.fixture
def secure_gateway(secure_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(secure_config()) as gw:
        yield gw


def get(gw: GatewayThread, path: str, headers: dict[str, str] | None = None) -> Any:
    return request("GET", gw.url + path, headers=headers or {})
