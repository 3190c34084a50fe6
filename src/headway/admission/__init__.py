"""Admission control: rate and token limits, budgets, deployment queues, load shedding. See ``README.md``."""

from __future__ import annotations

from headway.admission.controller import Admission, AdmissionStats, Grant
from headway.admission.estimate import prompt_tokens
from headway.admission.policy import OVERRIDES_ATTRIBUTE, BudgetRule, LimitPolicy, RateRule, Rules
from headway.admission.queue import DeploymentQueue, Shed
from headway.admission.ticket import Ticket, current_ticket

__all__ = [
    "OVERRIDES_ATTRIBUTE",
    "Admission",
    "AdmissionStats",
    "BudgetRule",
    "DeploymentQueue",
    "Grant",
    "LimitPolicy",
    "RateRule",
    "Rules",
    "Shed",
    "Ticket",
    "current_ticket",
    "prompt_tokens",
]
