"""Output- and error-file lines, exactly as OpenAI writes them. Pure.

``{"id": "batch_req_…", "custom_id": …, "response": {"status_code", "request_id", "body"}, "error": null}``
for a request that got an HTTP answer (2xx lines go to the output file, others to the
error file); ``"response": null, "error": {"code", "message"}`` for a line that never
ran (malformed, expired, cancelled).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from headway.types import JSON

EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


def answered(item_id: str, custom_id: str | None, status_code: int, request_id: str, body: JSON) -> JSON:
    return {
        "id": item_id,
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }


def not_run(item_id: str, custom_id: str | None, code: str, message: str) -> JSON:
    return {"id": item_id, "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}


def goes_to_output(line: JSON) -> bool:
    response = line.get("response")
    return isinstance(response, dict) and 200 <= int(response.get("status_code") or 0) < 300


def render(lines: Iterable[JSON]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
