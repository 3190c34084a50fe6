"""Fire each pipeline once per cadence slot, however many replicas are running.

A slot is the latest due time of the cadence (interval: a multiple of ``every_s`` since
the epoch; cron: the previous fire time, UTC). Every replica computes the same slot; the
first to insert the (pipeline, slot) claim row wins and queues the job, the others hit
the primary key and do nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from croniter import croniter

from headway.config import PipelinesConfig, ScheduleConfig
from headway.pipelines.repository import PipelineRepository
from headway.pipelines.run_queue import RunQueue


def current_slot(schedule: ScheduleConfig, now: float) -> float:
    if schedule.every_s is not None:
        return math.floor(now / schedule.every_s) * schedule.every_s
    assert schedule.cron is not None
    start = dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(microseconds=1)
    return float(croniter(schedule.cron, start).get_prev(float))


@dataclass
class Scheduler:
    config: PipelinesConfig
    repository: PipelineRepository
    queue: RunQueue
    owner: str
    _claimed: dict[str, float] = field(default_factory=dict)  # slots already decided here: skip the store

    def tick(self, now: float) -> list[str]:
        """Claim due slots; return the pipelines this replica queued."""
        fired = []
        for name, pipeline in self.config.definitions.items():
            if pipeline.schedule is None:
                continue
            slot = current_slot(pipeline.schedule, now)
            if self._claimed.get(name) == slot:
                continue
            self._claimed[name] = slot
            if self.repository.claim_slot(name, slot, self.owner):
                self.queue.enqueue(name, trigger="schedule", max_attempts=pipeline.retry.attempts)
                fired.append(name)
        return fired
