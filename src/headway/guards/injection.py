"""Prompt-injection heuristics for untrusted text: user input and retrieved context.

Heuristics, not a classifier: each rule names one well-known attack shape, so a flag says
*why* (which rule) and operators can tune the action per deployment. They catch the
lazy and the copy-pasted attacks; they do not make a model safe against a determined
one (see docs/security.md, LLM01).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ignore_instructions",
        re.compile(
            r"(?is)\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}?"
            r"\b(?:previous|prior|above|earlier|preceding|all|any|system|your)\b.{0,40}?"
            r"\b(?:instructions?|prompts?|rules|directions|guidelines|context|messages?)\b"
        ),
    ),
    (
        "reveal_system_prompt",
        re.compile(
            r"(?is)\b(?:reveal|print|show|repeat|output|leak|dump|tell me|what (?:is|are))\b.{0,40}?"
            r"\b(?:system prompt|hidden (?:instructions|prompt)|initial (?:instructions|prompt)|your (?:instructions|rules|prompt))\b"
        ),
    ),
    (
        "role_override",
        re.compile(
            r"(?i)\byou are now (?:an? )?(?:unrestricted|unfiltered|jailbroken|evil|different)\b"
            r"|\b(?:developer|god|jailbreak|DAN) mode\b|\bdo anything now\b"
            r"|\bpretend (?:that )?you (?:have no|are not bound by|don't have) (?:rules|restrictions|guidelines)\b"
        ),
    ),
    (
        "fake_role_markup",
        re.compile(r"(?im)<\|im_start\|>|<\|(?:system|assistant)\|>|\[/?INST\]|<\s*/?\s*system\s*>|^\s*#{2,}\s*(?:system|instruction)s?\s*:?\s*$"),
    ),
    (
        "exfiltration_link",
        re.compile(r"(?i)!\[[^\]]*\]\(\s*https?://[^)\s]+\?[^)\s]*=[^)\s]*\)"),
    ),
)

RULE_NAMES: tuple[str, ...] = tuple(name for name, _ in _RULES)


@dataclass(frozen=True, slots=True)
class InjectionFinding:
    """Where a rule fired: ``source`` is ``messages[3]`` for input, ``context[0]`` for retrieved text."""

    source: str
    rules: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "rules": list(self.rules)}


def scan_text(text: str) -> tuple[str, ...]:
    """Names of the rules ``text`` trips, in rule order; empty when it looks clean."""
    return tuple(name for name, pattern in _RULES if pattern.search(text))


def scan_texts(texts: Iterable[tuple[str, str]]) -> list[InjectionFinding]:
    """Scan ``(source, text)`` pairs; one finding per source that trips a rule."""
    findings = []
    for source, text in texts:
        rules = scan_text(text)
        if rules:
            findings.append(InjectionFinding(source, rules))
    return findings
