"""What a scheduled run records for auditing: two calls in :mod:`s3lineage.runner`.

.. code-block:: python

    builder = GraphBuilder(...)
    recorder = audit_hooks.attach(builder, store)   # samples SQL text of new statements
    ...
    with store.transaction():
        _save(...)
        recorder.save(run_id)                       # texts + edge history, same transaction

Both are cheap: the sampler keeps one text per *new* fingerprint (a dict lookup per
lineage statement), and the history appends one row per edge the run changed.
"""

from __future__ import annotations

from typing import Any

from s3lineage.audit.history import record_run
from s3lineage.audit.statements import StatementSampler


class RunRecorder:
    """Collects during a run, writes in the run's final transaction."""

    def __init__(self, store: Any, sampler: StatementSampler | None) -> None:
        self.store = store
        self.sampler = sampler

    def save(self, run_id: int) -> None:
        if self.sampler is not None:
            self.sampler.save(self.store, run_id)
        record_run(self.store, run_id)


def attach(builder: Any, store: Any) -> RunRecorder:
    """Start recording for a run whose statements go to ``builder``."""
    return RunRecorder(store, StatementSampler.for_store(store).attach(builder))
