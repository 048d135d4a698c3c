"""Statement texts for the processes' SQL, keyed by fingerprint.

The graph keeps evidence (fingerprints, locations, counts) but not statement text. A
:class:`StatementRecorder` is a :class:`~s3lineage.resolve.resolver.Resolver` that also
remembers the first text of every statement shape that produced lineage, so that a publish
can show it (after :func:`~s3lineage.resolve.sqlglot_adapter.redact_literals`) on the
process. Pass it to :func:`s3lineage.pipeline.infer` as ``resolver=`` and its
``statements`` to :func:`s3lineage.publish.publish`.
"""

from __future__ import annotations

from typing import Any

from s3lineage.model import QueryEvent, Resolution
from s3lineage.resolve.resolver import Resolver

MAX_TEXT = 100_000  # longer statements are cut: a process shows a statement, not a dump
MAX_SHAPES = 50_000  # memory bound for huge histories


class StatementRecorder(Resolver):
    """A resolver that records one statement text per lineage-producing fingerprint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: dict[str, str] = {}

    def resolve_event_fingerprinted(self, event: QueryEvent, catalog: Any = None,
                                    temps: Any = None) -> tuple[Resolution, str]:
        resolution, fingerprint = super().resolve_event_fingerprinted(event, catalog, temps)
        if resolution.outputs and len(self.statements) < MAX_SHAPES and len(event.text) < 1_000_000:
            # the same fingerprint the pipeline puts into the edge's evidence
            self.statements.setdefault(fingerprint, event.text[:MAX_TEXT])
        return resolution, fingerprint
