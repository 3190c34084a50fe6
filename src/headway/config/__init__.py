"""Typed configuration for Headway: one YAML file, secrets from the environment."""

from headway.config.loader import load_config, parse_config
from headway.config.models import HeadwayConfig, ModelConfig, ProviderConfig

__all__ = ["HeadwayConfig", "ModelConfig", "ProviderConfig", "load_config", "parse_config"]
