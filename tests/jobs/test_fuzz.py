"""schemathesis over the jobs, files and batches endpoints: bad input is a 4xx in OpenAI's shape, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from headway.testing import GatewayThread

PATHS = r"^/v1/(jobs|files|batches)"
EXAMPLES = 15

pytestmark = pytest.mark.slow


def test_jobs_api_never_5xx(jobs_gateway: GatewayThread) -> None:
    schema = schemathesis.openapi.from_url(f"{jobs_gateway.url}/openapi.json").include(path_regex=PATHS)
    sent, failures, statuses = 0, [], set()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                nonlocal sent
                response = case.call(base_url=jobs_gateway.url, timeout=30)
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
    assert sent >= 100
    assert failures == []
    assert any(400 <= s < 500 for s in statuses)
