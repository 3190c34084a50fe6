"""A spend budget shared by three replicas stops within one request's estimate of its cap."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from headway.admission.estimate import TOKENS_PER_MESSAGE
from headway.cli.replicas import ReplicaSet, scratch_database
from headway.store import RequestQuery, open_store
from tests.scale.conftest import replica_config, spend_until_refused
from tests.scale.services import SHARED_REDIS, redis_prefix

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CAP_USD = 0.25
MAX_TOKENS = 20
# USD per million tokens: a request reserves 6 x 100 + 20 x 1000 = 20,600 millionths, ~ $0.0206.
PRICE = {"input": 100.0, "output": 1000.0}
ESTIMATE_USD = ((2 + TOKENS_PER_MESSAGE) * PRICE["input"] + MAX_TOKENS * PRICE["output"]) / 1e6


def test_a_budget_across_replicas_stops_spending_within_one_estimate_of_its_cap(module_sim: Any) -> None:
    with redis_prefix() as prefix, scratch_database(prefix="hw_test_") as store_url:
        config = replica_config(
            module_sim.url,
            store_url,
            redis={"url": SHARED_REDIS, "key_prefix": prefix},
            models={"chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": PRICE}},
            admission={"budgets": {"keys": {"*": {"usd": CAP_USD, "period": "day"}}}},
        )
        with ReplicaSet(config, replicas=3) as replicas:
            outcomes: list[tuple[int, str | None]] = []
            lock = threading.Lock()

            threads = [
                threading.Thread(target=spend_until_refused, args=(replicas.replica_url(i % 3), outcomes, lock, MAX_TOKENS))
                for i in range(6)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)

        assert {status for status, _ in outcomes} <= {200, 429}
        assert sum(1 for _, code in outcomes if code == "budget_exceeded") == 6
        ok = sum(1 for status, _ in outcomes if status == 200)
        store = open_store(store_url)
        try:
            records = [r for r in store.list_requests(RequestQuery(limit=1000)) if r.status_code == 200]
        finally:
            store.close()
        assert len(records) == ok  # every replica flushed its records when it stopped
        spent = sum(r.cost_usd or 0.0 for r in records)
        assert CAP_USD - ESTIMATE_USD <= spent <= CAP_USD + 1e-9, (spent, ok)
