"""Organisation-specific checks from a profile file (``extra_checks``), turned into ``Check`` objects."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.custom_spec import (
    ConfigCheckSpec,
    CustomCheckSpec,
    HttpCheckSpec,
    MetricCheckSpec,
    RatioCheckSpec,
    RecordFilter,
)
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, passed, unknown

MISSING = object()  # a config key that is not there (None is a value)


def config_value(tree: Any, key: str) -> Any:
    """``observe.tracing.enabled`` or ``models.chat.deployments.0.provider`` in a dumped config; ``MISSING`` if absent."""
    node = tree
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


async def _config(spec: ConfigCheckSpec, ctx: GateContext) -> Finding:
    tree = ctx.need_config().model_dump(mode="json", by_alias=True)
    value = config_value(tree, spec.key)
    if value is MISSING or value in (None, "", [], {}):
        return failed(f"{spec.key} is not set", key=spec.key)
    if spec.equals is not None and value != spec.equals:
        return failed(f"{spec.key} is {value!r}, not {spec.equals!r}", key=spec.key, value=value, expected=spec.equals)
    return passed(f"{spec.key} is {value!r}", key=spec.key, value=value)


async def _metric(spec: MetricCheckSpec, ctx: GateContext) -> Finding:
    fetched = await ctx.fetch("/metrics")
    if not fetched.ok:
        return failed(f"/metrics cannot be read: {fetched.describe()}")
    total, matched = 0.0, 0
    for family in text_string_to_metric_families(fetched.text()):
        for sample in family.samples:
            if sample.name == spec.metric and all(sample.labels.get(k) == v for k, v in spec.labels.items()):
                total += sample.value
                matched += 1
    evidence: dict[str, Any] = {"metric": spec.metric, "labels": spec.labels, "samples": matched, "sum": total, "min": spec.min, "max": spec.max}
    if not matched:
        return failed(f"no {spec.metric} samples{' with ' + str(spec.labels) if spec.labels else ''}", **evidence)
    if not spec.within(total):
        return failed(f"{spec.metric} is {total:g}, outside [{spec.min}, {spec.max}]", **evidence)
    return passed(f"{spec.metric} is {total:g}", **evidence)


def record_matches(record: dict[str, Any], rule: RecordFilter) -> bool:
    status = int(record.get("status_code") or 0)
    if rule.status == "ok" and not 200 <= status < 300:
        return False
    if rule.status == "error" and 200 <= status < 300:
        return False
    if rule.status not in (None, "ok", "error") and str(status) != rule.status:
        return False
    for name in ("model", "served_by", "caller"):
        pattern = getattr(rule, name)
        if pattern is not None and not fnmatchcase(str(record.get(name) or ""), pattern):
            return False
    return rule.has_cost is None or (record.get("cost_usd") is not None) == rule.has_cost


async def _ratio(spec: RatioCheckSpec, ctx: GateContext) -> Finding:
    records = await ctx.recent_requests()
    base = [r for r in records if record_matches(r, spec.of)]
    hits = [r for r in base if record_matches(r, spec.match)]
    if len(base) < spec.min_requests:
        return unknown(f"only {len(base)} matching recent requests; {spec.min_requests} needed", requests=len(base))
    ratio = len(hits) / len(base)
    evidence: dict[str, Any] = {"matching": len(hits), "of": len(base), "ratio": round(ratio, 4), "min": spec.min, "max": spec.max}
    if not spec.within(ratio):
        return failed(f"the ratio is {ratio:.2%}, outside [{spec.min}, {spec.max}]", **evidence)
    return passed(f"the ratio is {ratio:.2%}", **evidence)


async def _http(spec: HttpCheckSpec, ctx: GateContext) -> Finding:
    fetched = await ctx.need_deployment().request(spec.method, spec.path, authenticated=spec.authenticated)
    if fetched.status is None:
        raise EvidenceUnavailable(fetched.describe())
    evidence: dict[str, Any] = {"response": fetched.describe(), "expected": spec.statuses()}
    if fetched.status not in spec.statuses():
        return failed(f"{spec.method} {spec.path} answered HTTP {fetched.status}", **evidence)
    return passed(f"{spec.method} {spec.path} answered HTTP {fetched.status}", **evidence)


def _describe(spec: CustomCheckSpec) -> str:
    if isinstance(spec, ConfigCheckSpec):
        return f"The config key {spec.key}" + (f" equals {spec.equals!r}." if spec.equals is not None else " is set.")
    if isinstance(spec, MetricCheckSpec):
        return f"GET /metrics: the sum of {spec.metric}{spec.labels or ''} within [{spec.min}, {spec.max}]."
    if isinstance(spec, RatioCheckSpec):
        return f"GET /admin/requests: recent records matching {spec.match.model_dump(exclude_none=True)} as a share of " \
               f"{spec.of.model_dump(exclude_none=True) or 'all'} within [{spec.min}, {spec.max}]."
    return f"{spec.method} {spec.path} answers {spec.statuses()}."


def custom_check(spec: CustomCheckSpec) -> Check:
    async def run(ctx: GateContext) -> Finding:
        if isinstance(spec, ConfigCheckSpec):
            return await _config(spec, ctx)
        if isinstance(spec, MetricCheckSpec):
            return await _metric(spec, ctx)
        if isinstance(spec, RatioCheckSpec):
            return await _ratio(spec, ctx)
        return await _http(spec, ctx)

    return Check(spec.id, spec.section, spec.title, _describe(spec), spec.fix or "See the organisation's profile.", run, spec.required)
