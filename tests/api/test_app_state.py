"""``AppState``: the runtime and the OpenAPI document as declared attributes over Starlette's dict.

Starlette's ``State`` answers every attribute through ``__getattr__`` after a failed normal
look-up (a formatted ``AttributeError`` each time; the saving is counted in
``bench/instructions.py``). What must hold is that it still behaves as ``State``: set and
replaced by assignment (a config reload swaps the runtime), absent until set, other
attributes as before.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import State

from headway.api.app import build_app
from headway.api.state import AppState
from headway.config.models import HeadwayConfig


def test_the_runtime_is_read_set_and_replaced_as_on_starlettes_state() -> None:
    state = AppState()
    assert isinstance(state, State)
    assert getattr(state, "runtime", None) is None
    with pytest.raises(AttributeError, match="runtime"):
        _ = state.runtime
    first, second = object(), object()
    state.runtime = first
    assert state.runtime is first and state._state["runtime"] is first
    state.runtime = second  # a reload swaps it
    assert state.runtime is second
    state.reloader = "other"  # any other attribute is Starlette's as before
    assert state.reloader == "other"
    del state.runtime
    assert getattr(state, "runtime", None) is None


def test_the_built_app_holds_its_runtime_and_openapi_on_app_state(make_config: Any) -> None:
    config: HeadwayConfig = make_config()
    app = build_app(config)
    assert isinstance(app.state, AppState)
    assert app.state.runtime.config is config
    assert app.state.openapi["openapi"].startswith("3.")
