"""Query-parameter parsing shared by the route handlers, with OpenAI-shaped 400s."""

from __future__ import annotations

from typing import overload

from starlette.requests import Request

from headway.errors import InvalidRequestError


@overload
def query_int(request: Request, name: str, default: int, low: int, high: int) -> int: ...
@overload
def query_int(request: Request, name: str, default: None, low: int, high: int) -> int | None: ...


def query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """The integer query parameter ``name`` within ``[low, high]``, or ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"'{name}' must be an integer", param=name, code="invalid_value") from None
    if not low <= value <= high:
        raise InvalidRequestError(f"'{name}' must be between {low} and {high}", param=name, code="invalid_value")
    return value
