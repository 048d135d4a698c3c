"""Contract for live sources (a running PostgreSQL server, a Snowflake account).

A live source reads only what is new since its *cursor*: a JSON-serializable dict that
the source owns and mutates while it reads (watermarks, offsets, seen ids). The pipeline
loads the cursor from the state store before the run and saves the mutated copy in the
same transaction as the run's observations, so a run that dies midway leaves the old
cursor in place and the next run reads the same things again: nothing lost, nothing
counted twice. ``--full-refresh`` passes an empty cursor.

Errors that stop a source (unreachable host, bad credentials, missing privilege or
extension) raise :class:`SourceError` with one message naming the source and the fix;
the CLI prints it and exits 2. Secrets never appear in messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from s3lineage.collect.snowflake_files import CopyLoad, StageInfo
from s3lineage.errors import S3LineageError
from s3lineage.model import QueryEvent
from s3lineage.resolve.schema import Catalog

Cursor = dict[str, Any]


class SourceError(S3LineageError):
    """A live source cannot be read; the message names the source and the fix."""

    def __init__(self, source: str, problem: str, fix: str) -> None:
        super().__init__(f"source {source!r}: {problem}. Fix: {fix}")
        self.source = source
        self.problem = problem
        self.fix = fix


class LiveSource(Protocol):
    """What the pipeline asks of a live source. All methods may raise SourceError."""

    name: str

    def load_catalog(self, catalog: Catalog) -> None:
        """Add every table's columns (information_schema.columns) to ``catalog``."""
        ...

    def stages(self) -> Iterable[StageInfo]:
        """Stage → URL definitions (Snowflake); Postgres sources return ()."""
        ...

    def events(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[QueryEvent]:
        """Statements executed since the cursor (or since ``since`` when given)."""
        ...

    def copy_loads(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[CopyLoad]:
        """Per-file loads since the cursor (Snowflake COPY_HISTORY); Postgres returns ()."""
        ...

    def close(self) -> None:
        ...

    # Optional: ``pipes() -> Iterator[QueryEvent]`` (Snowflake SHOW PIPES as CREATE PIPE
    # events), read every run because Snowpipe loads need their pipe's COPY definition.
