"""Decide, record by record, what a run accepts: schema-change policies plus the contract.

The accepted schema (kept in the pipeline's state) is what the last good run agreed to.
This run's observed schema is compared with it, and each kind of change is handled by
its policy:

============  ===========================  =====================================  ==========
change        evolve                       quarantine                             fail
============  ===========================  =====================================  ==========
new column    accepted into the schema     rows with a value in it set aside      run fails
removed       no longer expected           every row set aside                    run fails
renamed       followed: read under old     every row set aside                    run fails
              name from now on
type change   new type accepted            rows not of the old type set aside     run fails
============  ===========================  =====================================  ==========

A rename follows the ``removed_column`` policy. Quarantined changes stay out of the
accepted schema, so they are flagged again next run until someone decides.

Keys are taken after renames are applied, so a followed rename of the key column keeps
every record's key; a key column that is missing (removed, or renamed and not followed)
is never replaced by another key: its rows are set aside with ``missing_key``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headway.config import DataContractConfig, FieldRule
from headway.pipelines.contract import UniqueTracker, Violation, check_record, compile_patterns
from headway.pipelines.schema import SchemaDiff, conforms, diff, observe
from headway.pipelines.sources import SourceRead, SourceRecord, hash_key, key_of

SCHEMA_REFUSED = "schema change refused by policy"


@dataclass(slots=True)
class Evaluation:
    accepted: list[SourceRecord] = field(default_factory=list)
    quarantined: list[tuple[SourceRecord, list[Violation]]] = field(default_factory=list)
    diff: SchemaDiff = field(default_factory=SchemaDiff)
    schema: dict[str, Any] = field(default_factory=dict)  # the accepted schema after this run
    failure: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # every parsed record, for checks
    policies: dict[str, str] = field(default_factory=dict)  # change -> outcome, for the run's report
    # Quarantined records whose key cannot be trusted to match an earlier one (missing key,
    # or a keyless source's row hash): while there are any, nothing may be deleted.
    unkeyed_quarantined: int = 0


def _rekey(records: list[SourceRecord], read: SourceRead) -> None:
    for record in records:
        if read.key_field is not None:
            record.key = key_of(record.fields, read.key_field) or ""
        elif not read.keyed_by_path:
            record.key = hash_key(record.fields)


def _apply_renames(records: list[SourceRecord], renames: dict[str, str]) -> None:
    for record in records:
        for new, old in renames.items():
            if new in record.fields and old not in record.fields:
                record.fields[old] = record.fields.pop(new)


def evaluate(contract: DataContractConfig, state_schema: dict[str, Any], read: SourceRead) -> Evaluation:
    result = Evaluation()
    policy = contract.on_schema_change
    parsed = [r for r in read.records if r.error is None]
    for record in read.records:
        if record.error is not None:
            result.quarantined.append((record, [Violation("_record", "parse", record.error)]))
            if not record.key or read.keyless:
                result.unkeyed_quarantined += 1
    renames: dict[str, str] = dict(state_schema.get("renames") or {})
    _apply_renames(parsed, renames)
    _rekey(parsed, read)
    observed = observe(r.fields for r in parsed)
    columns: dict[str, Any] = dict(state_schema.get("columns") or {})
    first_run = not columns
    baseline = columns or {name: {"type": rule.type, "sample": []} for name, rule in contract.fields.items()}
    change = diff(baseline, observed) if baseline else SchemaDiff()
    if first_run:
        change.added, change.renamed = [], []
        change.removed = [name for name in change.removed if contract.fields[name].required]
    result.diff = change

    rules: dict[str, FieldRule] = dict(contract.fields)
    absent_ok: set[str] = set()
    per_row: list[tuple[str, str, str]] = []  # (field, rule, policy kind) applied to each row below
    new_columns = {name: observed[name] for name in observed}
    accepted_columns = dict(columns) if not first_run else {}
    failures: list[str] = []

    for name in change.added:
        result.policies[f"new_column:{name}"] = policy.new_column
        if policy.new_column == "fail":
            failures.append(f"new column {name!r}")
        elif policy.new_column == "quarantine":
            per_row.append((name, "schema_new_column", "value"))
            new_columns.pop(name, None)
    for name in change.removed:
        result.policies[f"removed_column:{name}"] = policy.removed_column
        if policy.removed_column == "fail":
            failures.append(f"removed column {name!r}")
        elif policy.removed_column == "quarantine":
            per_row.append((name, "schema_removed_column", "all"))
        else:
            absent_ok.add(name)
            accepted_columns.pop(name, None)
    for pair in change.renamed:
        old, new = pair["from"], pair["to"]
        result.policies[f"renamed_column:{old}->{new}"] = policy.removed_column
        if policy.removed_column == "fail":
            failures.append(f"renamed column {old!r} -> {new!r}")
        elif policy.removed_column == "quarantine":
            per_row.append((old, "schema_renamed_column", "all"))
            new_columns.pop(new, None)
        else:
            renames[new] = old
            _apply_renames(parsed, {new: old})
            _rekey(parsed, read)
            if new in new_columns:
                new_columns[old] = new_columns.pop(new)
    for change_of_type in change.type_changed:
        name = change_of_type["field"]
        result.policies[f"type_change:{name}"] = policy.type_change
        if policy.type_change == "fail":
            failures.append(f"type of {name!r} changed {change_of_type['from']} -> {change_of_type['to']}")
        elif policy.type_change == "quarantine":
            per_row.append((name, "schema_type_change", change_of_type["from"]))
            new_columns.pop(name, None)
        elif name in rules:
            evolved = rules[name].model_copy(update={"type": change_of_type["to"]})
            rules[name] = (
                evolved
                if change_of_type["to"] != "string"
                else evolved.model_copy(update={"min": None, "max": None})
            )

    if failures:
        result.failure = f"{SCHEMA_REFUSED}: " + "; ".join(failures)
        result.schema = state_schema
        return result

    patterns = compile_patterns(rules)
    unique = UniqueTracker(tuple(name for name, rule in rules.items() if rule.unique))
    seen_keys: set[str] = set()
    for record in parsed:
        fields = record.fields
        violations: list[Violation] = []
        for name, rule_name, mode in per_row:
            value = fields.get(name)
            if mode == "all":
                violations.append(Violation(name, rule_name, f"column {name!r} is missing from the source"))
            elif mode == "value":
                if value is not None:
                    violations.append(Violation(name, rule_name, f"unexpected new column {name!r}"))
            elif value is not None and not conforms(value, mode):
                violations.append(
                    Violation(name, rule_name, f"{str(value)[:80]!r} is not {mode} (type change)")
                )
        violations.extend(check_record(fields, rules, patterns, absent_ok=frozenset(absent_ok)))
        violations.extend(unique.check(fields))
        if not record.key:
            violations.append(Violation("_key", "missing_key", f"no value for the key {read.key_field!r}"))
        elif record.key in seen_keys:
            violations.append(
                Violation("_key", "duplicate_key", f"key {record.key[:80]!r} appears more than once")
            )
        seen_keys.add(record.key)
        if violations:
            result.quarantined.append((record, violations))
            if not record.key or read.keyless:
                result.unkeyed_quarantined += 1
        else:
            result.accepted.append(record)
        result.rows.append(fields)

    for name, column in new_columns.items():
        accepted_columns[name] = {"type": column.dominant, "sample": sorted(column.sample)}
    result.schema = {"columns": accepted_columns, "renames": renames}
    return result
