"""JSON forms of the core types, for the state store (not an external contract)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from s3lineage.collect.snowflake_files import CopyLoad
from s3lineage.graph.model import Evidence
from s3lineage.model import (
    ColumnEdge,
    ColumnRef,
    DatasetKind,
    DatasetRef,
    Diagnostic,
    EdgeKind,
    ReadFilter,
    Resolution,
    Severity,
)


def _ds(ref: DatasetRef) -> list[str]:
    return [ref.namespace, ref.name, ref.kind.value]


def _ds_from(data: list[str]) -> DatasetRef:
    return DatasetRef(data[0], data[1], DatasetKind(data[2]))


def _col(ref: ColumnRef) -> list[Any]:
    return [_ds(ref.dataset), ref.column]


def _col_from(data: list[Any]) -> ColumnRef:
    return ColumnRef(_ds_from(data[0]), data[1])


def resolution_to_dict(res: Resolution) -> dict[str, Any]:
    return {
        "recognizer": res.recognizer,
        "inputs": [_ds(d) for d in res.inputs],
        "outputs": [_ds(d) for d in res.outputs],
        "edges": [
            [_col(e.target), [_col(s) for s in e.sources], e.kind.value, e.transform]
            for e in res.column_edges
        ],
        "confidence": res.confidence,
        "diagnostics": [[d.code, d.severity.value, d.message, d.where] for d in res.diagnostics],
        "filters": [[_ds(f.dataset), f.pattern, list(f.files)] for f in res.read_filters],
        "fields": [[_ds(d), list(f)] for d, f in res.output_fields],
        "stage_url": [_ds(res.stage_url[0]), res.stage_url[1]] if res.stage_url else None,
        "pipe": res.pipe,
        "file_format": res.file_format,
        "temporary": res.temporary,
    }


def resolution_from_dict(data: dict[str, Any]) -> Resolution:
    return Resolution(
        recognizer=data["recognizer"],
        inputs=tuple(_ds_from(d) for d in data["inputs"]),
        outputs=tuple(_ds_from(d) for d in data["outputs"]),
        column_edges=tuple(
            ColumnEdge(_col_from(t), tuple(_col_from(s) for s in sources), EdgeKind(kind), transform)
            for t, sources, kind, transform in data["edges"]
        ),
        confidence=data["confidence"],
        diagnostics=tuple(Diagnostic(c, Severity(s), m, w) for c, s, m, w in data["diagnostics"]),
        read_filters=tuple(ReadFilter(_ds_from(d), p, tuple(f)) for d, p, f in data["filters"]),
        output_fields=tuple((_ds_from(d), tuple(f)) for d, f in data["fields"]),
        stage_url=(_ds_from(data["stage_url"][0]), data["stage_url"][1]) if data["stage_url"] else None,
        pipe=data["pipe"],
        file_format=data["file_format"],
        temporary=data.get("temporary", False),
    )


def dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not serializable: {type(value).__name__}")


def resolution_key(res: Resolution) -> str:
    """Stable identity of a statement group: the hash of its resolution."""
    return hashlib.blake2b(dumps(resolution_to_dict(res)).encode(), digest_size=16).hexdigest()


def evidence_to_dict(ev: Evidence) -> dict[str, Any]:
    return ev.to_json()


def evidence_from_dict(data: dict[str, Any]) -> Evidence:
    return Evidence(
        collectors=set(data["collectors"]),
        query_ids=list(data["query_ids"]),
        fingerprints=set(data["fingerprints"]),
        recognizers=set(data["recognizers"]),
        users=set(data["users"]),
        locations=list(data["locations"]),
        first_seen=_dt(data["first_seen"]),
        last_seen=_dt(data["last_seen"]),
        run_count=int(data["run_count"]),
        rows=data.get("rows"),
    )


def copy_load_to_dict(load: CopyLoad) -> dict[str, Any]:
    data = asdict(load)
    data["table"] = list(load.table)
    return data


def copy_load_from_dict(data: dict[str, Any]) -> CopyLoad:
    values = dict(data)
    values["table"] = tuple(values["table"])
    for key in ("last_load_time", "pipe_received_time"):
        values[key] = _dt(values.get(key))
    return CopyLoad(**values)


def copy_load_key(load: CopyLoad) -> str:
    """A COPY_HISTORY row's natural key: file, table, load time."""
    return "|".join([load.stage_location or "", load.file_name, ".".join(load.table),
                     load.last_load_time.isoformat() if load.last_load_time else ""])


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
