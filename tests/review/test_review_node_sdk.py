"""The official OpenAI Node SDK on a held answer: a typed ConflictError with the review id, or the decision.

Runs ``tests/node/held_call.mjs`` with the SDK pinned in ``tests/node/package.json``
(``npm ci`` on first use; skipped, saying why, where node or npm is missing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from headway.testing import GatewayThread
from tests.review.conftest import admin, decide, eventually, item

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node SDK test")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=180
        )
        if installed.returncode != 0:
            pytest.skip(f"npm ci failed (no registry?): {installed.stderr[-400:]}")
    return NODE_DIR / "held_call.mjs"


def start(script: Path, gw: GatewayThread, prompt: str, prefer: str | None = None) -> subprocess.Popen[str]:
    args = ["node", str(script), gw.url + "/v1", prompt, *([prefer] if prefer else [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err  # an exception other than the SDK's APIError fails the script
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def held_for(gw: GatewayThread, prompt: str) -> str:
    found = eventually(
        lambda: [r for r in admin(gw, "GET", "/admin/reviews?status=pending&limit=500").json()["data"]
                 if item(gw, r["id"])["request"]["messages"][0]["content"] == prompt],
        what="the held item",
    )
    assert len(found) == 1, found  # the SDK's retries never hold it twice
    return str(found[0]["id"])


def test_a_plain_node_sdk_call_raises_conflict_error_with_the_review(node_sdk: Path, review_gateway: GatewayThread) -> None:
    result = outcome(start(node_sdk, review_gateway, "node plain call"))
    assert result["kind"] == "error" and result["conflict"] and result["name"] == "ConflictError"
    assert result["status"] == 409 and result["code"] == "review_pending"
    review_id = held_for(review_gateway, "node plain call")
    assert result["review_id"] == review_id
    assert result["status_url"] == result["location"] == f"{review_gateway.url}/v1/reviews/{review_id}"


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_waiting_node_sdk_call_gets_the_decision(node_sdk: Path, review_gateway: GatewayThread, decision: str) -> None:
    prompt = f"node waits ({decision})"
    process = start(node_sdk, review_gateway, prompt, "wait=30")
    review_id = held_for(review_gateway, prompt)
    assert decide(review_gateway, review_id, decision, comment="node").status == 200
    result = outcome(process)
    if decision == "reject":
        assert result["kind"] == "error" and result["denied"] and result["code"] == "review_rejected"
    else:
        original = item(review_gateway, review_id)["original"]
        assert result == {"kind": "completion", "object": "chat.completion",
                          "content": original["choices"][0]["message"]["content"]}
