"""``run_eval``: send every case to a live route, judge the answers, compare with the previous run, save.

Cases run a few at a time (``concurrency``). A held route's answer (202, the route is
under review) is read from the review item with the caller's admin key and the item is
rejected with the comment ``headway eval: …``, so an evaluation never releases an answer
to anyone and never leaves work in the reviewers' queue.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headway.evals.base import Judge
from headway.evals.cases import EvalCase, EvalSet
from headway.evals.client import GatewayClient
from headway.evals.expectations import Answer, judge_answer
from headway.evals.model_judge import ModelJudge
from headway.evals.result import CaseResult, EvalRun, compare
from headway.evals.runs import save_run, saved_runs

EVAL_COMMENT = "headway eval: evaluated, never released"


@dataclass(frozen=True)
class EvalOptions:
    url: str
    api_key: str | None
    route: str
    eval_set: EvalSet
    judge_route: str | None = None
    runs_dir: str | Path = ".headway/evals"
    min_pass_rate: float = 1.0
    concurrency: int = 4
    binding: dict[str, Any] | None = None  # what the run is evidence of (the gate checks it)
    save: bool = True


async def _held_answer(client: GatewayClient, review_id: str) -> tuple[Any, str | None]:
    status, item, _ = await client.call("GET", f"/admin/reviews/{review_id}")
    if status != 200 or not isinstance(item, dict):
        return None, f"held for review ({review_id}) and the item cannot be read (HTTP {status}): give an admin key"
    await client.call("POST", f"/admin/reviews/{review_id}/decide", {"decision": "reject", "comment": EVAL_COMMENT})
    return item.get("original"), None


async def _case(client: GatewayClient, route: str, case: EvalCase, judge: Judge | None) -> CaseResult:
    status, reply, headers = await client.chat(case.request(route))
    request_id = headers.get("x-request-id")
    if status == 202 and isinstance(reply, dict) and reply.get("id"):
        reply, problem = await _held_answer(client, str(reply["id"]))
        if problem:
            return CaseResult(case.id, False, status, [], request_id, problem)
    elif status is None:
        return CaseResult(case.id, False, None, [], None, f"the gateway is unreachable: {reply}")
    elif status != 200:
        detail = reply.get("error", {}).get("message") if isinstance(reply, dict) and isinstance(reply.get("error"), dict) else reply
        return CaseResult(case.id, False, status, [], request_id, f"the route answered HTTP {status}: {str(detail)[:300]}")
    answer = Answer.from_completion(reply)
    if answer is None:
        return CaseResult(case.id, False, status, [], request_id, "the answer is not a chat completion")
    outcomes = await judge_answer(case, answer, judge)
    return CaseResult(case.id, all(o.passed for o in outcomes), status, [o.to_dict() for o in outcomes], request_id)


async def run_eval(options: EvalOptions) -> tuple[EvalRun, Path | None]:
    client = GatewayClient(options.url, options.api_key)
    judge = ModelJudge(client, options.judge_route) if options.judge_route else None
    started = time.time()
    gate = asyncio.Semaphore(max(1, options.concurrency))

    async def one(case: EvalCase) -> CaseResult:
        async with gate:
            return await _case(client, options.route, case, judge)

    try:
        results = await asyncio.gather(*(one(c) for c in options.eval_set.cases))
    finally:
        await client.close()
    run = EvalRun(
        id=f"eval_{secrets.token_hex(8)}",
        set_name=options.eval_set.name,
        set_path=options.eval_set.path,
        set_digest=options.eval_set.digest,
        route=options.route,
        judge=judge.name if judge else None,
        started_at=started,
        finished_at=time.time(),
        cases=list(results),
        min_pass_rate=options.min_pass_rate,
        binding=options.binding,
    )
    earlier = saved_runs(options.runs_dir, options.eval_set.name, route=options.route, limit=1)
    run.previous = compare(run, earlier[0][1] if earlier else None)
    path = save_run(run, options.runs_dir) if options.save else None
    return run, path
