"""The fault drill: which route it picks, where it refuses to run, and that it can be run again at once."""

from __future__ import annotations

from typing import Any

import pytest

from headway.gate.drill import DrillError, drill_model, run_fault_drill
from headway.gate.evidence import Deployment
from headway.gate.profile import DrillSettings
from headway.testing import free_port
from tests.gate.conftest import ADMIN_KEY, PRODUCTION, Site, read_yaml, staging


def test_the_drill_picks_a_chat_route_with_fallbacks_that_no_review_holds(site: Site) -> None:
    config = site.load(PRODUCTION)
    assert drill_model(config, DrillSettings()) == "chat"  # decisions is held for review; embed is not chat
    assert drill_model(config, DrillSettings(model="chat-backup")) == "chat-backup"
    with pytest.raises(DrillError, match="not a chat model"):
        drill_model(config, DrillSettings(model="embed"))


async def test_the_drill_refuses_an_upstream_that_is_not_the_simulator(site: Site) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    def real_upstreams(raw: dict[str, Any]) -> None:
        for provider in raw["providers"].values():
            provider["base_url"] = nowhere + "/v1"

    path = site.write_config(real_upstreams)
    gateway = Deployment("http://127.0.0.1:1", ADMIN_KEY)
    try:
        with pytest.raises(DrillError, match=r"no simulator behind models\.chat"):
            await run_fault_drill(gateway, site.load(path), DrillSettings())
    finally:
        await gateway.close()
    assert read_yaml(path)["providers"]["primary"]["base_url"] == nowhere + "/v1"


async def test_a_second_drill_waits_for_the_first_ones_breaker_and_passes_again(site: Site) -> None:
    with staging(site, {"models": {"chat": {"breaker": {"cooldown_s": 1}}}}, ready=False) as (gateway, path):
        client = Deployment(gateway.url, ADMIN_KEY)
        try:
            config = site.load(path)
            first = await run_fault_drill(client, config, DrillSettings())
            second = await run_fault_drill(client, config, DrillSettings())  # the first left chat's breaker open
        finally:
            await client.close()
    assert first.passed and second.passed, [s.to_dict() for s in second.steps if not s.passed]
    assert second.step("retry") is not None and second.step("retry").observed["served_by"] == "retry"  # type: ignore[union-attr]
