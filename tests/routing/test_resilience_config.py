"""The resilience knobs validate with errors that name the key, and resolve per model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from headway.config.models import HeadwayConfig


def config(models: dict[str, Any], **sections: Any) -> HeadwayConfig:
    return HeadwayConfig.model_validate(
        {
            "auth": {"mode": "none"},
            "providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:9"}},
            "models": models,
            **sections,
        }
    )


def chat(**extra: Any) -> dict[str, Any]:
    return {"deployments": [{"provider": "p", "model": "x"}], **extra}


def error_of(models: dict[str, Any], **sections: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        config(models, **sections)
    return str(caught.value)


def test_defaults_are_safe_and_complete() -> None:
    model = config({"m": chat()}).models["m"]
    assert model.balancing == "weighted"
    assert model.retries.max_retries == 2
    assert "rate_limit" in model.retries.on and "client_error" not in model.retries.on
    assert model.breaker.enabled and model.hedge is None and model.degraded is None
    assert model.fallback_chain("timeout") == []


def test_fallbacks_as_list_apply_to_every_cause_but_a_bad_request() -> None:
    models = config({"m": chat(fallbacks=["n"]), "n": chat()}).models
    assert models["m"].fallback_chain("timeout") == ["n"]
    assert models["m"].fallback_chain("context_window") == ["n"]
    assert models["m"].fallback_chain(None) == []


def test_fallbacks_by_cause() -> None:
    models = config({"m": chat(fallbacks={"rate_limit": ["n"]}), "n": chat()}).models
    assert models["m"].fallback_chain("rate_limit") == ["n"]
    assert models["m"].fallback_chain("timeout") == []


def test_unknown_and_self_fallbacks_are_refused_with_their_path() -> None:
    assert "models.m.fallbacks.0: unknown model 'ghost'" in error_of({"m": chat(fallbacks=["ghost"])})
    assert "models.m.fallbacks.timeout.0" in error_of({"m": chat(fallbacks={"timeout": ["m"]})})


def test_fallback_must_be_of_the_same_kind() -> None:
    embed = {"kind": "embeddings", "deployments": [{"provider": "p", "model": "e"}]}
    assert "expected 'chat'" in error_of({"m": chat(fallbacks=["e"]), "e": embed})


def test_degraded_takes_exactly_one_of_model_or_message() -> None:
    assert "exactly one" in error_of({"m": chat(degraded={})})
    assert "exactly one" in error_of({"m": chat(degraded={"message": "x", "model": "m"}), "n": chat()})
    assert "unknown model 'ghost'" in error_of({"m": chat(degraded={"model": "ghost"})})


def test_unknown_keys_are_errors() -> None:
    assert "retrys" in error_of({"m": chat(retrys={"max_retries": 1})})
    assert "max_retry" in error_of({"m": chat(retries={"max_retry": 1})})


def test_semantic_cache_needs_an_embeddings_model() -> None:
    assert "embeddings_model" in error_of({"m": chat()}, cache={"semantic": {"enabled": True}})
    message = error_of({"m": chat()}, cache={"semantic": {"enabled": True, "embeddings_model": "m"}})
    assert "cache.semantic.embeddings_model" in message and "expected 'embeddings'" in message


def test_contract_schema_is_read_from_the_schema_key() -> None:
    model = config({"m": chat(contract={"schema": {"type": "object"}, "max_repairs": 2})}).models["m"]
    assert model.contract.json_schema == {"type": "object"} and model.contract.max_repairs == 2
