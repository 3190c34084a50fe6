"""How a client asks for asynchronous handling: ``Prefer`` (RFC 7240) and the body's ``background``.

``Prefer: respond-async`` (or ``"background": true``) makes a chat request a job;
``wait=N`` bounds how long the server may hold the answer back: a job done by then is
answered in full, else with ``202``. Preferences are hints: unknown ones are ignored.
Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from headway.errors import InvalidRequestError
from headway.types import JSON, header


@dataclass(frozen=True, slots=True)
class Preference:
    respond_async: bool = False
    wait_s: float | None = None


def parse_prefer(header: str | None) -> Preference:
    if not header:
        return Preference()
    respond_async = False
    wait_s: float | None = None
    for part in header.split(","):
        token = part.split(";", 1)[0].strip()
        name, _, value = token.partition("=")
        name = name.strip().lower()
        value = value.strip().strip('"')
        if name == "respond-async":
            respond_async = True
        elif name == "wait":
            try:
                seconds = float(value)
            except ValueError:
                continue
            if seconds >= 0:
                wait_s = seconds
    return Preference(respond_async, wait_s)


def wants_background(headers: Mapping[str, str], body: JSON) -> bool:
    """Whether the client asked for a job; takes ``background`` out of ``body`` (no model knows it)."""
    background = body.pop("background", None)
    if background is not None and not isinstance(background, bool):
        raise InvalidRequestError("'background' must be a boolean", param="background", code="invalid_type")
    return bool(background) or parse_prefer(header(headers, "prefer")).respond_async


def webhook_of(body: JSON) -> str | None:
    """The webhook URL of a background request: ``webhook`` (string or ``{url}``) or ``metadata.webhook_url``."""
    candidates: list[Any] = []
    webhook = body.get("webhook")
    if isinstance(webhook, dict):
        candidates.append(webhook.get("url"))
    elif webhook is not None:
        candidates.append(webhook)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "webhook_url" in metadata:
        candidates.append(metadata["webhook_url"])
    for url in candidates:
        if not isinstance(url, str):
            raise InvalidRequestError("the webhook URL must be a string", param="webhook", code="invalid_webhook")
        check_webhook_url(url)
        return url
    return None


def check_webhook_url(url: str, allowed_hosts: list[str] | None = None) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"the webhook URL must be an absolute http(s) URL, got {url!r}", param="webhook", code="invalid_webhook")
    if allowed_hosts is not None and parts.hostname not in allowed_hosts:
        raise InvalidRequestError(
            f"webhooks may only go to {', '.join(allowed_hosts) or 'no host'} (jobs.webhook_hosts), not {parts.hostname}",
            param="webhook",
            code="webhook_host_not_allowed",
        )


def upstream_body(body: JSON) -> JSON:
    """The request as the model sees it: without Headway's job fields."""
    out = {k: v for k, v in body.items() if k not in ("background", "webhook")}
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and "webhook_url" in metadata:
        rest = {k: v for k, v in metadata.items() if k != "webhook_url"}
        if rest:
            out["metadata"] = rest
        else:
            del out["metadata"]
    return out
