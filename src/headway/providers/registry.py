"""Build provider adapters from config: one small file per implementation, chosen by ``type``."""

from __future__ import annotations

from headway.config import ProviderConfig
from headway.providers._aws_credentials import AwsCredentialChain
from headway.providers._google_auth import ServiceAccountCredential
from headway.providers.anthropic import AnthropicProvider
from headway.providers.azure import AzureProvider, EntraCredential
from headway.providers.base import Provider
from headway.providers.bedrock import BedrockProvider
from headway.providers.gemini import GeminiProvider
from headway.providers.openai import OpenAIProvider
from headway.providers.vertex import VertexProvider


def build_provider(name: str, config: ProviderConfig) -> Provider:
    api_key = config.api_key.get_secret_value() if config.api_key else None
    if config.type == "openai":
        return OpenAIProvider(
            name,
            base_url=config.base_url,
            api_key=api_key,
            headers=config.headers,
            max_event_bytes=config.max_event_bytes,
            native_responses=config.responses == "native",
        )
    if config.type == "azure":
        entra = None
        if config.entra is not None:
            entra = EntraCredential(
                tenant_id=config.entra.tenant_id,
                client_id=config.entra.client_id,
                client_secret=config.entra.client_secret.get_secret_value(),
                token_url=config.entra.token_url,
                scope=config.entra.scope,
            )
        return AzureProvider(
            name,
            base_url=config.base_url,
            api_version=config.api_version,
            api_key=api_key,
            entra=entra,
            headers=config.headers,
            max_event_bytes=config.max_event_bytes,
        )
    if config.type == "bedrock":
        assert config.region is not None  # the config requires it
        return BedrockProvider(
            name,
            region=config.region,
            base_url=config.base_url,
            credentials=AwsCredentialChain(profile=config.aws_profile),
            headers=config.headers,
            max_event_bytes=config.max_event_bytes,
        )
    if config.type == "gemini":
        assert api_key is not None  # the config requires it
        return GeminiProvider.with_api_key(
            name, base_url=config.base_url, api_key=api_key, headers=config.headers, max_event_bytes=config.max_event_bytes
        )
    if config.type == "vertex":
        assert config.project is not None and config.region is not None  # the config requires them
        return VertexProvider(
            name,
            base_url=config.base_url,
            project=config.project,
            region=config.region,
            credential=ServiceAccountCredential(config.credentials_file, token_url=config.token_url),
            headers=config.headers,
            max_event_bytes=config.max_event_bytes,
        )
    return AnthropicProvider(
        name,
        base_url=config.base_url,
        api_key=api_key,
        headers=config.headers,
        api_version=config.api_version or "2023-06-01",
        max_event_bytes=config.max_event_bytes,
    )


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    return {name: build_provider(name, config) for name, config in configs.items()}
