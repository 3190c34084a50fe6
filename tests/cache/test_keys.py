"""Which requests share a cache key: canonical JSON of what affects the answer, per scope."""

from __future__ import annotations

from headway.cache.keys import exact_key, output_fields, params_key, prompt_text, scope_of
from headway.cache.stage import cache_control

BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def key(body: dict[str, object], scope: str = "caller:a") -> str:
    return exact_key(scope, output_fields(body, "chat"))


def test_field_order_and_non_output_fields_do_not_matter() -> None:
    reordered = {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "chat"}
    decorated = {**BODY, "stream": True, "user": "u-1", "metadata": {"trace": "x"}, "stream_options": {}}
    assert key(BODY) == key(reordered) == key(decorated)


def test_anything_that_can_change_the_answer_changes_the_key() -> None:
    assert key(BODY) != key({**BODY, "temperature": 1})
    assert key(BODY) != key({**BODY, "messages": [{"role": "user", "content": "hi!"}]})
    assert key(BODY) != key({**BODY, "tools": []})
    assert key(BODY) != key({**BODY, "some_provider_knob": 1})  # unknown fields count, to be safe


def test_scopes_keep_callers_and_teams_apart() -> None:
    assert scope_of("caller", "alice", "red") == "caller:alice"
    assert scope_of("team", "alice", "red") == "team:red"
    assert scope_of("team", "alice", None) == "caller:alice"
    assert scope_of("global", "alice", "red") == "global"
    assert key(BODY, "caller:alice") != key(BODY, "caller:bob")


def test_params_key_ignores_the_messages_only() -> None:
    fields = output_fields(BODY, "chat")
    other = output_fields({**BODY, "messages": [{"role": "user", "content": "something else"}]}, "chat")
    assert params_key("global", fields) == params_key("global", other)
    assert params_key("global", fields) != params_key("global", output_fields({**BODY, "temperature": 1}, "chat"))


def test_prompt_text_reads_string_and_part_contents() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "image_url", "image_url": {}}]},
    ]
    assert prompt_text(messages) == "system: be brief\nuser: first"


def test_cache_control_directives() -> None:
    assert cache_control("no-cache") == {"no-cache"}
    assert cache_control("No-Store, max-age=0") == {"no-store", "max-age"}
    assert cache_control(None) == frozenset()
