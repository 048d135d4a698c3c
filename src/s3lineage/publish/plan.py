"""What to change in Atlan: the desired state compared with what Atlan has.

Only assets s3lineage owns are read back and compared:

- processes and column processes whose qualified name starts with
  ``<lineage connection QN>/s3lineage/`` inside the lineage connection (archived ones too,
  so that a reappearing edge restores its process instead of colliding with it);
- S3 buckets, objects and partial fields in the S3 connection marked
  ``sourceCreatedBy = "s3lineage"``.

Crawled S3 assets are looked up only to be referenced. Every comparison is on the
attributes s3lineage writes (name, SQL, context, inputs/outputs, parent, S3 fields), so a
publish with no change in the graph plans no write at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from s3lineage.publish.assets import ID_PREFIX, MARKER, Desired, DesiredState, S3Existing, Skip
from s3lineage.publish.client import AtlanCalls

# (Atlan attribute, pyatlan attribute, is a relationship) compared per type
_COMMON = [("name", "name", False)]
_COMPARED: dict[str, list[tuple[str, str, bool]]] = {
    "S3Bucket": _COMMON + [("sourceCreatedBy", "source_created_by", False)],
    "S3Object": _COMMON + [
        ("awsArn", "aws_arn", False), ("s3BucketName", "s3_bucket_name", False),
        ("s3BucketQualifiedName", "s3_bucket_qualified_name", False),
        ("s3ObjectKey", "s3_object_key", False), ("s3ObjectContentType", "s3_object_content_type", False),
        ("s3ObjectLastModifiedTime", "s3_object_last_modified_time", False),
        ("s3ObjectSize", "s3_object_size", False),
        ("description", "description", False), ("sourceCreatedBy", "source_created_by", False),
        ("bucket", "bucket", True)],
    "PartialField": _COMMON + [
        ("partialParentQualifiedName", "partial_parent_qualified_name", False),
        ("partialParentType", "partial_parent_type", False),
        ("sourceCreatedBy", "source_created_by", False),
        ("partialParentAsset", "partial_parent_asset", True)],
    "Process": _COMMON + [
        ("sql", "sql", False), ("additionalEtlContext", "additional_etl_context", False),
        ("inputs", "inputs", True), ("outputs", "outputs", True)],
}
_COMPARED["ColumnProcess"] = _COMPARED["Process"] + [("process", "process", True)]
_S3_TYPES = ("S3Bucket", "S3Object", "PartialField")


@dataclass(slots=True)
class Action:
    """One planned change (or no-op) for one asset."""

    kind: str  # create | update | restore | archive | unchanged
    type_name: str
    qualified_name: str
    name: str
    reason: str = ""
    desired: Desired | None = None
    guid: str | None = None  # the existing asset's, for archive
    phase: str = ""


@dataclass(slots=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    reused: list[tuple[str, str]] = field(default_factory=list)

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    @property
    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.kind in ("create", "update", "restore")]


# --- reading what Atlan has -------------------------------------------------------------------


def fetch_owned_processes(calls: AtlanCalls, lineage_qn: str) -> list[Any]:
    """Every process / column process s3lineage wrote (active or archived)."""
    from pyatlan.model.assets import ColumnProcess, Process
    from pyatlan.model.fluent_search import CompoundQuery, FluentSearch

    def build() -> Any:
        search = (FluentSearch()
                  .where(CompoundQuery.asset_types([Process, ColumnProcess]))
                  .where(Process.CONNECTION_QUALIFIED_NAME.eq(lineage_qn))
                  .where(Process.QUALIFIED_NAME.startswith(f"{lineage_qn}/{ID_PREFIX}"))
                  .page_size(200))
        for attribute in _attributes(("ColumnProcess",)):
            search = search.include_on_results(attribute)
        return search

    found = calls.search("s3lineage processes", build)
    prefix = f"{lineage_qn}/{ID_PREFIX}"  # re-checked: never trust a filter with ownership
    return [a for a in found if str(a.qualified_name).startswith(prefix)
            and a.connection_qualified_name == lineage_qn]


def fetch_s3(calls: AtlanCalls, s3_qn: str, buckets: Iterable[str], keys: Iterable[str]) -> S3Existing:
    """Buckets and objects in the S3 connection that s3lineage owns or may reuse."""
    from pyatlan.model.assets import PartialField, S3Bucket, S3Object
    from pyatlan.model.fluent_search import CompoundQuery, FluentSearch

    bucket_names, object_keys = sorted(set(buckets)), sorted(set(keys))

    def build() -> Any:
        search = (FluentSearch()
                  .where(CompoundQuery.asset_types([S3Bucket, S3Object, PartialField]))
                  .where(FluentSearch.active_assets())
                  .where(S3Object.CONNECTION_QUALIFIED_NAME.eq(s3_qn))
                  .where_some(S3Object.SOURCE_CREATED_BY.eq(MARKER))
                  .page_size(500))
        if bucket_names:
            search = search.where_some(S3Bucket.NAME.within(bucket_names))
        if object_keys:
            search = search.where_some(S3Object.S3OBJECT_KEY.within(object_keys))
        for attribute in _attributes(_S3_TYPES):
            search = search.include_on_results(attribute)
        return search.min_somes(1)

    result = S3Existing()
    for asset in calls.search(f"S3 assets in {s3_qn}", build):
        if asset.connection_qualified_name not in (None, s3_qn):
            continue
        if (asset.source_created_by or "") == MARKER:
            result.owned[(asset.type_name, str(asset.qualified_name))] = asset
        if asset.type_name == "S3Bucket" and asset.name in bucket_names:
            # a crawled bucket wins over one s3lineage made: the crawler's is the real one
            current = result.buckets.get(asset.name)
            if current is None or (current.source_created_by or "") == MARKER:
                result.buckets[str(asset.name)] = asset
        elif asset.type_name == "S3Object":
            result.objects.append(asset)
    return result


def _attributes(types: Iterable[str]) -> list[str]:
    names = ["connectionQualifiedName"]
    for type_name in types:
        names += [a for a, _, _ in _COMPARED[type_name] if a not in names]
    return names


# --- comparing ---------------------------------------------------------------------------------


def projection(asset: Any, ignore_sql: bool = False) -> dict[str, Any]:
    """The attributes s3lineage writes, normalised so desired and fetched assets compare."""
    out: dict[str, Any] = {}
    for atlan_name, attr, relation in _COMPARED.get(asset.type_name, _COMMON):
        if ignore_sql and atlan_name == "sql":
            continue
        value = getattr(asset, attr, None)
        if relation:
            value = _ref_key(value)
        elif isinstance(value, datetime):
            value = int(value.timestamp() * 1000)
        elif atlan_name == "additionalEtlContext" and isinstance(value, str):
            value = _canonical_json(value)
        out[atlan_name] = value
    return out


def _ref_key(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return sorted(_ref_key(v) for v in value)
    unique = getattr(value, "unique_attributes", None) or {}
    qn = unique.get("qualifiedName") or getattr(value, "qualified_name", None)
    return f"{value.type_name}:{qn}"


def _canonical_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return text


def diff(desired: DesiredState, processes: list[Any], s3: S3Existing,
         archive_reasons: dict[str, str]) -> Plan:
    """Creates, updates, restores, archives and no-ops that turn Atlan into ``desired``."""
    plan = Plan(skipped=list(desired.skipped), reused=list(desired.reused))
    existing: dict[tuple[str, str], Any] = {(a.type_name, str(a.qualified_name)): a for a in processes}
    existing.update(s3.owned)
    wanted = desired.by_qn()
    for key, want in wanted.items():
        have = existing.get(key)
        if have is None:
            plan.actions.append(_action("create", want, "new"))
            continue
        ignore_sql = not want.sql_known
        changes = _changed(projection(want.asset, ignore_sql), projection(have, ignore_sql))
        if _status(have) == "DELETED":
            plan.actions.append(_action("restore", want, "observed again"
                                        + (f"; changed: {', '.join(changes)}" if changes else "")))
        elif changes:
            plan.actions.append(_action("update", want, f"changed: {', '.join(changes)}"))
        else:
            plan.actions.append(_action("unchanged", want, ""))
    for key, have in sorted(existing.items()):
        if key in wanted or key[0] in _S3_TYPES or _status(have) == "DELETED":
            continue  # S3 assets are kept (they describe data that existed), see docs/atlan.md
        reason = _archive_reason(have, archive_reasons)
        plan.actions.append(Action("archive", key[0], key[1], str(have.name or ""), reason,
                                   guid=str(have.guid), phase=_phase_of(key[0])))
    return plan


def _action(kind: str, want: Desired, reason: str) -> Action:
    return Action(kind, want.type_name, want.qualified_name, want.name, reason, desired=want,
                  phase=want.phase)


def _changed(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in want.items() if v is not None and have.get(k) != v)


def _status(asset: Any) -> str:
    status = getattr(asset, "status", None)
    return str(getattr(status, "value", status) or "ACTIVE")


def _phase_of(type_name: str) -> str:
    return {"ColumnProcess": "column_process", "Process": "process"}.get(type_name, "object")


def _archive_reason(asset: Any, reasons: dict[str, str]) -> str:
    try:
        context = json.loads(asset.additional_etl_context or "{}")
    except ValueError:
        context = {}
    edges = context.get("edges") or ([context["edge"]] if context.get("edge") else [])
    for edge_id in edges:
        if edge_id in reasons:
            return reasons[edge_id]
    return "no longer inferred (edge or column mapping gone from the graph)"
