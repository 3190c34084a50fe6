"""A background job (``Prefer: respond-async``) whose request is held for review.

What happens, as documented in docs/review.md: the job runs the request through the same
path; the answer is held, so the job ends at once — ``status: failed``, ``status_code:
409``, its ``error`` the typed ``review_pending`` error (review id and status URL) — and is
not retried (one item, one model call). The caller then follows the review like any
held caller: its status URL gives the released answer once a reviewer approved it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from headway.testing import GatewayThread
from tests.http import request
from tests.review.conftest import CONSEQUENTIAL, admin, chat, decide, eventually


def job(gw: GatewayThread, job_id: str) -> dict[str, Any]:
    reply = request("GET", f"{gw.url}/v1/jobs/{job_id}")
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json()
    return result


def test_a_held_background_job_ends_with_the_review_ticket_and_the_decision_comes_by_its_status_url(
    review_gateway: GatewayThread, sim: Any
) -> None:
    marker = f"background refund {uuid.uuid4().hex[:8]}"
    accepted = chat(review_gateway, marker, metadata=CONSEQUENTIAL, headers={"prefer": "respond-async"})
    assert accepted.status == 202 and accepted.json()["object"] == "job", accepted.body
    job_id = accepted.json()["id"]

    def done() -> dict[str, Any] | None:
        current = job(review_gateway, job_id)
        return current if current["status"] not in ("queued", "in_progress") else None

    finished = eventually(done, what="the job to finish")
    assert finished["status_code"] == 409 and finished["attempts"] == 1  # a hold is not retried
    # The held answer was paid for: the job reports its request's cost (it read $0 before).
    held_record = review_gateway.record(finished["request_id"])
    assert held_record.cost_usd and finished["cost_usd"] == round(held_record.cost_usd, 9)
    # The job "failed" in the jobs API's terms: its request's answer is the typed hold, not a completion.
    assert finished["status"] == "failed" and finished["result"] is None
    error = finished["error"]
    assert error["code"] == "review_pending" and error["review_id"].startswith("rev_")
    assert error["request_id"] == finished["request_id"] and error["review_status"] == "pending"
    # A job has no Host to build an absolute URL from: the path, unless server.public_url is set.
    assert error["status_url"] == f"/v1/reviews/{error['review_id']}"

    items = admin(review_gateway, "GET", "/admin/reviews?status=all&limit=200").json()["data"]
    mine = [i for i in items if i["request_id"] == finished["request_id"]]
    assert [i["id"] for i in mine] == [error["review_id"]]  # one item
    seen = request("GET", sim.url + "/sim/requests?limit=2000").json()["requests"]
    assert sum(1 for r in seen if marker in json.dumps(r.get("body"))) == 1  # one model call

    assert decide(review_gateway, error["review_id"], "approve").status == 200
    released = request("GET", review_gateway.url + error["status_url"])
    assert released.status == 200 and released.json()["object"] == "chat.completion"
    assert released.json()["choices"][0]["message"]["content"].startswith(
        f"Simulated reply to: {marker}"[:40]
    )
