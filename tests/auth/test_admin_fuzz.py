"""schemathesis over the access-control admin API, with an admin credential and without one: never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN

EXAMPLES = 10
ADMIN_PATHS = r"^/admin/(keys|audit|records|whoami)"

pytestmark = pytest.mark.slow  # hypothesis generation dominates: ~20 s for the pair


def fuzz(
    gw: GatewayThread, headers: dict[str, str], modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
) -> tuple[int, list[str], set[int]]:
    schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json").include(path_regex=ADMIN_PATHS)
    sent, failures, statuses = 0, [], set()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                nonlocal sent
                response = case.call(base_url=gw.url, headers=headers, timeout=30)
                sent += 1
                statuses.add(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
                elif response.status_code >= 400:
                    error = response.json()["error"]
                    assert {"message", "type", "code"} <= set(error), error

            try:
                run()
            except Unsatisfiable:
                continue
    return sent, failures, statuses


def test_admin_api_with_credentials_never_5xx(secure_gateway: GatewayThread) -> None:
    sent, failures, statuses = fuzz(secure_gateway, ADMIN)
    assert sent >= 100
    assert failures == []
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
    verify = secure_gateway.runtime.auth.audit.log
    assert verify is not None and verify.verify().ok  # hundreds of audited changes, one intact chain


def test_admin_api_without_credentials_is_always_401(secure_gateway: GatewayThread) -> None:
    # Credentials are checked before the body is read: well-formed requests are enough here.
    sent, failures, statuses = fuzz(secure_gateway, {}, (GenerationMode.POSITIVE,))
    assert sent >= 50 and failures == [] and statuses == {401}
