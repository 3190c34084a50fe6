"""Asynchronous work: background requests, the Batch API, files and the worker. See ``README.md``."""

from headway.jobs.batch_store import BatchStore
from headway.jobs.execute import EMBEDDINGS, RESPONSES, Answer, error_answer
from headway.jobs.job_store import JobStore
from headway.jobs.models import Job
from headway.jobs.multipart import parse_form
from headway.jobs.prefer import parse_prefer, wants_background
from headway.jobs.service import JobService

__all__ = [
    "EMBEDDINGS",
    "RESPONSES",
    "Answer",
    "BatchStore",
    "Job",
    "JobService",
    "JobStore",
    "error_answer",
    "parse_form",
    "parse_prefer",
    "wants_background",
]
