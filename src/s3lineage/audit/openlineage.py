"""OpenLineage export: one ``RunEvent`` per process (edge), built with the
openlineage-python client's models (``pip install 's3lineage[openlineage]'``).

Each edge becomes a COMPLETE run of a job named after the edge, whose output dataset
carries the ``columnLineage`` facet (direct mappings per field, plus the filter/join
keys as dataset-level INDIRECT inputs) and a ``schema`` facet; S3 datasets (key
templates) carry a ``symlinks`` facet naming their folder. The job carries ``jobType``,
``sql`` (redacted example) and ``documentation`` (recognizers, confidence) facets; the
run carries ``processing_engine``. Rejected edges are not exported (they are never
published); accepted edges are, even when stale. Events go to a JSON-lines file and,
optionally, are POSTed to an OpenLineage HTTP endpoint (Marquez, DataHub, Atlan …).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3lineage import __version__
from s3lineage.audit.data import AuditData, AuditError, Dataset, Edge
from s3lineage.audit.reviews import Decision

PRODUCER = f"https://pypi.org/project/s3lineage/{__version__}"
JOB_NAMESPACE = "s3lineage"
_RUN_NAMESPACE = uuid.UUID("6f1c5a52-3c52-4f0e-9a53-5a7b8f6d2e11")
_TRANSFORMS = {  # our transform → OpenLineage (type, subtype)
    "identity": ("DIRECT", "IDENTITY"), "cast": ("DIRECT", "TRANSFORMATION"),
    "transform": ("DIRECT", "TRANSFORMATION"), "aggregate": ("DIRECT", "AGGREGATION"),
    "positional": ("DIRECT", "IDENTITY"), "field": ("DIRECT", "IDENTITY"),
}


def _require() -> Any:
    try:
        from openlineage.client import event_v2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise AuditError("the OpenLineage export needs openlineage-python: "
                         "pip install 's3lineage[openlineage]'") from err
    return event_v2


def publishable(data: AuditData, decisions: dict[str, Decision]) -> list[Edge]:
    """Edges to export: active ones and accepted ones (even stale), never rejected ones."""
    chosen = []
    for edge in sorted(data.edges.values(), key=lambda e: e.id):
        decision = decisions.get(edge.id)
        if decision is not None and decision.rejected:
            continue
        if edge.status == "stale" and not (decision is not None and decision.accepted):
            continue
        chosen.append(edge)
    return chosen


def job_name(data: AuditData, edge: Edge) -> str:
    return f"{edge.kind}:{data.display(edge.source)}->{data.display(edge.target)}"


def build_events(data: AuditData, edges: Iterable[Edge], *, sql: dict[str, str] | None = None,
                 job_namespace: str = JOB_NAMESPACE, producer: str = PRODUCER) -> list[Any]:
    """One COMPLETE ``RunEvent`` per edge (openlineage-python ``event_v2`` models)."""
    ev2 = _require()
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        documentation_job,
        job_type_job,
        processing_engine_run,
        sql_job,
    )

    sql = sql or {}
    events = []
    for edge in edges:
        source, target = data.datasets[edge.source], data.datasets[edge.target]
        evidence = edge.evidence
        fields: dict[str, Any] = {}
        for mapping in edge.data.get("columns", []):
            kind, subtype = _TRANSFORMS.get(mapping.get("transform", "identity"), ("DIRECT", "TRANSFORMATION"))
            fields[mapping["target"]] = column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(
                    _dataset(data, s["dataset"]).namespace, _dataset(data, s["dataset"]).name, s["field"],
                    transformations=[column_lineage_dataset.Transformation(
                        type=kind, subtype=subtype, description=mapping.get("transform", ""))])
                for s in mapping["sources"]])
        indirect = [
            column_lineage_dataset.InputField(
                _dataset(data, i["dataset"]).namespace, _dataset(data, i["dataset"]).name, i["field"],
                transformations=[column_lineage_dataset.Transformation(type="INDIRECT", subtype="FILTER")])
            for i in edge.data.get("indirect", [])]
        output_facets: dict[str, Any] = _dataset_facets(target, producer)
        output_facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields=fields, dataset=indirect, producer=producer)
        job_facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="S3LINEAGE", jobType=edge.kind.upper(),
                producer=producer),
            "documentation": documentation_job.DocumentationJobFacet(
                description=(f"Inferred by s3lineage from logged SQL: {edge.kind} "
                             f"{data.display(edge.source)} -> {data.display(edge.target)}; "
                             f"recognizers {', '.join(evidence.get('recognizers', [])) or 'none'}; "
                             f"confidence {edge.confidence:.2f}; {evidence.get('run_count', 0)} run(s)"),
                producer=producer),
        }
        example = next((sql[f] for f in evidence.get("fingerprints", []) if f in sql), None)
        if example:
            dialect = "postgres" if edge.kind in ("export", "import") else (
                "snowflake" if edge.kind in ("load", "unload") else target.system)
            job_facets["sql"] = sql_job.SQLJobFacet(query=example, dialect=dialect, producer=producer)
        when = evidence.get("last_seen") or datetime.now(UTC).isoformat()
        run_id = uuid.uuid5(_RUN_NAMESPACE, f"{edge.id}|{evidence.get('last_seen')}|{evidence.get('run_count')}")
        events.append(ev2.RunEvent(
            eventType=ev2.RunState.COMPLETE,
            eventTime=when,
            producer=producer,
            run=ev2.Run(runId=str(run_id), facets={
                "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                    version=__version__, name="s3lineage", openlineageAdapterVersion=__version__,
                    producer=producer)}),
            job=ev2.Job(namespace=job_namespace, name=job_name(data, edge), facets=job_facets),
            inputs=[ev2.InputDataset(source.namespace, source.name, facets=_dataset_facets(source, producer))],
            outputs=[ev2.OutputDataset(target.namespace, target.name, facets=output_facets)],
        ))
    return events


def _dataset(data: AuditData, dataset_id: str) -> Dataset:
    return data.datasets[dataset_id]


def _dataset_facets(node: Dataset, producer: str) -> dict[str, Any]:
    from openlineage.client.facet_v2 import schema_dataset, symlinks_dataset

    facets: dict[str, Any] = {}
    if node.fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=f) for f in node.fields],
            producer=producer)
    if node.kind == "s3":
        folder = node.name.split("{", 1)[0].rsplit("/", 1)[0] + "/"
        if folder != "/" and folder != node.name:
            facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[symlinks_dataset.Identifier(namespace=node.namespace, name=folder,
                                                         type="DIRECTORY")],
                producer=producer)
    return facets


def to_json_lines(events: Iterable[Any]) -> str:
    from openlineage.client.serde import Serde

    return "".join(Serde.to_json(event) + "\n" for event in events)


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    failed: int = 0
    first_error: str | None = None


def post_events(lines: list[str], url: str, *, endpoint: str = "api/v1/lineage",
                api_key: str | None = None, timeout: float = 30.0) -> SendReport:
    """POST each event (one JSON document per request, as OpenLineage's HTTP transport
    does). ``api_key`` (default ``$OPENLINEAGE_API_KEY``) is sent as a Bearer token."""
    target = url.rstrip("/") + "/" + endpoint.lstrip("/") if endpoint else url
    api_key = api_key if api_key is not None else os.environ.get("OPENLINEAGE_API_KEY")
    headers = {"Content-Type": "application/json", "User-Agent": f"s3lineage/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    report = SendReport()
    for line in lines:
        request = urllib.request.Request(target, data=line.encode("utf-8"), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            report.sent += 1
        except (urllib.error.URLError, OSError) as err:
            report.failed += 1
            if report.first_error is None:
                code = getattr(err, "code", None)
                report.first_error = f"HTTP {code}" if code else str(getattr(err, "reason", err))
    return report
