"""What a piece of evidence is bound to: the config it ran under, the gateway, the routes, the time.

Every stored drill, load run and evaluation run carries a ``Binding``. A check accepts
evidence only when its fingerprint is the current config's, its target is the gateway
being gated, it exercised the routes the check needs and it is younger than the
profile's limit; otherwise the check fails and names the command that makes fresh
evidence. A load test from another gateway, a drill from before the fallbacks were
removed, an evaluation of last month's model: all refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def same_target(a: str | None, b: str | None) -> bool:
    """Two gateway URLs name the same gateway (``/v1`` and trailing slashes aside)."""
    def norm(url: str | None) -> str:
        return (url or "").rstrip("/").removesuffix("/v1").rstrip("/").lower()

    return bool(a) and bool(b) and norm(a) == norm(b)


@dataclass(frozen=True, slots=True)
class Binding:
    fingerprint: str
    target: str
    routes: list[str] = field(default_factory=list)  # the routes (model names) exercised
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "target": self.target, "routes": list(self.routes), "at": self.at}

    @classmethod
    def from_dict(cls, data: Any) -> Binding | None:
        if not isinstance(data, dict) or not data.get("fingerprint") or not data.get("target"):
            return None
        try:
            return cls(str(data["fingerprint"]), str(data["target"]), [str(r) for r in data.get("routes") or []], float(data["at"]))
        except (KeyError, TypeError, ValueError):
            return None


def rejections(
    binding: Binding | None,
    *,
    fingerprint: str | None,
    target: str | None,
    now: float,
    max_age_days: float,
    routes: Iterable[str] = (),
) -> list[str]:
    """Why this evidence cannot count for the deployment being gated (empty: it counts)."""
    if binding is None:
        return ["it is not bound to a config and gateway (made by an older Headway, or by hand)"]
    why = []
    if fingerprint is not None and binding.fingerprint != fingerprint:
        why.append(f"it ran under another config ({binding.fingerprint}; the current config is {fingerprint})")
    if target is not None and not same_target(binding.target, target):
        why.append(f"it ran against another gateway ({binding.target}, not {target})")
    missing = [r for r in routes if r not in binding.routes]
    if missing:
        why.append(f"it did not exercise {', '.join(missing)} (it covered {', '.join(binding.routes) or 'no route'})")
    age = max(0.0, now - binding.at) / 86_400
    if age > max_age_days:
        why.append(f"it is {age:.1f} days old (the profile allows {max_age_days:g})")
    return why
