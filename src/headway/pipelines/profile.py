"""Profile a source before any pipeline exists, and propose a starting contract.

Per field: null rate, distinct count, type consistency, range, a pattern; across
records: duplicates and freshness. The proposal is deliberately mechanical so it can be
explained and edited:

- missing: empty cells and the usual markers (``NA``, ``N/A``, ``null``, ``None``,
  ``NaN``, … as pandas reads them; a CSV source's ``missing_values``);
- key: the ``--key`` given, else an id-named field at least 90 % distinct, else a
  complete and unique field, else the first complete and unique pair of fields; when
  none is found the report says so;
- type: the field's dominant type;
- required: at most ``REQUIRED_MAX_NULL_RATE`` of values missing;
- unique: the key, when it is one field;
- numeric range: the robust fences ``Q1 − 3·IQR`` and ``Q3 + 3·IQR`` (rounded outward),
  never below zero for a field whose values never are;
- datetime range: a lower bound at ``Q1 − 3·IQR`` only (data moves forward in time);
- pattern: a known shape (email, UUID, ISO date) or the values' common character shape,
  when at least ``PATTERN_MIN_SHARE`` of values share it;
- allowed values: at most ``ALLOWED_MAX_VALUES`` distinct values, each seen twice or more.

Constant and near-constant fields (one value in at least ``NEAR_CONSTANT_SHARE`` of
rows) are flagged; so is a datetime field whose newest value is older than
``STALE_AFTER_S``, and the proposal gets a freshness check on the freshest datetime
field. What the profile could not determine is listed in ``undetermined``. The
anomalous rows reported are exactly the rows the proposed contract would quarantine.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from headway.config import DataContractConfig, FieldRule
from headway.pipelines.evaluate import evaluate
from headway.pipelines.schema import epoch, infer_type, observe, to_number
from headway.pipelines.sources import SourceRead, key_of

REQUIRED_MAX_NULL_RATE = 0.10
PATTERN_MIN_SHARE = 0.98
ALLOWED_MAX_VALUES = 10
MIN_VALUES_FOR_RANGE = 20
FENCE = 3.0
ANOMALY_SAMPLE = 20
NEAR_CONSTANT_SHARE = 0.98
STALE_AFTER_S = 30 * 86400
FRESHNESS_WARN_S = 7 * 86400
FRESHNESS_FAIL_S = 30 * 86400
KEY_MAX_LENGTH = 128  # longer values are text, not identifiers
KEY_MIN_UNIQUENESS = 0.9
KEY_PAIR_FIELDS = 20  # pairs are searched among this many candidate fields at most

KNOWN_PATTERNS: dict[str, str] = {
    "email": r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "iso_date": r"\d{4}-\d{2}-\d{2}",
}
_ID_NAME = re.compile(r"(^id$|[\s_-]id$|^key$|^uuid$)", re.IGNORECASE)


@dataclass(slots=True)
class FieldProfile:
    name: str
    count: int
    nulls: int
    null_rate: float
    distinct: int
    types: dict[str, int]
    type: str
    consistency: float
    min: Any = None
    max: Any = None
    pattern: str | None = None
    pattern_name: str | None = None
    pattern_share: float | None = None
    top_values: list[tuple[str, int]] = field(default_factory=list)
    newest_age_s: float | None = None
    flags: list[str] = field(default_factory=list)  # constant | near-constant | stale


@dataclass(slots=True)
class Profile:
    source: str
    rows: int
    fields: list[FieldProfile]
    key: str | list[str] | None
    key_source: str  # given | measured | none
    duplicate_rows: int
    duplicate_keys: int
    unparseable_rows: int
    proposed: dict[str, Any]
    anomalies: list[dict[str, Any]]
    anomalous_rows: int
    undetermined: list[str] = field(default_factory=list)
    profiled_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _shape(value: str) -> str:
    """A regular expression of the value's character classes, runs counted: ``CUS-0012`` -> ``[A-Z]{3}-[0-9]{4}``."""
    out: list[str] = []
    previous, run = "", 0

    def flush() -> None:
        if previous:
            out.append(previous + ("" if run == 1 else f"{{{run}}}"))

    for char in value:
        kind = (
            "[A-Z]"
            if "A" <= char <= "Z"
            else "[a-z]"
            if "a" <= char <= "z"
            else "[0-9]"
            if char.isdigit()
            else re.escape(char)
        )
        if kind == previous:
            run += 1
        else:
            flush()
            previous, run = kind, 1
    flush()
    return "".join(out)


def _pattern(values: list[str]) -> tuple[str | None, str | None, float | None]:
    if not values:
        return None, None, None
    for name, regex in KNOWN_PATTERNS.items():
        compiled = re.compile(regex)
        share = sum(1 for v in values if compiled.fullmatch(v)) / len(values)
        if share >= PATTERN_MIN_SHARE:
            return regex, name, share
    shapes = Counter(_shape(v) for v in values)
    shape, count = shapes.most_common(1)[0]
    if len(values) >= MIN_VALUES_FOR_RANGE and count / len(values) >= PATTERN_MIN_SHARE and len(shape) > 4:
        return shape, "shape", count / len(values)
    return None, None, None


def _fences(numbers: list[float]) -> tuple[float, float] | None:
    if len(numbers) < MIN_VALUES_FOR_RANGE:
        return None
    q1, _, q3 = statistics.quantiles(numbers, n=4)
    spread = q3 - q1 if q3 > q1 else max(abs(q1) * 0.1, 1.0)
    return q1 - FENCE * spread, q3 + FENCE * spread


def _numeric_range(numbers: list[float]) -> tuple[float, float] | None:
    fences = _fences(numbers)
    if fences is None:
        return None
    low, high = fences
    if min(numbers) >= 0:
        low = max(low, 0.0)  # a field that is never negative gets no negative bound
    return low, high


def _rule_for(profile: FieldProfile, values: list[Any], is_key: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {"type": profile.type}
    if profile.null_rate <= REQUIRED_MAX_NULL_RATE:
        rule["required"] = True
    if is_key:
        rule["unique"] = True
    typed = [
        v
        for v in values
        if infer_type(v) == profile.type or (profile.type == "number" and infer_type(v) == "integer")
    ]
    if profile.type in ("integer", "number"):
        fences = _numeric_range([n for n in (to_number(v) for v in typed) if n is not None])
        if fences is not None and not is_key:
            low, high = fences
            rule["min"], rule["max"] = (
                (math.floor(low), math.ceil(high))
                if profile.type == "integer"
                else (round(low, 4), round(high, 4))
            )
    elif profile.type == "datetime":
        fences = _fences([t for t in (epoch(v) for v in typed) if t is not None])
        if fences is not None:
            rule["min"] = dt.datetime.fromtimestamp(fences[0], dt.UTC).date().isoformat()
    elif profile.type == "string":
        if profile.pattern:
            rule["pattern"] = profile.pattern
        elif (
            not is_key
            and 0 < profile.distinct <= ALLOWED_MAX_VALUES
            and all(c >= 2 for _, c in profile.top_values)
            and profile.count >= MIN_VALUES_FOR_RANGE
        ):
            rule["allowed"] = sorted(v for v, _ in profile.top_values)
    return rule


def _identifier_like(profile: FieldProfile) -> bool:
    return (
        profile.type in ("integer", "string")
        and profile.nulls == 0
        and profile.count > 0
        and (profile.max is None or profile.type != "string" or int(profile.max) <= KEY_MAX_LENGTH)
    )


def _measured_key(fields: list[FieldProfile], rows: list[dict[str, Any]]) -> str | list[str] | None:
    """An id-named field at least ``KEY_MIN_UNIQUENESS`` distinct (its duplicates are then
    reported), else a complete and unique field, else the first complete and unique pair."""
    named = [
        f
        for f in fields
        if _identifier_like(f) and _ID_NAME.search(f.name) and f.distinct / f.count >= KEY_MIN_UNIQUENESS
    ]
    if named:
        return max(named, key=lambda f: f.distinct).name
    singles = [f for f in fields if _identifier_like(f) and f.distinct == f.count]
    if singles:
        return singles[0].name
    candidates = [f.name for f in fields if _identifier_like(f) and f.distinct > 1][:KEY_PAIR_FIELDS]
    for i, first in enumerate(candidates):
        for second in candidates[i + 1 :]:
            if len({(str(r.get(first)), str(r.get(second))) for r in rows}) == len(rows):
                return [first, second]
    return None


def _flags(profile: FieldProfile) -> list[str]:
    flags = []
    present = profile.count - profile.nulls
    if profile.distinct == 1:
        flags.append("constant")
    elif present and profile.top_values and profile.top_values[0][1] / present >= NEAR_CONSTANT_SHARE:
        flags.append("near-constant")
    if profile.newest_age_s is not None and profile.newest_age_s > STALE_AFTER_S:
        flags.append("stale")
    return flags


def profile_read(
    read: SourceRead, *, source: str, key: str | list[str] | None = None, now: float | None = None
) -> Profile:
    """``key``: the field(s) identifying a record, as the operator said (``--key``); else measured."""
    moment = time.time() if now is None else now
    parsed = [r for r in read.records if r.error is None]
    rows = [r.fields for r in parsed]
    observed = observe(rows)
    names = list(observed)
    fields: list[FieldProfile] = []
    values_by_field: dict[str, list[Any]] = {}
    for name in names:
        column = observed[name]
        values = [row.get(name) for row in rows if infer_type(row.get(name)) is not None]
        values_by_field[name] = values
        count = len(rows)
        nulls = count - len(values)
        distinct_counter = Counter(str(v).strip() for v in values)
        kind = column.dominant
        profile = FieldProfile(
            name=name,
            count=count,
            nulls=nulls,
            null_rate=round(nulls / count, 6) if count else 0.0,
            distinct=len(distinct_counter),
            types=dict(column.types),
            type=kind,
            consistency=round(column.consistency, 6),
            top_values=distinct_counter.most_common(ALLOWED_MAX_VALUES + 1)
            if len(distinct_counter) <= ALLOWED_MAX_VALUES
            else distinct_counter.most_common(5),
        )
        typed = [
            v for v in values if infer_type(v) == kind or (kind == "number" and infer_type(v) == "integer")
        ]
        if kind in ("integer", "number"):
            numbers = [n for n in (to_number(v) for v in typed) if n is not None]
            profile.min, profile.max = (min(numbers), max(numbers)) if numbers else (None, None)
        elif kind == "datetime":
            stamps = sorted((epoch(v), v) for v in typed if epoch(v) is not None)
            if stamps:
                profile.min, profile.max = stamps[0][1], stamps[-1][1]
                profile.newest_age_s = round(moment - float(stamps[-1][0] or 0), 3)
        elif kind == "string":
            strings = [str(v) for v in typed]
            profile.pattern, profile.pattern_name, profile.pattern_share = _pattern(strings)
            lengths = [len(s) for s in strings]
            profile.min, profile.max = (min(lengths), max(lengths)) if lengths else (None, None)
        fields.append(profile)

    undetermined: list[str] = []
    for f in fields:
        f.flags = _flags(f)
        if f.type in ("integer", "number", "datetime") and f.count - f.nulls < MIN_VALUES_FOR_RANGE:
            undetermined.append(f"range of {f.name}: fewer than {MIN_VALUES_FOR_RANGE} values")
    key_source = "given" if key is not None else "measured"
    if key is None:
        key = _measured_key(fields, rows)
        if key is None:
            key_source = "none"
            undetermined.append(
                "key: no field or pair of fields is complete and unique; records would be keyed by "
                "row hash (pass --key)"
            )
    row_keys = Counter(tuple(sorted((k, str(v)) for k, v in row.items())) for row in rows)
    duplicate_rows = sum(c - 1 for c in row_keys.values() if c > 1)
    duplicate_keys = 0
    if key is not None:
        key_counts = Counter(k for k in (key_of(row, key) for row in rows) if k is not None)
        duplicate_keys = sum(c - 1 for c in key_counts.values() if c > 1)
        missing_keys = sum(1 for row in rows if key_of(row, key) is None)
        if missing_keys:
            undetermined.append(f"key of {missing_keys} rows: the key field is missing")
    single_key = key if isinstance(key, str) else None
    dated = [f for f in fields if f.type == "datetime" and f.newest_age_s is not None]
    freshest = min(dated, key=lambda f: f.newest_age_s or 0.0) if dated else None
    if freshest is None:
        undetermined.append("freshness: no datetime field")

    contract_fields = {f.name: _rule_for(f, values_by_field[f.name], f.name == single_key) for f in fields}
    proposed = {
        "contract": {
            "fields": contract_fields,
            "on_schema_change": {
                "new_column": "evolve",
                "removed_column": "quarantine",
                "type_change": "quarantine",
            },
        },
        "checks": [
            {"check": "validity", "warn": 0.98, "fail": 0.80},
            *(
                [{"check": "uniqueness", "field": single_key, "warn": 1.0, "fail": 0.95}]
                if single_key
                else []
            ),
            *(
                [
                    {
                        "check": "freshness",
                        "field": freshest.name,
                        "warn": FRESHNESS_WARN_S,
                        "fail": FRESHNESS_FAIL_S,
                    }
                ]
                if freshest is not None
                else []
            ),
            {"check": "volume", "warn": 0.5, "fail": 0.8},
        ],
    }
    contract = DataContractConfig(fields={name: FieldRule(**rule) for name, rule in contract_fields.items()})
    keyed = SourceRead(list(read.records), key_field=key, keyed_by_path=read.keyed_by_path)
    quarantined = evaluate(contract, {}, keyed).quarantined
    anomalies = [
        {
            "row_number": record.row_number,
            "key": record.key,
            "reasons": [v.to_json() for v in violations],
            "row": record.fields,
        }
        for record, violations in quarantined
    ]
    return Profile(
        source=source,
        rows=len(read.records),
        fields=fields,
        key=key,
        key_source=key_source,
        duplicate_rows=duplicate_rows,
        duplicate_keys=duplicate_keys,
        unparseable_rows=len(read.records) - len(parsed),
        proposed=proposed,
        anomalies=anomalies[:ANOMALY_SAMPLE],
        anomalous_rows=len(anomalies),
        undetermined=undetermined,
    )
