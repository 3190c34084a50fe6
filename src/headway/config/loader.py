"""Load the YAML config: interpolate ``${VAR}`` from the environment, then validate.

Errors name the file, the key path and what was expected, because the person reading
them is an operator at a terminal, not a Python developer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from headway.config.models import HeadwayConfig
from headway.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def interpolate(value: Any, env: Mapping[str, str], *, file: str | None = None, path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a YAML tree."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, file=file, path=f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, file=file, path=f"{path}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set (and no ${{{name}:-default}} was given)", file=file, path=path)

    return _VAR.sub(replace, value)


def literal_secrets(raw: Any, path: str = "") -> list[str]:
    """Key paths whose secret-looking values are written literally instead of as ``${VAR}``."""
    found: list[str] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and _is_secret_key(str(key)) and value and not _VAR.fullmatch(value.strip()):
                found.append(sub)
            else:
                found.extend(literal_secrets(value, sub))
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            found.extend(literal_secrets(value, f"{path}.{index}"))
    return found


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in {"api_key", "secret", "password", "token", "signing_secret", "client_secret"} or key.endswith(
        ("_secret", "_password", "_token", "_key")
    )


def parse_config(raw: Any, *, file: str | None = None, env: Mapping[str, str] | None = None) -> HeadwayConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a mapping of sections (server, store, providers, models, …)", file=file)
    secrets = literal_secrets(raw)
    if secrets:
        raise ConfigError(
            "secrets must not be written in the config file; use ${VAR} to read them from the environment",
            file=file,
            path=secrets[0],
        )
    resolved = interpolate(raw, os.environ if env is None else env, file=file)
    try:
        return HeadwayConfig.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), file=file, path=_first_path(exc)) from None


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> HeadwayConfig:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=file) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"not valid YAML: {where}{getattr(exc, 'problem', exc)}", file=file) from None
    return parse_config(raw, file=file, env=env)


def _loc(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"])


def _first_path(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return _loc(errors[0]) or None if errors else None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = _loc(error)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `headway config schema` lists the keys)"
        elif error["type"] == "missing":
            message = "required key is missing"
        parts.append(f"{loc}: {message}" if loc and len(exc.errors()) > 1 else message)
    return "; ".join(parts)
