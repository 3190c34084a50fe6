"""The readiness gate: ``headway gate`` measures a running deployment against a profile.

The public surface is re-exported here; see ``README.md`` for the parts.
"""

from headway.gate.binding import Binding
from headway.gate.check import Check
from headway.gate.config_source import gateway_url, parse_for_gate, read_raw
from headway.gate.console import console_pages
from headway.gate.drill import DrillRecord, DrillStep, run_fault_drill
from headway.gate.profile import SECTIONS, Profile, load_profile, parse_profile
from headway.gate.registry import BUILTIN_CHECKS, check_ids, checks_for
from headway.gate.render import FORMATS, print_table, render_html, render_json, render_markdown
from headway.gate.repository import GateRepository
from headway.gate.results import EXIT_CODES, CheckResult, Finding, GateReport, SectionResult
from headway.gate.runner import GateOptions, run_gate

__all__ = [
    "BUILTIN_CHECKS",
    "EXIT_CODES",
    "FORMATS",
    "SECTIONS",
    "Binding",
    "Check",
    "CheckResult",
    "DrillRecord",
    "DrillStep",
    "Finding",
    "GateOptions",
    "GateReport",
    "GateRepository",
    "Profile",
    "SectionResult",
    "check_ids",
    "checks_for",
    "console_pages",
    "gateway_url",
    "load_profile",
    "parse_for_gate",
    "parse_profile",
    "print_table",
    "read_raw",
    "render_html",
    "render_json",
    "render_markdown",
    "run_fault_drill",
    "run_gate",
]
