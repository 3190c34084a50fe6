"""How long to wait before trying a deployment again: exponential backoff, full jitter, Retry-After.

Full jitter (a uniform draw below an exponentially growing cap) spreads retries of many
clients that failed together, instead of sending them back in synchronised waves. A
provider's ``Retry-After`` is a floor on the wait — up to ``retry_after_max_s``; a longer
one means "not this request", and the executor moves on without that deployment.
Waits only apply when the *same* deployment is tried again: switching to another
deployment is immediate.
"""

from __future__ import annotations

import random

from headway.config import RetryConfig
from headway.errors import UpstreamError


def backoff_s(retry_index: int, policy: RetryConfig, rng: random.Random) -> float:
    """The jittered wait before retry number ``retry_index`` (0 for the first retry), in seconds."""
    cap_ms = min(policy.backoff_max_ms, policy.backoff_initial_ms * (2 ** min(retry_index, 30)))
    return rng.uniform(0.0, cap_ms) / 1000.0


def retry_delay_s(error: UpstreamError, retry_index: int, policy: RetryConfig, rng: random.Random) -> float | None:
    """Seconds to wait before trying the deployment that raised ``error`` again; ``None``: don't."""
    wait = backoff_s(retry_index, policy, rng)
    if error.retry_after is not None:
        if error.retry_after > policy.retry_after_max_s:
            return None
        wait = max(wait, error.retry_after)
    return wait
