"""``AppState``: the application's state, with the runtime as an attribute its class declares.

Starlette's ``State`` keeps every value in a dict behind ``__getattr__``, which Python calls
only after the normal look-up has failed — and that failure formats an ``AttributeError``
first (~2k instructions). The request path reads ``app.state.runtime`` twice per request
(the observability middleware and the route), so the class declares ``runtime`` and
``openapi`` as properties over the same dict: found at once, set as before
(``app.state.runtime = …``, a reload included).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import State


def _stored(name: str) -> property:
    def read(self: State) -> Any:
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    return property(read, doc=f"``{name}``, from the state's own dict")


class AppState(State):
    runtime = _stored("runtime")
    openapi = _stored("openapi")
