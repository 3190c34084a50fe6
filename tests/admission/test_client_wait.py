"""``x-headway-queue-timeout-ms``: a client's own cap on how long its request may wait in a queue.

Read from the request's headers, Starlette's or a job's plain mapping alike; anything but a
non-negative number of milliseconds is ignored (the configured queue timeout applies).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from starlette.datastructures import Headers

from headway.admission.controller import QUEUE_TIMEOUT_HEADER, _client_max_wait
from headway.types import CallContext


@pytest.mark.parametrize(("sent", "expected"), [("250", 0.25), ("0", 0.0), ("1e3", 1.0), ("-5", None), ("soon", None), (None, None)])
def test_a_clients_queue_timeout_header_caps_its_wait(sent: str | None, expected: float | None) -> None:
    starlette = Headers(raw=[(b"host", b"h"), *([(QUEUE_TIMEOUT_HEADER.encode(), sent.encode())] if sent is not None else [])])
    plain: Mapping[str, str] = {QUEUE_TIMEOUT_HEADER: sent} if sent is not None else {}
    for headers in (starlette, plain):
        assert _client_max_wait(CallContext(request_id="r", headers=headers)) == expected
