"""The config file: env interpolation, validation errors that name file, key path and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from headway.config.loader import interpolate, load_config, parse_config
from headway.config.models import HeadwayConfig
from headway.config.pipelines import FieldRule
from headway.config.review import MatchConfig
from headway.errors import ConfigError

MINIMAL = {
    "auth": {"mode": "none"},
    "providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key": "${KEY}"}},
    "models": {"m": {"deployments": [{"provider": "p", "model": "gpt-4o-mini"}]}},
}


def test_interpolation_reads_the_environment_with_defaults() -> None:
    env = {"A": "one"}
    assert interpolate({"x": "${A}", "y": ["${B:-two}", "pre-${A}-post"], "n": 3}, env) == {
        "x": "one",
        "y": ["two", "pre-one-post"],
        "n": 3,
    }
    assert interpolate("${EMPTY:-}", {}) == ""


def test_missing_variable_names_the_variable_and_key_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL, file="h.yaml", env={})
    message = str(caught.value)
    assert "KEY" in message and "providers.p.api_key" in message and "h.yaml" in message


def test_secret_is_resolved_but_never_printed() -> None:
    config = parse_config(MINIMAL, env={"KEY": "sk-very-secret"})
    api_key = config.providers["p"].api_key
    assert api_key is not None and api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(config) and "sk-very-secret" not in str(config.model_dump())


@pytest.mark.parametrize(
    ("section", "key", "path"),
    [
        ("providers", None, "providers.p.api_key"),
        ("auth", "bootstrap_admin_key", "auth.bootstrap_admin_key"),
    ],
)
def test_literal_secret_in_the_file_is_refused(section: str, key: str | None, path: str) -> None:
    raw = json.loads(json.dumps(MINIMAL))
    if key is None:
        raw["providers"]["p"]["api_key"] = "sk-live-oops"
    else:
        raw[section][key] = "hw-literal-admin-key"
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, file="h.yaml", env={"KEY": "k"})
    assert caught.value.path == path
    assert "${VAR}" in str(caught.value)


@pytest.mark.parametrize(
    ("patch", "path", "expected"),
    [
        ({"server": {"port": "eighty"}}, "server.port", "valid integer"),
        ({"server": {"prot": 1}}, "server.prot", "unknown key"),
        ({"store": "mysql://x"}, "store", "sqlite:/// or postgresql://"),
        ({"models": {"m": {"deployments": []}}}, "models.m.deployments", "at least 1"),
        ({"models": {"m": {"deployments": [{"provider": "nope", "model": "x"}]}}}, "models.m.deployments.0.provider", "unknown provider"),
        ({"providers": {"p": {"type": "grpc", "base_url": "http://x"}}}, "providers.p.type", "openai"),
        ({"providers": {"p": {"type": "openai", "base_url": "ftp://x"}}}, "providers.p.base_url", "http"),
    ],
)
def test_validation_errors_name_path_and_expectation(patch: dict, path: str, expected: str) -> None:
    raw = {**MINIMAL, **patch}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, file="h.yaml", env={"KEY": "k"})
    assert path in str(caught.value)
    assert expected in str(caught.value)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: [1,\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "bad.yaml" in str(caught.value) and "line" in str(caught.value)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_deployment_timeouts_override_model_timeouts() -> None:
    from headway.routing.deployments import build_routes

    raw = json.loads(json.dumps(MINIMAL))
    raw["models"]["m"]["timeouts"] = {"first_token": 10, "total": 60}
    raw["models"]["m"]["deployments"][0]["timeouts"] = {"first_token": 2}
    config = parse_config(raw, env={"KEY": "k"})
    routes = build_routes(config, {"p": object()})  # type: ignore[dict-item]  # providers are not called here
    timeouts = routes["m"].deployments[0].timeouts
    assert (timeouts.first_token, timeouts.total) == (2, 60)


def test_bundled_demo_config_is_valid() -> None:
    import headway

    demo = Path(headway.__file__).parent / "examples" / "demo.yaml"
    # The audit chain's secret is the one thing the demo needs from outside (`headway demo`
    # makes it once and keeps it in .headway/demo.env); without it the error names it.
    with pytest.raises(ConfigError, match="HEADWAY_AUDIT_SECRET"):
        load_config(demo, env={})
    config = load_config(demo, env={"HEADWAY_AUDIT_SECRET": "demo-audit-secret-for-tests-0123456789"})
    assert isinstance(config, HeadwayConfig)
    assert {"chat-default", "claude", "sim-hash-embeddings"} <= set(config.models)


@pytest.mark.parametrize(("model", "field"), [(FieldRule, "pattern"), (MatchConfig, "output_regex")])
def test_a_regular_expression_that_does_not_compile_is_refused_at_load(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        model(**{field: "(unclosed"})
    assert getattr(model(**{field: "^a+$"}), field) == "^a+$"
