"""Monitored data pipelines: sources held to a data contract, quality checks, runs, the scheduler, profiling, publishing into retrieval. See ``README.md``."""

from headway.pipelines.metrics import DataPlaneMetrics
from headway.pipelines.profile import profile_read
from headway.pipelines.profile_report import contract_yaml, print_profile, profile_html
from headway.pipelines.repository import PipelineRepository
from headway.pipelines.runner import run_pipeline
from headway.pipelines.service import PipelineService
from headway.pipelines.sources import read_source
from headway.pipelines.wiring import build_data_plane, runner_deps

__all__ = [
    "DataPlaneMetrics",
    "PipelineRepository",
    "PipelineService",
    "build_data_plane",
    "contract_yaml",
    "print_profile",
    "profile_html",
    "profile_read",
    "read_source",
    "run_pipeline",
    "runner_deps",
]
