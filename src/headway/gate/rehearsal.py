"""The short load test ``headway gate --drill`` runs before scoring.

One closed-loop step at the profile's target concurrency, bounded by
``drill.load_duration_s`` and ``drill.load_requests`` (whichever comes first), with the
profile's SLOs, saved where ``headway load`` saves its runs so the load checks read it
exactly as they would read a run an operator made.
"""

from __future__ import annotations

from pathlib import Path

from headway.config import HeadwayConfig
from headway.gate.binding import Binding
from headway.gate.profile import Profile
from headway.loadtest import LoadConfig, LoadReport, parse_slo, run_load, save_run


async def run_rehearsal(
    url: str, api_key: str | None, config: HeadwayConfig, model: str, profile: Profile, runs_dir: Path, *, binding: Binding
) -> tuple[LoadReport, Path]:
    """Load ``model`` at ``url`` for a few seconds; return the report (bound to ``binding``) and where it was saved."""
    price = config.models[model].price
    load = LoadConfig(
        base_url=url.rstrip("/") + "/v1",
        model=model,
        api_key=api_key,
        concurrency=(profile.load.target_concurrency,),
        duration_s=profile.drill.load_duration_s,
        requests=profile.drill.load_requests,
        unique_prompts=True,  # a response cache must not answer for the upstream
        timeout_s=profile.drill.request_timeout_s,
        price_input=price.input if price else None,
        price_output=price.output if price else None,
        slos=tuple(parse_slo(profile.load.slos)),
    )
    report = await run_load(load)
    # The run's own snapshot carries what it is evidence of: the gate refuses it for another config or gateway.
    report.config["binding"] = Binding(binding.fingerprint, binding.target, [model], report.finished_at).to_dict()
    return report, save_run(report, runs_dir)
