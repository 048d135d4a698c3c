"""Accumulates one statement's facts while a handler works, then freezes a Resolution."""

from __future__ import annotations

from dataclasses import dataclass, field

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
from s3lineage.resolve.columns import Projection, QueryLineage
from s3lineage.resolve.context import ResolveContext

# How much each kind of doubt lowers confidence (documented in docs/resolution.md).
PENALTIES = {
    "unknown_columns": 0.2,
    "unresolved_columns": 0.1,
    "column_lineage_failed": 0.3,
    "column_lineage_skipped": 0.3,
    "command_fallback": 0.1,
    "ambiguous_target": 0.2,
}

QUERY_RESULT = DatasetRef("", "", DatasetKind.QUERY)

_SEVERITY = {
    "unknown_columns": Severity.INFO,
    "unresolved_columns": Severity.INFO,
    "column_lineage_failed": Severity.WARNING,
    "column_lineage_skipped": Severity.WARNING,
}


@dataclass(slots=True)
class Builder:
    ctx: ResolveContext
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    edges: list[ColumnEdge] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    read_filters: list[ReadFilter] = field(default_factory=list)
    output_fields: dict[DatasetRef, tuple[str, ...]] = field(default_factory=dict)
    confidence: float = 1.0
    stage_url: tuple[DatasetRef, str] | None = None
    pipe: str | None = None
    file_format: str | None = None
    temporary: bool = False

    def add_input(self, ref: DatasetRef) -> None:
        if ref not in self.inputs:
            self.inputs.append(ref)

    def add_output(self, ref: DatasetRef, fields: tuple[str, ...] | list[str] = ()) -> None:
        if ref not in self.outputs:
            self.outputs.append(ref)
        if fields:
            self.output_fields[ref] = tuple(fields)

    def diag(self, code: str, severity: Severity, message: str, penalty: float | None = None) -> None:
        diagnostic = Diagnostic(code, severity, message)
        if diagnostic not in self.diagnostics:
            self.diagnostics.append(diagnostic)
        self.confidence -= PENALTIES.get(code, 0.0) if penalty is None else penalty

    def absorb(self, lineage: QueryLineage) -> None:
        """Take a query's inputs and doubts (not its columns: the caller maps those)."""
        for ref in lineage.inputs:
            self.add_input(ref)
        for code, message in lineage.problems:
            self.diag(code, _SEVERITY.get(code, Severity.INFO), message)
        for stage in lineage.internal_stages:
            self.internal_stage(stage)

    def internal_stage(self, text: str) -> None:
        self.diag(
            "internal_stage",
            Severity.INFO,
            f"{text} is a Snowflake-internal stage (user @~, table @%, or no URL): "
            "files there come from PUT, so there is no S3 lineage",
            penalty=0.0,
        )

    def map_projections(
        self,
        target: DatasetRef,
        target_columns: tuple[str, ...] | list[str] | None,
        lineage: QueryLineage,
    ) -> None:
        """Pair target columns with the query's projections by position.

        ``target_columns=None`` means "named after the projections" (CTAS, views, exports).
        """
        projections = lineage.projections
        if target_columns is None:
            names = [p.name for p in projections]
        else:
            names = list(target_columns)
            if lineage.complete and len(names) != len(projections):
                self.diag(
                    "column_count_mismatch",
                    Severity.WARNING,
                    f"{target.display} takes {len(names)} columns but the query yields "
                    f"{len(projections)}; mapped by position as far as both go",
                    penalty=0.2,
                )
        if not lineage.complete and target_columns is not None:
            # positions are unknown once a star could not be expanded
            return
        for name, projection in zip(names, projections, strict=False):
            self.add_edge(target, name, projection)
        if target_columns is None and lineage.complete and target.kind is not DatasetKind.QUERY or target_columns is not None and target.kind is not DatasetKind.QUERY:
            self.output_fields.setdefault(target, tuple(names))
        self.add_indirect(target, names, lineage)

    def add_edge(self, target: DatasetRef, column: str, projection: Projection) -> None:
        if not projection.sources:
            return
        self.edges.append(
            ColumnEdge(
                ColumnRef(target, column),
                tuple(sorted(projection.sources, key=lambda c: (c.dataset.name, c.column))),
                EdgeKind.DIRECT,
                projection.transform,
            )
        )

    def add_indirect(self, target: DatasetRef, names: list[str], lineage: QueryLineage) -> None:
        if not lineage.indirect or target.kind is DatasetKind.QUERY:
            return
        sources = tuple(sorted(lineage.indirect, key=lambda c: (c.dataset.name, c.column)))
        for name in names:
            self.edges.append(ColumnEdge(ColumnRef(target, name), sources, EdgeKind.INDIRECT, "filter"))

    def build(self, recognizer: str | None) -> Resolution:
        return Resolution(
            recognizer=recognizer,
            inputs=tuple(self.inputs),
            outputs=tuple(self.outputs),
            column_edges=tuple(self.edges),
            confidence=round(max(0.0, min(1.0, self.confidence)), 3),
            diagnostics=tuple(self.diagnostics),
            read_filters=tuple(self.read_filters),
            output_fields=tuple(self.output_fields.items()),
            stage_url=self.stage_url,
            pipe=self.pipe,
            file_format=self.file_format,
            temporary=self.temporary,
        )
