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
# Generated model names are random strings (404 at once); a configured name sends the body
# down the whole chat/embeddings path (guards, routing, the provider call, the record).
CONFIGURED_MODELS = {"/v1/chat/completions": "chat", "/v1/embeddings": "embed"}
OTHER_BUDGET = 1000


def fuzz(base_url: str, schema: Any, headers: dict[str, str] | None = None) -> tuple[int, list[str], int]:
    """Requests sent, 5xx failures, and 200s from the model endpoints (the chat path really ran)."""
    total = 0
    served = 0
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
                nonlocal total, served
                configured = CONFIGURED_MODELS.get(case.path)
                # Every positive case and half the negative ones name a configured model.
                if configured and isinstance(case.body, dict) and (mode is GenerationMode.POSITIVE or total % 2 == 0):  # noqa: B023 (run is called in this iteration)
                    case.body["model"] = configured
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                total += 1
                served += case.path in CORE_PATHS and response.status_code == 200
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
                elif response.status_code >= 400 and case.path.startswith("/v1"):
                    body = response.json()
                    if case.path.startswith("/v1/messages"):  # Anthropic's error shape for Anthropic's API
                        assert body["type"] == "error" and set(body["error"]) >= {"message", "type"}, body
                    else:
                        assert set(body["error"]) >= {"message", "type", "param", "code"}, body

            try:
                run()
            except Unsatisfiable:
                continue  # an operation with no inputs has no negative cases to generate
    return total, failures, served


@pytest.mark.slow
def test_no_5xx_across_generated_requests(gateway: GatewayThread) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    total, failures, served = fuzz(gateway.url, schema)
    print(f"schemathesis sent {total} requests, {served} served by the model endpoints")
    assert total >= 1000
    assert served >= 25  # the configured models were fuzzed through the whole path, not only refused
    assert failures == []
