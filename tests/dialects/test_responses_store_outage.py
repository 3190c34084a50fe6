"""A store outage while answering ``/v1/responses``: the answer (already paid for) still goes
out, marked ``store: false``; retrieving is a 503 meanwhile; the request record survives.
SQLite: the database's folder disappears; PostgreSQL: its TCP proxy is cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.store.test_api_errors import breakable_store


def test_an_outage_answers_unstored_and_keeps_the_record(sim: Any, tmp_path: Path, store_url: str) -> None:
    with (
        breakable_store(store_url, tmp_path) as (url, start_outage, end_outage),
        GatewayThread(parse_config(base_config(sim.url, url, tmp_path / "spill"))) as gw,
    ):
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        stored = client.responses.create(model="chat", input="before the outage")
        start_outage()
        try:
            raw = client.responses.with_raw_response.create(model="chat", input="during the outage")
            answered = raw.parse()
            assert answered.output_text and answered.store is False
            events = list(client.responses.create(model="chat", input="streamed during the outage", stream=True))
            assert events[-1].type == "response.completed" and events[-1].response.store is False
            with pytest.raises(openai.InternalServerError) as unavailable:
                client.responses.retrieve(stored.id)
            assert unavailable.value.status_code == 503
        finally:
            end_outage()
        # A fresh connection: the server closes the one a 503 for an outage went out on.
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        assert client.responses.retrieve(stored.id).store is True
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(answered.id)
        record = gw.record(raw.headers["x-request-id"], timeout=20)
        assert record.endpoint == "responses" and record.status_code == 200
