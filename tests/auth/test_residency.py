"""Data residency and classification: requests never reach a deployment outside their constraint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from headway.auth.residency import Residency, eligible, narrowed
from headway.config.models import HeadwayConfig
from headway.errors import PermissionDeniedError
from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN, bearer, create_key
from tests.http import post_json, request

LEVELS = ("public", "internal", "confidential", "restricted")


@dataclass
class Dep:
    id: str
    region: str | None
    data_classes: tuple[str, ...] | None
    provider_name: str = "p"
    model: str = "m"


def test_regions_nest_by_prefix_and_undeclared_regions_are_ineligible() -> None:
    deployments = [Dep("au", "au", None), Dep("syd", "au-syd", None), Dep("us", "us-east", None), Dep("anywhere", None, None)]
    allowed, skipped = eligible(deployments, Residency(regions=frozenset({"au"}), levels=LEVELS))
    assert [d.id for d in allowed] == ["au", "syd"]
    reasons = {d.id: reason for d, reason in skipped}
    assert "outside the allowed au" in reasons["us"] and "declares no region" in reasons["anywhere"]


def test_class_approval_covers_less_sensitive_classes_only() -> None:
    deployments = [Dep("internal", None, ("internal",)), Dep("restricted", None, ("restricted",)), Dep("none", None, None)]
    allowed, skipped = eligible(deployments, Residency(data_class="confidential", levels=LEVELS))
    assert [d.id for d in allowed] == ["restricted"]
    assert {d.id for d, _ in skipped} == {"internal", "none"}
    assert [d.id for d in eligible(deployments, Residency(data_class="public", levels=LEVELS))[0]] == ["internal", "restricted"]
    assert eligible(deployments, None) == (deployments, [])


def test_headers_narrow_but_never_widen() -> None:
    assert narrowed(frozenset({"au"}), None, {"x-headway-region": "au-syd"}, LEVELS).regions == {"au-syd"}
    assert narrowed(None, None, {"x-headway-region": "EU, us"}, LEVELS).regions == {"eu", "us"}
    assert narrowed(None, "internal", {"x-headway-data-class": "restricted"}, LEVELS).data_class == "restricted"
    with pytest.raises(PermissionDeniedError, match="only narrow"):
        narrowed(frozenset({"au"}), None, {"x-headway-region": "us"}, LEVELS)
    with pytest.raises(PermissionDeniedError, match="only raise"):
        narrowed(None, "confidential", {"x-headway-data-class": "public"}, LEVELS)
    with pytest.raises(PermissionDeniedError, match="not a data class"):
        narrowed(None, None, {"x-headway-data-class": "secret-ish"}, LEVELS)
    assert Residency(frozenset({"au"}), "internal").partition_key() != Residency(frozenset({"au"}), "confidential").partition_key()


@pytest.fixture
def residency_gateway(secure_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    config = secure_config(
        auth={"teams": {"anz": {"regions": ["au"]}, "vault": {"data_class": "restricted"}}},
        models={
            "chat-au": {
                "deployments": [
                    {"provider": "sim", "model": "res-au-model", "region": "au-east", "data_classes": ["confidential"]},
                    {"provider": "sim", "model": "res-us-model", "region": "us-east", "data_classes": ["confidential"]},
                ],
                "fallbacks": ["chat-us"],
                "retries": {"max_retries": 1},
            },
            "chat-us": {"deployments": [{"provider": "sim", "model": "res-us-fallback", "region": "us-east", "data_classes": ["restricted"]}]},
            "chat-internal": {"deployments": [{"provider": "sim", "model": "res-internal", "data_classes": ["internal"]}]},
        },
    )
    with GatewayThread(config) as gw:
        yield gw


def sim_counts(sim: Any) -> dict[str, int]:
    return dict(request("GET", f"{sim.url}/sim/stats").json()["by_model"])


def ask(gw: GatewayThread, token: str, model: str, headers: dict[str, str] | None = None) -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": "where does my data go?"}]}
    return post_json(f"{gw.url}/v1/chat/completions", body, {**bearer(token), **(headers or {})})


def test_failing_in_region_deployment_never_falls_back_out_of_region(residency_gateway: GatewayThread, sim: Any) -> None:
    _, token = create_key(residency_gateway, principal="anz-app", roles=["app"], team="anz")
    before = sim_counts(sim)
    assert post_json(f"{sim.url}/sim/faults", {"fault": "500", "model": "res-au-model", "count": 10}, {}).status == 200
    try:
        reply = ask(residency_gateway, token, "chat-au")
    finally:
        request("DELETE", f"{sim.url}/sim/faults")
    after = sim_counts(sim)
    assert after.get("res-au-model", 0) > before.get("res-au-model", 0)  # the in-region one was tried
    assert after.get("res-us-model", 0) == before.get("res-us-model", 0)  # never sent out of region
    assert after.get("res-us-fallback", 0) == before.get("res-us-fallback", 0)  # nor to the fallback model
    assert reply.status == 502
    message = reply.json()["error"]["message"]
    assert "within region au" in message and "us-east" in message
    residency_gateway.flush()
    record = residency_gateway.runtime.store.get_request(reply.headers["x-request-id"])
    assert record is not None
    skipped = {a.deployment for a in record.attempts if a.outcome == "skipped" and a.error_type == "residency"}
    assert skipped == {"sim/res-us-model", "sim/res-us-fallback"}


def test_no_eligible_deployment_is_a_clear_403(residency_gateway: GatewayThread, sim: Any) -> None:
    _, token = create_key(residency_gateway, principal="anz-app2", roles=["app"], team="anz")
    before = sim_counts(sim)
    reply = ask(residency_gateway, token, "chat-us")
    assert reply.status == 403
    error = reply.json()["error"]
    assert error["code"] == "residency_no_eligible_deployment" and "us-east, outside the allowed au" in error["message"]
    assert sim_counts(sim).get("res-us-fallback", 0) == before.get("res-us-fallback", 0)
    audit = request("GET", f"{residency_gateway.url}/admin/audit?action=request.denied", headers=ADMIN).json()["data"]
    assert any(r["target"] == "model:chat-us" and r["actor"] == "anz-app2" and r["detail"]["residency"] == "region au"
               for r in audit)


def test_header_narrows_an_unconstrained_key(residency_gateway: GatewayThread, sim: Any) -> None:
    _, token = create_key(residency_gateway, principal="global-app", roles=["app"])
    before = sim_counts(sim)
    for _ in range(4):
        assert ask(residency_gateway, token, "chat-au", {"x-headway-region": "au"}).status == 200
    after = sim_counts(sim)
    assert after.get("res-au-model", 0) - before.get("res-au-model", 0) == 4
    assert after.get("res-us-model", 0) == before.get("res-us-model", 0)


def test_header_cannot_widen_a_team_constraint(residency_gateway: GatewayThread) -> None:
    _, token = create_key(residency_gateway, principal="anz-app3", roles=["app"], team="anz")
    reply = ask(residency_gateway, token, "chat-au", {"x-headway-region": "us"})
    assert reply.status == 403 and reply.json()["error"]["code"] == "residency_widening"


def test_data_class_rules_out_unapproved_deployments(residency_gateway: GatewayThread, sim: Any) -> None:
    _, token = create_key(residency_gateway, principal="vault-app", roles=["app"], team="vault")
    refused = ask(residency_gateway, token, "chat-internal")  # approved for internal data, not restricted
    assert refused.status == 403 and "not for restricted data" in refused.json()["error"]["message"]
    before = sim_counts(sim)
    # chat-au's deployments are approved up to confidential: its fallback (approved for restricted) answers.
    served = ask(residency_gateway, token, "chat-au")
    assert served.status == 200 and served.headers["x-headway-served-by"] == "fallback:chat-us"
    after = sim_counts(sim)
    assert after.get("res-us-fallback", 0) == before.get("res-us-fallback", 0) + 1
    assert (after.get("res-au-model", 0), after.get("res-us-model", 0)) == (before.get("res-au-model", 0), before.get("res-us-model", 0))


def test_deployments_may_only_name_known_data_classes(secure_config: Callable[..., HeadwayConfig]) -> None:
    from headway.errors import ConfigError

    config = secure_config(models={"m": {"deployments": [{"provider": "sim", "model": "x", "data_classes": ["top-secret"]}]}})
    with pytest.raises(ConfigError, match=r"models\.m\.deployments\.0\.data_classes"):
        GatewayThread(config)


def test_a_cached_answer_never_crosses_to_a_stricter_data_class(secure_config: Callable[..., HeadwayConfig], sim: Any) -> None:
    config = secure_config(
        auth={"teams": {"ops": {"data_class": "internal"}, "ops2": {"data_class": "internal"}, "vault": {"data_class": "restricted"}}},
        cache={"enabled": True, "scope": "global"},
        models={"chat-shared": {"deployments": [{"provider": "sim", "model": "res-cache-model", "data_classes": ["internal", "restricted"]}]}},
    )
    with GatewayThread(config) as gw:
        tokens = {team: create_key(gw, principal=f"{team}-app", roles=["app"], team=team)[1] for team in ("ops", "ops2", "vault")}
        before = sim_counts(sim).get("res-cache-model", 0)
        first = ask(gw, tokens["ops"], "chat-shared")
        same_class = ask(gw, tokens["ops2"], "chat-shared")
        stricter = ask(gw, tokens["vault"], "chat-shared")
        assert first.status == same_class.status == stricter.status == 200
        assert same_class.headers["x-headway-served-by"] == "cache"  # the cache is shared within a class
        assert stricter.headers["x-headway-served-by"] != "cache"  # never across to a stricter one
        assert sim_counts(sim).get("res-cache-model", 0) - before == 2
