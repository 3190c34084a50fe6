"""The readiness gate: ``headway gate`` measures a running deployment against a profile.

The public surface is re-exported here; see ``README.md`` for the parts.
"""

from headway.gate.check import Check
from headway.gate.drill import DrillRecord, DrillStep, run_fault_drill
from headway.gate.profile import SECTIONS, Profile, load_profile, parse_profile
from headway.gate.registry import BUILTIN_CHECKS, check_ids, checks_for
from headway.gate.results import CheckResult, Finding, GateReport, SectionResult
from headway.gate.runner import GateOptions, run_gate

__all__ = [
    "BUILTIN_CHECKS",
    "SECTIONS",
    "Check",
    "CheckResult",
    "DrillRecord",
    "DrillStep",
    "Finding",
    "GateOptions",
    "GateReport",
    "Profile",
    "SectionResult",
    "check_ids",
    "checks_for",
    "load_profile",
    "parse_profile",
    "run_fault_drill",
    "run_gate",
]
