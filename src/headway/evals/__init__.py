"""Model quality: ``headway eval`` runs an evaluation set against a live route and stores the run as evidence.

See ``README.md`` for the parts and ``docs/readiness.md`` for how the gate uses the runs.
"""

from headway.evals.base import Judge, Verdict
from headway.evals.cases import EvalCase, EvalSet, Expectation, load_set
from headway.evals.expectations import Answer, Outcome, judge_answer
from headway.evals.model_judge import ModelJudge
from headway.evals.result import CaseResult, EvalRun, compare
from headway.evals.runner import EVAL_COMMENT, EvalOptions, run_eval
from headway.evals.runs import DEFAULT_RUNS_DIR, save_run, saved_runs

__all__ = [
    "DEFAULT_RUNS_DIR",
    "EVAL_COMMENT",
    "Answer",
    "CaseResult",
    "EvalCase",
    "EvalOptions",
    "EvalRun",
    "EvalSet",
    "Expectation",
    "Judge",
    "ModelJudge",
    "Outcome",
    "Verdict",
    "compare",
    "judge_answer",
    "load_set",
    "run_eval",
    "save_run",
    "saved_runs",
]
