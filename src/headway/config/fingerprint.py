"""A config's fingerprint: what evidence is bound to, so evidence from another config is refused.

Secrets never enter it (a rotated key is the same deployment, and a fingerprint must be
safe to print and store): ``SecretStr`` fields, values under secret-looking keys and a
URL's password are replaced by a marker before hashing. ``leaves`` gives the same view
key by key, hashed, so two fingerprints can say *what* changed without storing values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from headway.config.loader import literal_secrets
from headway.config.models import HeadwayConfig

SECRET = "<secret>"
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.\-]*://[^/:@]*):[^@/]*@", re.IGNORECASE)


def _set(tree: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return SECRET if value == "**********" else _URL_PASSWORD.sub(r"\1:" + SECRET + "@", value)
    return value


def redacted(config: HeadwayConfig) -> dict[str, Any]:
    """The effective config as plain JSON, every secret replaced by a marker."""
    tree = _scrub(config.model_dump(mode="json", by_alias=True))
    for path in literal_secrets(tree):
        _set(tree, path, SECRET)
    return dict(tree)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def config_fingerprint(config: HeadwayConfig) -> str:
    """``sha256:<first 16 hex>`` of the redacted config: equal configs (secrets aside) give equal fingerprints.

    The ``readiness`` section is left out: it is what the gate judges against (owners, runbooks,
    waivers), not how the gateway behaves, so editing it does not make a drill or a load test
    stale. What it declares is checked against the evidence directly (the routes a drill or an
    evaluation covered).
    """
    tree = redacted(config)
    tree.pop("readiness", None)
    return "sha256:" + hashlib.sha256(_canonical(tree)).hexdigest()[:16]


def leaves(config: HeadwayConfig) -> dict[str, str]:
    """Every key path of the redacted config (sections and models one level deep) with a short hash of its value."""
    tree = redacted(config)
    out: dict[str, str] = {}
    for section, value in tree.items():
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                out[f"{section}.{key}"] = hashlib.sha256(_canonical(inner)).hexdigest()[:12]
        else:
            out[section] = hashlib.sha256(_canonical(value)).hexdigest()[:12]
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Key paths added, removed or changed between two ``leaves`` views, in order."""
    keys = sorted(set(before) | set(after))
    return [
        f"{k} ({'added' if k not in before else 'removed' if k not in after else 'changed'})"
        for k in keys
        if before.get(k) != after.get(k)
    ]
