"""Keys, permissions and ownership on the translated endpoints, with access control on."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from headway.auth.erasure import Subject
from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.auth.conftest import create_key, secure_auth


@pytest.fixture
def secured(make_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(make_config(auth=secure_auth())) as gw:
        yield gw


def test_the_anthropic_sdk_authenticates_with_x_api_key(secured: GatewayThread) -> None:
    _, token = create_key(secured, principal="claude-app", roles=["app"], models=["chat"])
    client = anthropic.Anthropic(base_url=secured.url, api_key=token, max_retries=0)  # sends x-api-key
    message = client.messages.create(model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text"
    with pytest.raises(anthropic.PermissionDeniedError) as denied:  # outside the key's model allow-list
        client.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    wrong = anthropic.Anthropic(base_url=secured.url, api_key="hw_live_" + "x" * 48, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        wrong.messages.create(model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {"type": "authentication_error", "message": refused.value.body["error"]["message"]},  # type: ignore[index]
        "request_id": refused.value.body["request_id"],  # type: ignore[index]
    }


def test_a_stored_response_belongs_to_the_caller_that_made_it(secured: GatewayThread) -> None:
    _, mine = create_key(secured, principal="owner", roles=["app"])
    _, theirs = create_key(secured, principal="stranger", roles=["app"])
    owner = openai.OpenAI(base_url=f"{secured.url}/v1", api_key=mine, max_retries=0)
    stranger = openai.OpenAI(base_url=f"{secured.url}/v1", api_key=theirs, max_retries=0)
    created = owner.responses.create(model="chat", input="mine alone")
    assert owner.responses.retrieve(created.id).id == created.id
    with pytest.raises(openai.NotFoundError):
        stranger.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.create(model="chat", input="continue", previous_response_id=created.id)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.delete(created.id)
    assert owner.responses.retrieve(created.id).id == created.id


def test_erasure_removes_a_subjects_stored_responses_on_this_store(make_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(make_config()) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        mine = client.responses.create(model="chat", input="about me", metadata={"subject": "subject-17"})
        kept = client.responses.create(model="chat", input="about someone else", user="subject-18")
        assert gw.runtime.auth.erasure.erase(Subject("subject-17", "unused-pseudonym"))["responses"] == 1
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(mine.id)
        assert client.responses.retrieve(kept.id).id == kept.id
