"""One simulator speaking every cloud dialect, and a gateway with a provider of each cloud type.

Credentials are real in kind: an Azure key and an Entra client secret, AWS keys (from the
environment and from a profile file), a Gemini API key and a freshly generated service
account whose public key the simulator knows. Providers with wrong credentials sit beside
the right ones so tests can show each mistake is refused as ``auth``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from headway.config.loader import parse_config
from headway.sim import Scenario, start_in_thread
from headway.sim.scenario import CloudAuth
from headway.testing import GatewayThread
from tests.conftest import base_config

# One API key for the sim's key-checked dialects (Azure's api-key, Gemini's x-goog-api-key).
AZURE_KEY = "sim-cloud-key-0123456789"
ENTRA_CLIENT, ENTRA_SECRET = "headway-app", "entra-secret-0123456789"
GEMINI_KEY = AZURE_KEY
AWS_KEY_ID, AWS_SECRET = "AKIDSIMULATOR", "sim/aws/secret/0123456789"
SERVICE_ACCOUNT = "headway@sim-project.iam.gserviceaccount.com"
PRICE = {"input": 2.0, "output": 10.0}
# These tests drive every fault at every route; a breaker opening would hide the next fault's kind.
NO_BREAKER = {"enabled": False}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# Upstream model names: unique per run so the simulator's per-model counters belong to these tests.
UPSTREAM = {
    "azure": unique("dep-gpt4o"),
    "azure-entra": unique("dep-entra"),
    "azure-v1": unique("gpt-4o-mini"),
    "bedrock": f"anthropic.claude-{uuid.uuid4().hex[:8]}-v1:0",
    "gemini": unique("gemini-2.5-flash"),
    "vertex": unique("gemini-2.5-pro"),
    "vertex-claude": unique("claude-sonnet-4"),
}
# Gateway model name → (provider, upstream model); the gateway model names are the keys of UPSTREAM.
ROUTES = {
    "azure": ("azure-key", UPSTREAM["azure"]),
    "azure-entra": ("azure-entra", UPSTREAM["azure-entra"]),
    "azure-v1": ("azure-v1", UPSTREAM["azure-v1"]),
    "bedrock": ("bedrock", UPSTREAM["bedrock"]),
    "gemini": ("gemini", UPSTREAM["gemini"]),
    "vertex": ("vertex", UPSTREAM["vertex"]),
    "vertex-claude": ("vertex", UPSTREAM["vertex-claude"]),
}


def service_account(tmp: Path, email: str) -> tuple[Path, str]:
    """A service-account key file and its public key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp / f"{email.split('@')[0]}.json"
    info = {
        "type": "service_account",
        "project_id": "sim-project",
        "private_key_id": uuid.uuid4().hex,
        "private_key": private.decode(),
        "client_email": email,
        "token_uri": "https://oauth2.googleapis.com/token",  # replaced by the provider's token_url
    }
    path.write_text(json.dumps(info))
    return path, public.decode()


@dataclass
class Cloud:
    sim: Any
    gateway: GatewayThread
    scenario: Scenario

    @property
    def sim_url(self) -> str:
        return str(self.sim.url)


def scenario_for(public_key: str, **extra: Any) -> Scenario:
    return Scenario(
        seed=11,
        require_api_key=AZURE_KEY,
        cloud_auth=CloudAuth(
            oauth_clients={ENTRA_CLIENT: ENTRA_SECRET},
            service_accounts={SERVICE_ACCOUNT: public_key},
            aws_keys={AWS_KEY_ID: AWS_SECRET},
        ),
        faults={"hang_max_s": 20, "slow_first_token_ms": 3000, "retry_after_s": 7},
        **extra,
    )


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def cloud(tmp: Path, models: dict[str, Any] | None = None) -> Iterator[Cloud]:
    key_file, public_key = service_account(tmp, SERVICE_ACCOUNT)
    stranger_file, _ = service_account(tmp, "stranger@other-project.iam.gserviceaccount.com")
    wrong_aws = tmp / "aws-credentials"
    wrong_aws.write_text(f"[wrong]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = not-the-secret\n")
    scenario = scenario_for(public_key)
    sim = start_in_thread(scenario, host="127.0.0.1", port=0)
    url = sim.url
    providers = {
        "azure-key": {"type": "azure", "base_url": url, "api_version": "2024-10-21", "api_key": "${AZ_KEY}"},
        "azure-v1": {"type": "azure", "base_url": url, "api_key": "${AZ_KEY}"},
        "azure-entra": {
            "type": "azure",
            "base_url": url,
            "api_version": "2024-10-21",
            "entra": {
                "tenant_id": "tenant-1",
                "client_id": ENTRA_CLIENT,
                "client_secret": "${AZ_SECRET}",
                "token_url": f"{url}/tenant-1/oauth2/v2.0/token",
            },
        },
        "bedrock": {"type": "bedrock", "region": "us-east-1", "base_url": url},
        "gemini": {"type": "gemini", "base_url": url, "api_key": "${GEMINI_KEY}"},
        "vertex": {
            "type": "vertex",
            "base_url": url,
            "project": "sim-project",
            "region": "us-east5",
            "credentials_file": str(key_file),
            "token_url": f"{url}/token",
        },
        # The same clouds with wrong credentials.
        "azure-badkey": {"type": "azure", "base_url": url, "api_version": "2024-10-21", "api_key": "${BAD_KEY}"},
        "azure-badsecret": {
            "type": "azure",
            "base_url": url,
            "entra": {"tenant_id": "t", "client_id": ENTRA_CLIENT, "client_secret": "${BAD_KEY}", "token_url": f"{url}/t/oauth2/v2.0/token"},
        },
        "bedrock-badkey": {"type": "bedrock", "region": "us-east-1", "base_url": url, "aws_profile": "wrong"},
        "gemini-badkey": {"type": "gemini", "base_url": url, "api_key": "${BAD_KEY}"},
        "vertex-stranger": {
            "type": "vertex",
            "base_url": url,
            "project": "sim-project",
            "region": "us-east5",
            "credentials_file": str(stranger_file),
            "token_url": f"{url}/token",
        },
    }
    routes: dict[str, Any] = {
        name: {"deployments": [{"provider": provider, "model": model}], "price": PRICE, "retries": {"max_retries": 0}, "breaker": NO_BREAKER, "timeouts": {"first_token": 1.5, "idle": 2, "total": 10}}
        for name, (provider, model) in ROUTES.items()
    }
    for bad in ("azure-badkey", "azure-badsecret", "bedrock-badkey", "gemini-badkey", "vertex-stranger"):
        upstream = "claude-x" if bad == "vertex-stranger" else "m-" + bad
        routes[bad] = {"deployments": [{"provider": bad, "model": upstream}], "retries": {"max_retries": 0}, "breaker": NO_BREAKER}
    routes.update(models or {})
    raw = base_config(url, f"sqlite:///{tmp}/hw.db", tmp / "spill", providers=providers, models=routes)
    env = {"AZ_KEY": AZURE_KEY, "AZ_SECRET": ENTRA_SECRET, "GEMINI_KEY": GEMINI_KEY, "BAD_KEY": "wrong-key-0123456789"}
    aws_env = {
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SHARED_CREDENTIALS_FILE": str(wrong_aws),
    }
    try:
        with environment(aws_env), GatewayThread(parse_config(raw, env=env)) as gateway:
            yield Cloud(sim=sim, gateway=gateway, scenario=scenario)
    finally:
        sim.stop()
