"""Load testing for any OpenAI-compatible endpoint: ``headway load``.

The public surface is re-exported here; modules inside are private to this part.
"""

from headway.loadtest.chart import render_html, write_html
from headway.loadtest.command import load_command
from headway.loadtest.config import LoadConfig, StepPlan
from headway.loadtest.report import SCHEMA_VERSION, LoadReport, StepReport
from headway.loadtest.runner import run_load, run_load_blocking
from headway.loadtest.runs import DEFAULT_RUNS_DIR, latest_run, save_run
from headway.loadtest.slo import METRICS, Slo, SloResult, evaluate_slos, parse_slo
from headway.loadtest.stats import Distribution, percentile

__all__ = [
    "DEFAULT_RUNS_DIR",
    "METRICS",
    "SCHEMA_VERSION",
    "Distribution",
    "LoadConfig",
    "LoadReport",
    "Slo",
    "SloResult",
    "StepPlan",
    "StepReport",
    "evaluate_slos",
    "latest_run",
    "load_command",
    "parse_slo",
    "percentile",
    "render_html",
    "run_load",
    "run_load_blocking",
    "save_run",
    "write_html",
]
