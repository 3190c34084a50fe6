"""Where the gate gets the config it judges: the file as written, or the running deployment's own.

The file is preferred: only it shows whether secrets are written in plain text. The
gate needs the config's shape, not its secrets, so a secret variable that is unset on
the machine running the gate (CI without production credentials) gets a placeholder,
and a literal secret (which the loader would refuse) is read past, so the rest of the
config can still be judged while ``security.secrets`` reports it.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr

from headway.config import HeadwayConfig, literal_secrets, parse_config
from headway.errors import ConfigError

PLACEHOLDER = "headway-gate-placeholder-secret-0"  # long enough for every secret's length rule
_PLACEHOLDER_VAR = "HEADWAY_GATE_PLACEHOLDER"
# ``${VAR}`` or ``${VAR:-default}`` as the whole value (group 2: the default).
VARIABLE = re.compile(r"^\s*\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}\s*$")
MASK = "**********"  # how pydantic dumps a SecretStr


def _at(tree: Any, path: str) -> tuple[Any, str | int]:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    return node, int(last) if isinstance(node, list) else last


def _as_literal(raw: Any) -> Any:
    """Every ``${VAR}`` string replaced by a literal, so ``literal_secrets`` names all secret-looking keys."""
    if isinstance(raw, dict):
        return {k: _as_literal(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_as_literal(v) for v in raw]
    return "literal" if isinstance(raw, str) and VARIABLE.match(raw) else raw


def _members(annotation: Any) -> list[Any]:
    """The types an annotation admits: ``Annotated`` unwrapped, unions spread."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _typed_secrets(raw: Any, annotation: Any, path: str) -> set[str]:
    found: set[str] = set()
    for member in _members(annotation):
        origin = get_origin(member)
        if member is SecretStr and isinstance(raw, str):
            found.add(path)
        elif isinstance(member, type) and issubclass(member, BaseModel) and isinstance(raw, dict):
            fields = {(f.alias or name): f for name, f in member.model_fields.items()} | dict(member.model_fields)
            for key, value in raw.items():
                field = fields.get(str(key))
                if field is not None:
                    found |= _typed_secrets(value, field.annotation, f"{path}.{key}" if path else str(key))
        elif origin is dict and isinstance(raw, dict):
            value_type = get_args(member)[1]
            for key, value in raw.items():
                found |= _typed_secrets(value, value_type, f"{path}.{key}" if path else str(key))
        elif origin is list and isinstance(raw, list):
            item_type = get_args(member)[0]
            for index, value in enumerate(raw):
                found |= _typed_secrets(value, item_type, f"{path}.{index}")
    return found


def secret_paths(raw: Any) -> list[str]:
    """Key paths of the raw config that hold secrets: secret-looking names (the loader's rule) and every
    field typed as a secret (``bootstrap_admin_key``, say, which the name rule does not catch)."""
    named = set(literal_secrets(_as_literal(raw)))
    return sorted(named | _typed_secrets(raw, HeadwayConfig, ""))


def value_at(raw: Any, path: str) -> Any:
    node, key = _at(raw, path)
    return node[key]


def secret_variables(raw: Any) -> set[str]:
    """Names of the environment variables the file reads secrets from."""
    names = set()
    for path in secret_paths(raw):
        match = VARIABLE.match(str(value_at(raw, path)))
        if match:
            names.add(match.group(1))
    return names


def read_raw(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=path) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from None


def parse_for_gate(raw: Any, *, file: str, env: Mapping[str, str] | None = None) -> HeadwayConfig:
    """Validate the file's config as the gateway would, minus its secrets (see the module docstring)."""
    environ = dict(os.environ if env is None else env)
    patched = raw
    if isinstance(raw, dict):
        literal = literal_secrets(raw)
        if literal:
            patched = yaml.safe_load(yaml.safe_dump(raw))  # a deep copy
            for path in literal:
                node, key = _at(patched, path)
                node[key] = "${" + _PLACEHOLDER_VAR + "}"
            environ[_PLACEHOLDER_VAR] = PLACEHOLDER
        for name in secret_variables(raw):
            environ.setdefault(name, PLACEHOLDER)
    return parse_config(patched, file=file, env=environ)


def _unmask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unmask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unmask(v) for v in value]
    return PLACEHOLDER if value == MASK else value


def live_config(dumped: Any) -> HeadwayConfig:
    """The config a deployment reports (``GET /admin/gate/facts``), its masked secrets as placeholders."""
    try:
        return HeadwayConfig.model_validate(_unmask(dumped))
    except ValueError as exc:
        raise ConfigError(f"the deployment's reported config does not validate here: {exc}") from None


def gateway_url(config: HeadwayConfig) -> str:
    if config.server.public_url:
        return config.server.public_url.rstrip("/")
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.server.port}"
