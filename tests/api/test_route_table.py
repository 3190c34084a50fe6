"""One route table: the app's routes, their permissions, /openapi.json and docs/security.md all derive from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from headway import __version__
from headway.api.app import create_app, route_table
from headway.api.openapi import build_openapi
from headway.api.route_table import Endpoint, GuardedMount, GuardedRoute, RouteTable
from headway.auth.permissions import PERMISSIONS, PUBLIC
from headway.config.loader import parse_config
from headway.serving.runtime import Runtime
from tests.conftest import base_config

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


async def _handler(request: Request) -> Response:
    raise AssertionError("never called")


def _operation(operation_id: str) -> dict[str, Any]:
    return {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("route-table")
    config = parse_config(base_config("http://127.0.0.1:9", f"sqlite:///{tmp}/headway.db", tmp / "spill"))
    return create_app(Runtime.from_config(config))


def test_every_route_of_the_app_comes_from_the_table_and_carries_its_permission(app: Any) -> None:
    table = route_table()
    served = [r for r in app.routes if isinstance(r, Route | Mount)]
    assert len(served) == len(table.endpoints) + len(table.mounts) >= 50
    # No plain Starlette route can slip in: each one is guarded and carries its declaration.
    assert all(isinstance(r, GuardedRoute | GuardedMount) for r in served), [r for r in served if not isinstance(r, GuardedRoute | GuardedMount)]
    for route in served:
        assert route.spec.permission in PERMISSIONS or route.spec.permission in ("public", "authenticated")
        if isinstance(route, GuardedRoute):
            assert route.methods is not None and route.spec.method in route.methods
            assert route.endpoint is route.spec.handler


def test_openapi_has_exactly_the_table_with_its_permissions(app: Any) -> None:
    table = route_table()
    document = app.state.openapi
    assert document == build_openapi(table, version=__version__)
    operations = {(method.upper(), path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    declared = {(e.method, e.openapi_path): e for e in table.endpoints}
    assert set(operations) == set(declared)
    for key, endpoint in declared.items():
        operation = operations[key]
        assert operation["x-permission"] == endpoint.permission
        assert operation["operationId"] and operation["responses"]
        assert ("security" in operation) == (endpoint.permission != PUBLIC), key


def test_docs_security_lists_every_route_with_the_permission_the_table_gives_it() -> None:
    text = SECURITY_DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- route-permissions:start -->\n(.*?)\n<!-- route-permissions:end -->", text, re.S)
    assert found, "docs/security.md lost its generated route table"
    expected = route_table().permission_markdown()
    assert found.group(1).strip() == expected, f"regenerate the route table in docs/security.md:\n{expected}"


def test_a_route_declared_twice_or_without_a_description_is_refused() -> None:
    one = Endpoint("GET", "/v1/thing", _handler, "inference", _operation("getThing"))
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable.of([(one, Endpoint("GET", "/v1/thing", _handler, "inference", _operation("getThing2")))])
    with pytest.raises(ValueError, match="operationId"):
        RouteTable.of([(one, Endpoint("POST", "/v1/thing", _handler, "inference", _operation("getThing")))])
    with pytest.raises(ValueError, match="operationId and responses"):
        Endpoint("GET", "/v1/other", _handler, "inference", {"responses": {}})
    with pytest.raises(ValueError, match="method"):
        Endpoint("TRACE", "/v1/other", _handler, "inference", _operation("traceOther"))


def test_path_convertors_do_not_leak_into_openapi() -> None:
    endpoint = Endpoint("GET", "/v1/models/{model:path}", _handler, "inference", _operation("m"))
    assert endpoint.openapi_path == "/v1/models/{model}"
    assert RouteTable.of([(endpoint,)]).permission("HEAD", "/v1/models/{model:path}") == "inference"
