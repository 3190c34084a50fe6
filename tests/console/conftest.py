"""A gateway whose console logs in with a stand-in key check (the auth part's authenticator in production)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from headway.config.models import HeadwayConfig
from headway.console.login import KeyLogin
from headway.errors import AuthenticationError
from headway.testing import GatewayThread

GOOD_KEY = "hw_test_console_operator_key"
READER_LESS_KEY = "hw_test_console_app_key"


@dataclass(frozen=True)
class FakePrincipal:
    name: str
    team: str | None
    roles: frozenset[str]
    permissions: frozenset[str]


async def authenticate(credential: str) -> FakePrincipal:
    if credential == GOOD_KEY:
        return FakePrincipal("ops-1", "platform", frozenset({"operator"}), frozenset({"inference", "requests:read"}))
    if credential == READER_LESS_KEY:
        return FakePrincipal("app-1", None, frozenset({"app"}), frozenset({"inference"}))
    raise AuthenticationError("invalid key")


@pytest.fixture
def console_gateway(make_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(make_config()) as gw:
        gw.runtime.observability.console_login = KeyLogin(authenticate)
        yield gw


def login_cookie(gateway: GatewayThread, key: str = GOOD_KEY) -> Any:
    from tests.http import request

    reply = request(
        "POST", gateway.url + "/console/login", f"api_key={key}&next=/console/requests".encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    )
    return reply
