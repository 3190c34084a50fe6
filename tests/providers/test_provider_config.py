"""Provider types in the config: defaults, the fields each type needs, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headway.config.loader import parse_config
from headway.errors import ConfigError
from headway.providers.azure import AzureProvider
from headway.providers.bedrock import BedrockProvider
from headway.providers.gemini import GeminiProvider
from headway.providers.registry import build_provider
from headway.providers.vertex import VertexProvider

ENV = {"KEY": "k-0123456789", "SECRET": "s-0123456789"}


def provider(spec: dict[str, Any]) -> Any:
    config = parse_config({"auth": {"mode": "none"}, "providers": {"p": spec}}, env=ENV)
    return config.providers["p"]


@pytest.mark.parametrize(
    ("spec", "base_url"),
    [
        ({"type": "bedrock", "region": "eu-central-1"}, "https://bedrock-runtime.eu-central-1.amazonaws.com"),
        ({"type": "gemini", "api_key": "${KEY}"}, "https://generativelanguage.googleapis.com"),
        ({"type": "vertex", "project": "p", "region": "us-east5"}, "https://us-east5-aiplatform.googleapis.com"),
        ({"type": "vertex", "project": "p", "region": "global"}, "https://aiplatform.googleapis.com"),
        ({"type": "bedrock", "region": "us-east-1", "base_url": "http://127.0.0.1:9000/"}, "http://127.0.0.1:9000"),
    ],
)
def test_cloud_types_default_their_endpoint(spec: dict[str, Any], base_url: str) -> None:
    assert provider(spec).base_url == base_url


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"type": "azure", "base_url": "https://r.openai.azure.com"}, "exactly one of api_key and entra"),
        (
            {"type": "azure", "base_url": "https://r.openai.azure.com", "api_key": "${KEY}", "entra": {"tenant_id": "t", "client_id": "c", "client_secret": "${SECRET}"}},
            "exactly one of api_key and entra",
        ),
        ({"type": "bedrock"}, "bedrock: region is required"),
        ({"type": "vertex", "project": "p"}, "vertex: region is required"),
        ({"type": "vertex", "region": "us-east5"}, "project and region are required"),
        ({"type": "gemini"}, "gemini: api_key is required"),
        ({"type": "openai", "base_url": "https://x", "entra": {"tenant_id": "t", "client_id": "c", "client_secret": "${SECRET}"}}, "only for type azure"),
        ({"type": "openai", "base_url": "https://x", "max_event_bytes": 10}, "max_event_bytes"),
        ({"type": "watsonx", "base_url": "https://x"}, "type"),
    ],
)
def test_each_type_gets_what_it_needs(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        provider(spec)
    assert says in str(caught.value)


def test_an_entra_secret_written_literally_is_refused() -> None:
    spec = {"type": "azure", "base_url": "https://r.openai.azure.com", "entra": {"tenant_id": "t", "client_id": "c", "client_secret": "literal-secret"}}
    with pytest.raises(ConfigError) as caught:
        provider(spec)
    assert "secrets must not be written in the config file" in str(caught.value)
    assert "entra.client_secret" in str(caught.value)


def test_the_registry_builds_each_type(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text('{"type": "service_account", "client_email": "a@b", "private_key": "unused until a token is needed"}')
    built = {
        "azure": build_provider("a", provider({"type": "azure", "base_url": "https://r.openai.azure.com", "api_key": "${KEY}"})),
        "bedrock": build_provider("b", provider({"type": "bedrock", "region": "us-east-1"})),
        "gemini": build_provider("g", provider({"type": "gemini", "api_key": "${KEY}"})),
        "vertex": build_provider("v", provider({"type": "vertex", "project": "p", "region": "us-east5", "credentials_file": str(key_file)})),
    }
    assert isinstance(built["azure"], AzureProvider)
    assert isinstance(built["bedrock"], BedrockProvider)
    assert isinstance(built["gemini"], GeminiProvider)
    assert isinstance(built["vertex"], VertexProvider)


def test_a_vertex_provider_without_a_key_file_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the service-account key file"):
        build_provider("v", provider({"type": "vertex", "project": "p", "region": "r", "credentials_file": str(tmp_path / "missing.json")}))
