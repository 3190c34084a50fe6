"""Build provider adapters from config: one small file per implementation, chosen by ``type``."""

from __future__ import annotations

from headway.config.models import ProviderConfig
from headway.providers.base import Provider


def build_provider(name: str, config: ProviderConfig) -> Provider:
    api_key = config.api_key.get_secret_value() if config.api_key else None
    if config.type == "openai":
        from headway.providers.openai import OpenAIProvider

        return OpenAIProvider(name, base_url=config.base_url, api_key=api_key, headers=config.headers)
    from headway.providers.anthropic import AnthropicProvider

    return AnthropicProvider(
        name,
        base_url=config.base_url,
        api_key=api_key,
        headers=config.headers,
        api_version=config.api_version or "2023-06-01",
    )


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    return {name: build_provider(name, config) for name, config in configs.items()}
