"""A rolling restart with a waiting SDK caller: two real ``headway serve`` processes on one store.

The official Python SDK waits on a held answer (``Prefer: wait``, an ``Idempotency-Key``)
through a load balancer (a request hook choosing the replica) to replica A. A gets
SIGTERM and the balancer now leads to B: A's drain
timeout answers the caller a JSON 503 (``shutting_down``, ``Retry-After``, the review's
status URL) — never a plain-text 500 — the SDK retries onto B, which joins the same item
and waits; a reviewer approves on B and the caller gets the answer. One review item, one
model call.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.conftest import base_config
from tests.http import post_json, request
from tests.ops.test_reload import ADMIN_KEY, admin, serve  # noqa: F401  (serve is the fixture)
from tests.review.conftest import eventually, review_section

pytestmark = pytest.mark.slow


def write_config(path: Path, sim_url: str, store_url: str) -> Path:
    config = base_config(sim_url, store_url, path.parent / "spill",
                         review=review_section(), server={"drain_timeout_s": 1.0, "drain_notice_s": 0.5})
    config["auth"] = {"mode": "required", "bootstrap_admin_key": "${HW_TEST_RELOAD_ADMIN}",
                      "audit": {"chain_secret": "${HW_TEST_RELOAD_CHAIN:-chain-secret-for-reload-tests-0123456789}"}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_sigterm_to_the_replica_holding_a_waiting_sdk_caller_loses_nothing_and_duplicates_nothing(
    sim: Any, tmp_path: Path, store_url: str, serve: Any  # noqa: F811
) -> None:
    config = write_config(tmp_path / "headway.yaml", sim.url, store_url)
    one, two = serve(config), serve(config)
    port_two = int(two.url.rsplit(":", 1)[1])
    prompt = f"refund order 77 in full ({uuid.uuid4().hex})"
    seen: list[tuple[int, dict[str, str], bytes]] = []

    def keep(response: Any) -> None:
        response.read()
        seen.append((response.status_code, dict(response.headers), response.content))

    result: dict[str, Any] = {}
    balancer = {"port": int(one.url.rsplit(":", 1)[1])}

    def route(outgoing: Any) -> None:  # the load balancer: every attempt goes to the replica in rotation now
        outgoing.url = outgoing.url.copy_with(port=balancer["port"])

    client = openai.OpenAI(base_url=f"{one.url}/v1", api_key=ADMIN_KEY, max_retries=3,
                           http_client=openai.DefaultHttpxClient(
                               event_hooks={"request": [route], "response": [keep]}, timeout=120))

    def call() -> None:
        try:
            result["completion"] = client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": prompt}], metadata={"consequential": "true"},
                extra_headers={"Idempotency-Key": f"ticket-77-{uuid.uuid4().hex}", "Prefer": "wait=60"},
            )
        except Exception as exc:  # surfaced by the assertion below
            result["error"] = exc

    caller = threading.Thread(target=call)
    caller.start()

    def held() -> list[dict[str, Any]]:
        items = request("GET", two.url + "/admin/reviews?status=all&limit=500", headers=admin()).json()["data"]
        return [i for i in items if prompt in json.dumps(
            request("GET", f"{two.url}/admin/reviews/{i['id']}", headers=admin()).json()["request"])]

    [item] = eventually(held, timeout=30, what="the held item")
    balancer["port"] = port_two  # the load balancer takes A out
    one.proc.send_signal(signal.SIGTERM)
    try:
        eventually(lambda: any(status == 503 for status, _, _ in seen), timeout=30, what="A's 503 to the waiting caller")
    except AssertionError:
        raise AssertionError(f"no 503; responses {[(s, b[:300]) for s, _, b in seen]}; result {result}; "
                             f"A's log:\n{one.output()[-4000:]}") from None
    assert caller.is_alive()  # the SDK retries the 503 (after Retry-After) onto B, which joins the item
    decided = post_json(f"{two.url}/admin/reviews/{item['id']}/decide", {"decision": "approve", "comment": "ok"}, admin())
    assert decided.status == 200, decided.body
    caller.join(60)
    assert "error" not in result, result.get("error")
    original = request("GET", f"{two.url}/admin/reviews/{item['id']}", headers=admin()).json()["original"]
    assert result["completion"].model_dump(exclude_unset=True) == original

    _, headers, body = next(s for s in seen if s[0] == 503)
    assert headers["content-type"].startswith("application/json") and int(headers["retry-after"]) > 0
    error = json.loads(body)["error"]
    assert error["code"] == "shutting_down" and error["status_url"].endswith(f"/v1/reviews/{item['id']}")
    assert headers["location"] == error["status_url"]
    assert len(held()) == 1  # one review item
    calls = request("GET", sim.url + "/sim/requests?limit=2000").json()["requests"]
    assert sum(1 for r in calls if prompt in json.dumps(r.get("body"))) == 1  # one model call
    assert one.proc.wait(timeout=30) in (0, -signal.SIGTERM)
