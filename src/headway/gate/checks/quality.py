"""Model quality: a current, passing evaluation per declared route, and human signals where there are any.

Each declared chat route names its evaluation set (``readiness.routes.<r>.eval_set``);
``headway eval`` runs it against the live route and saves the run bound to the config and
gateway. The check takes the newest run of that set against that route which is bound to
the current config and gateway and younger than ``quality.max_age_days``, and requires
its pass rate to reach ``quality.min_pass_rate`` with no case that passed last time
failing now. Where reviewers have decided items (drill and eval decisions aside) or
callers have sent feedback, those must meet ``quality.min_agreement`` and
``quality.min_feedback_score`` too; their absence is reported, not scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headway.errors import HeadwayError
from headway.evals import EVAL_COMMENT, EvalRun, saved_runs
from headway.gate.binding import Binding
from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, passed

_SYNTHETIC = ("headway gate drill", EVAL_COMMENT)  # decisions the gate and eval make themselves
_FIX = (
    "Give each declared chat route an evaluation set (`readiness.routes.<route>.eval_set: evals/route.jsonl`) and run "
    "`headway eval SET --route ROUTE --config FILE` (it saves a run bound to this config) before gating."
)


def _newest_bound(ctx: GateContext, route: str, eval_set: str) -> tuple[EvalRun | None, list[dict[str, Any]]]:
    refused: list[dict[str, Any]] = []
    try:
        stored = saved_runs(ctx.evals_root, Path(eval_set).stem, route=route, limit=20)
    except HeadwayError as exc:
        raise EvidenceUnavailable(str(exc)) from None
    for path, run in stored:
        why = ctx.rejections(Binding.from_dict(run.binding), ctx.profile.quality.max_age_days, routes=[route])
        if not why:
            return run, refused
        refused.append({"run": str(path), "refused": why})
    return None, refused


async def _signals(ctx: GateContext) -> dict[str, Any]:
    """Reviewer agreement and feedback where present (a signal absent is reported, not scored)."""
    out: dict[str, Any] = {}
    try:
        final = await ctx.api("/admin/reviews?status=final&limit=500")
        decided = [
            i for i in final.get("data") or []
            if i.get("status") in ("approved", "edited", "rejected") and not str(i.get("comment") or "").startswith(_SYNTHETIC)
        ]
        if decided:
            approved = sum(1 for i in decided if i.get("status") == "approved")
            out["reviewer_agreement"] = {"decided": len(decided), "approved_unchanged": approved, "rate": round(approved / len(decided), 4)}
    except EvidenceUnavailable as exc:
        out["reviewer_agreement"] = {"unavailable": str(exc)}
    try:
        feedback = await ctx.api("/admin/feedback?limit=1000")
        # Review decisions are copied into feedback too: the gate's and eval's own decisions are not people's signal.
        scores = [
            float(f["score"]) for f in feedback.get("data") or []
            if isinstance(f.get("score"), int | float) and not str(f.get("comment") or "").startswith(_SYNTHETIC)
        ]
        if scores:
            out["feedback"] = {"scored": len(scores), "mean": round(sum(scores) / len(scores), 4)}
    except EvidenceUnavailable as exc:
        out["feedback"] = {"unavailable": str(exc)}
    return out


async def evals(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    settings = ctx.profile.quality
    routes = {r: d for r, d in config.readiness.routes.items() if config.models[r].kind == "chat"}
    if not routes:
        return failed(
            "no chat route is declared (readiness.routes), so no evaluation is required of anything",
            fix=_FIX,
            declared=list(config.readiness.routes),
            chat_models=[n for n, m in config.models.items() if m.kind == "chat"],
        )
    problems: list[str] = []
    seen: dict[str, Any] = {}
    for route, declared in routes.items():
        if declared.eval_set is None:
            problems.append(f"{route}: no evaluation set declared")
            continue
        run, refused = _newest_bound(ctx, route, declared.eval_set)
        if run is None:
            why = refused[0]["refused"] if refused else [f"no run of {Path(declared.eval_set).stem} in {ctx.evals_root}"]
            problems.append(f"{route}: no current evaluation ({'; '.join(why)})")
            seen[route] = {"refused": refused[:3]}
            continue
        previous = run.previous or {}
        seen[route] = {
            "run": run.id, "finished_at": run.finished_at, "pass_rate": round(run.pass_rate, 4), "cases": len(run.cases),
            "previous_pass_rate": previous.get("pass_rate"), "newly_failing": run.regressed, "judge": run.judge,
        }
        if run.regressed:
            problems.append(f"{route}: regressed since {previous.get('id')}: {', '.join(run.regressed[:5])} passed then, fail now")
        if run.pass_rate + 1e-9 < settings.min_pass_rate:
            failing = [c.id for c in run.cases if not c.passed]
            problems.append(f"{route}: {run.pass_rate:.0%} of cases pass (needs {settings.min_pass_rate:.0%}; failing {', '.join(failing[:5])})")
        elif not run.regressed and previous.get("same_set") and float(previous.get("pass_rate") or 0) - run.pass_rate > settings.max_regression + 1e-9:
            problems.append(f"{route}: pass rate fell from {previous.get('pass_rate'):.0%} to {run.pass_rate:.0%}")
    signals = await _signals(ctx)
    agreement = (signals.get("reviewer_agreement") or {}).get("rate")
    if agreement is not None and agreement < settings.min_agreement:
        problems.append(f"reviewers approved {agreement:.0%} of held answers unchanged (needs {settings.min_agreement:.0%})")
    mean = (signals.get("feedback") or {}).get("mean")
    if mean is not None and mean < settings.min_feedback_score:
        problems.append(f"mean feedback score {mean:g} is below {settings.min_feedback_score:g}")
    evidence: dict[str, Any] = {"routes": seen, "signals": signals or "no reviewer decisions or feedback yet"}
    if problems:
        return failed("; ".join(problems), fix=_FIX, **evidence)
    return passed(f"every declared chat route ({', '.join(routes)}) has a current passing evaluation, no regression", **evidence)


CHECKS = (
    Check(
        "quality.evals", "quality", "Each route passes its evaluation, without regression",
        "Runs saved by `headway eval` (quality.runs_dir): per declared chat route, the newest run bound to this config and "
        "gateway, its pass rate and the cases newly failing since the previous run; reviewer agreement and feedback where present.",
        _FIX,
        evals,
    ),
)
