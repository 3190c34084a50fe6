"""How the gate reads a config: secrets found by name and by type, placeholders for unset secrets, the live config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from headway.errors import ConfigError
from headway.gate.checks.security import plaintext_secrets
from headway.gate.config_source import PLACEHOLDER, live_config, parse_for_gate, secret_paths
from tests.gate.conftest import PRODUCTION, Production, admin


def production_raw() -> dict[str, Any]:
    return dict(yaml.safe_load(PRODUCTION.read_text()))


def test_secrets_are_found_by_name_and_by_type() -> None:
    # By type: every SecretStr field, whatever its name (webhooks' `secret`, the admin key); by name: the
    # loader's rule, which also covers free-form mappings.
    raw = production_raw()
    raw["auth"]["bootstrap_admin_key"] = "written-into-the-file-0123456789"
    raw["providers"]["primary"]["headers"] = {"x-team": "support"}  # not a secret: neither its name nor its type
    raw["observe"]["alerts"]["webhooks"][0]["secret"] = "${ALERT_SECRET:-whsec_default}"
    assert "auth.bootstrap_admin_key" in secret_paths(raw)
    literal, defaults = plaintext_secrets(raw)
    assert literal == ["auth.bootstrap_admin_key"]
    assert defaults == ["observe.alerts.webhooks.0.secret"]


def test_the_gate_reads_a_config_past_its_secrets() -> None:
    raw = production_raw()
    raw["providers"]["primary"]["api_key"] = "sk-live-literal"  # the loader itself refuses this file
    config = parse_for_gate(raw, file="production.yaml", env={})  # and no secret is set in this environment
    assert config.providers["primary"].api_key is not None
    assert config.providers["primary"].api_key.get_secret_value() == PLACEHOLDER
    assert config.auth.bootstrap_admin_key is not None and config.models["decisions"].tags == ["consequential"]


def test_an_unset_variable_that_is_not_a_secret_is_still_an_error() -> None:
    raw = production_raw()
    raw["providers"]["primary"]["base_url"] = "${UPSTREAM_WITHOUT_DEFAULT}/v1"
    with pytest.raises(ConfigError, match="UPSTREAM_WITHOUT_DEFAULT is not set"):
        parse_for_gate(raw, file="production.yaml", env={})


def test_the_deployments_own_config_round_trips_with_its_secrets_masked(production: Production) -> None:
    facts = admin("GET", production.gateway.url + "/admin/gate/facts")
    config = live_config(facts["config"])
    running = production.gateway.runtime.config
    # Sections holding secrets differ only by the masked secrets (review: its webhook secret).
    masked = {"auth", "providers", "observe", "store", "request_log", "review"}
    assert config.model_dump(exclude=masked) == running.model_dump(exclude=masked)
    assert config.review.model_dump(exclude={"webhook_secret"}) == running.review.model_dump(exclude={"webhook_secret"})
    assert config.review.webhook_secret is not None and config.review.webhook_secret.get_secret_value() == PLACEHOLDER
    assert config.auth.bootstrap_admin_key is not None
    assert config.auth.bootstrap_admin_key.get_secret_value() == PLACEHOLDER
    with pytest.raises(ConfigError, match="does not validate"):
        live_config({"models": {"chat": {"deployments": []}}, "auth": {"mode": "none"}})
