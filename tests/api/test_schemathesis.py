"""schemathesis fuzzes Headway's own OpenAPI document: valid and invalid inputs, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from headway.testing import GatewayThread

# The model endpoints take the richest bodies and get the most examples; every other
# operation shares a fixed budget, so adding endpoints does not grow the suite's time.
CORE_EXAMPLES = 150
CORE_PATHS = frozenset({"/v1/chat/completions", "/v1/embeddings"})
OTHER_BUDGET = 1000


def fuzz(base_url: str, schema: Any, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    total = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    others = max(1, sum(op.path not in CORE_PATHS for op in operations))
    for operation in operations:
        examples = CORE_EXAMPLES if operation.path in CORE_PATHS else max(6, OTHER_BUDGET // (2 * others))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                nonlocal total
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                total += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
                elif response.status_code >= 400 and case.path.startswith("/v1"):
                    body = response.json()
                    assert set(body["error"]) >= {"message", "type", "param", "code"}, body

            try:
                run()
            except Unsatisfiable:
                continue  # an operation with no inputs has no negative cases to generate
    return total, failures


@pytest.mark.slow
def test_no_5xx_across_generated_requests(gateway: GatewayThread) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    total, failures = fuzz(gateway.url, schema)
    print(f"schemathesis sent {total} requests")
    assert total >= 1000
    assert failures == []
