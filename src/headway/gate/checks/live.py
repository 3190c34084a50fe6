"""Checks of settings: the file, then the running process's own config, then (where named) the drill.

A setting the file declares is a claim; the running process reporting the same setting
(``GET /admin/gate/facts``) shows it is live, and a drill step shows it works. Only the
file is "read from config" and scores at most half.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from headway.config import HeadwayConfig
from headway.gate.context import GateContext
from headway.gate.results import Finding

DRILL_FIX = "Run `headway gate --drill` against staging (providers pointing at `headway sim`): it stores a drill bound to this config."


def live(judge: Callable[[HeadwayConfig], Finding], step: str | None = None) -> Callable[[GateContext], Awaitable[Finding]]:
    """Judge the file, then the running process's own config; with ``step``, the current drill must have exercised it.

    Both agreeing (and the drill, where named) is measured; the file alone is read from config (at most half).
    """

    async def run(ctx: GateContext) -> Finding:
        finding = judge(ctx.need_config())
        if finding.score is None or finding.score < 1:
            return finding
        running = await ctx.running_config()
        if running is None:
            return dataclasses.replace(finding, basis="config", fix="Let the gate read GET /admin/gate/facts (an operator or admin key).")
        seen = judge(running)
        if seen.score is not None and seen.score < 1:
            return dataclasses.replace(seen, summary=f"the running deployment's config: {seen.summary}", evidence={**seen.evidence, "source": "GET /admin/gate/facts"})
        evidence = {**finding.evidence, "running_config": "agrees (GET /admin/gate/facts)"}
        if step is not None:
            ok, why_not, drilled = await ctx.drilled(step)
            evidence["drill"] = drilled or why_not
            if not ok:
                return dataclasses.replace(
                    finding, basis="config", evidence=evidence, summary=f"{finding.summary}; not exercised: {why_not}", fix=DRILL_FIX
                )
        return dataclasses.replace(finding, evidence=evidence)

    return run
