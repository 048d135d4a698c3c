"""The developer view: resolve SQL text and describe the result as plain JSON data.

This is what ``s3lineage explain-sql`` prints; tests and the idiom catalogue's examples
use it too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from s3lineage.model import DatasetRef, EdgeKind, Resolution
from s3lineage.resolve.context import ResolveContext
from s3lineage.resolve.resolver import Resolver
from s3lineage.resolve.schema import Catalog


@lru_cache(maxsize=1)
def default_resolver() -> Resolver:
    return Resolver()


def explain(
    sql: str | bytes,
    dialect: str,
    *,
    default_database: str | None = None,
    default_schema: str | None = None,
    search_path: list[str] | tuple[str, ...] | None = None,
    schema: dict[str, list[str]] | None = None,
    namespace: str | None = None,
    resolver: Resolver | None = None,
) -> dict[str, Any]:
    """Resolve ``sql`` (one statement or a script) and return the JSON-ready result.

    >>> out = explain("INSERT INTO b SELECT id FROM a", "snowflake",
    ...               default_database="db", default_schema="s", schema={"db.s.b": ["ID"]})
    >>> [i["name"] for i in out["inputs"]], [o["name"] for o in out["outputs"]]
    (['DB.S.A'], ['DB.S.B'])
    >>> out["columns"]
    [{'target': 'DB.S.B.ID', 'sources': ['DB.S.A.ID'], 'transform': 'identity'}]
    """
    ctx = ResolveContext.create(
        dialect,
        namespace=namespace,
        default_database=default_database,
        default_schema=default_schema,
        search_path=tuple(search_path or ()),
        catalog=Catalog.from_mapping(schema) if schema else None,
    )
    resolution = (resolver or default_resolver()).resolve_text(sql, ctx)
    return resolution_to_json(resolution)


def dataset_json(ref: DatasetRef) -> dict[str, str]:
    return {"namespace": ref.namespace, "name": ref.name, "kind": ref.kind.value}


def resolution_to_json(resolution: Resolution) -> dict[str, Any]:
    direct = [e for e in resolution.column_edges if e.kind is EdgeKind.DIRECT]
    indirect = [e for e in resolution.column_edges if e.kind is EdgeKind.INDIRECT]
    result: dict[str, Any] = {
        "recognizer": resolution.recognizer,
        "confidence": resolution.confidence,
        "inputs": [dataset_json(d) for d in resolution.inputs],
        "outputs": [dataset_json(d) for d in resolution.outputs],
        "columns": [
            {
                "target": e.target.display,
                "sources": [s.display for s in e.sources],
                "transform": e.transform,
            }
            for e in direct
        ],
        "indirect": [
            {"target": e.target.display, "sources": [s.display for s in e.sources]}
            for e in indirect
        ],
        "diagnostics": [
            {"code": d.code, "severity": d.severity.value, "message": d.message}
            for d in resolution.diagnostics
        ],
    }
    if resolution.read_filters:
        result["read_filters"] = [
            {"dataset": f.dataset.display, "pattern": f.pattern, "files": list(f.files)}
            for f in resolution.read_filters
        ]
    if resolution.stage_url:
        result["stage_url"] = {"stage": resolution.stage_url[0].display, "url": resolution.stage_url[1]}
    if resolution.pipe:
        result["pipe"] = resolution.pipe
    if resolution.file_format:
        result["file_format"] = resolution.file_format
    return result
