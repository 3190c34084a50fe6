"""``/metrics`` series of the data plane, read at scrape time from this process's counters.

- ``headway_pipeline_records_total{pipeline,change}``: records a run found new, changed,
  deleted, quarantined, or whose deletion it held back (runs that published or not);
- ``headway_retrieval_index_version{collection}``: the published version readers see;
- ``headway_retrieval_ann_version{collection}`` / ``headway_retrieval_ann_vectors``: the
  version this process's vector index reflects (behind the published one while it catches
  up) and how many vectors it holds;
- ``headway_retrieval_lexical_version{collection}`` / ``headway_retrieval_lexical_chunks``: the
  same for this process's lexical (BM25) index; absent until its first build (the store's
  full text answers meanwhile);
- ``headway_retrieval_queries_total{mode,outcome}``: queries by the mode that answered
  and outcome (hit, miss), plus ``fallback`` under the mode asked for when the vector
  half could not answer;
- ``headway_retrieval_latency_seconds{mode}``: a summary (count, sum) per mode that answered.

Runs by status are ``headway_pipeline_runs_total`` (``Metrics.pipeline_run``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from headway.errors import StoreUnavailableError
from headway.retrieval import Retriever

RECORD_CHANGES = ("new", "changed", "deleted", "quarantined", "deletions_held")


@dataclass
class PipelineStats:
    """What runs in this process did, by pipeline."""

    runs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (pipeline, status)
    records: Counter[tuple[str, str]] = field(default_factory=Counter)  # (pipeline, change)

    def record(self, pipeline: str, status: str, counts: dict[str, int]) -> None:
        self.runs[(pipeline, status)] += 1
        for change in RECORD_CHANGES:
            if counts.get(change):
                self.records[(pipeline, change)] += int(counts[change])


class DataPlaneMetrics(Collector):
    def __init__(self, pipelines: PipelineStats | None, retriever: Retriever | None) -> None:
        self.pipelines = pipelines
        self.retriever = retriever

    def collect(self) -> Iterable[Metric]:
        records = CounterMetricFamily(
            "headway_pipeline_records",
            "Records pipeline runs found, by change.",
            labels=["pipeline", "change"],
        )
        if self.pipelines is not None:
            for (pipeline, change), value in sorted(self.pipelines.records.items()):
                records.add_metric([pipeline, change], value)
        yield records
        if self.retriever is None:
            return
        stats = self.retriever.stats
        queries = CounterMetricFamily(
            "headway_retrieval_queries", "Retrieval queries by mode and outcome.", labels=["mode", "outcome"]
        )
        for (mode, outcome), value in sorted(stats.outcomes.items()):
            queries.add_metric([mode, outcome], value)
        yield queries
        latency = SummaryMetricFamily(
            "headway_retrieval_latency_seconds",
            "Retrieval latency by the mode that answered.",
            labels=["mode"],
        )
        for mode in sorted(stats.queries):
            latency.add_metric([mode], stats.queries[mode], stats.seconds[mode])
        yield latency
        try:
            collections = self.retriever.collections_now()
        except StoreUnavailableError:
            return  # no version series while the store is away; the counters above still report
        versions = GaugeMetricFamily(
            "headway_retrieval_index_version",
            "Published index version per collection.",
            labels=["collection"],
        )
        ann_versions = GaugeMetricFamily(
            "headway_retrieval_ann_version",
            "Index version this process's vector index reflects (lags the published one while it catches up).",
            labels=["collection"],
        )
        ann_vectors = GaugeMetricFamily(
            "headway_retrieval_ann_vectors",
            "Vectors in this process's index per collection.",
            labels=["collection"],
        )
        lexical_versions = GaugeMetricFamily(
            "headway_retrieval_lexical_version",
            "Index version this process's lexical index reflects (lags the published one while it catches up).",
            labels=["collection"],
        )
        lexical_chunks = GaugeMetricFamily(
            "headway_retrieval_lexical_chunks",
            "Chunks in this process's lexical index per collection.",
            labels=["collection"],
        )
        for collection in collections:
            versions.add_metric([collection.name], collection.active_version)
            ann = self.retriever.ann.current(collection.name) if self.retriever.ann is not None else None
            if ann is not None:
                ann_versions.add_metric([collection.name], ann.version)
                ann_vectors.add_metric([collection.name], ann.size)
            lexical = self.retriever.lexical.current(collection.name) if self.retriever.lexical is not None else None
            if lexical is not None:
                lexical_versions.add_metric([collection.name], lexical.version)
                lexical_chunks.add_metric([collection.name], lexical.size)
        yield versions
        yield ann_versions
        yield ann_vectors
        yield lexical_versions
        yield lexical_chunks
