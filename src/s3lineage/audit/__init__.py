"""Auditing inferred lineage: why each edge exists, review decisions, impact, reports.

- :mod:`~s3lineage.audit.data` — the stored graph (state store or JSON export) with name
  resolution for datasets, columns and edges;
- :mod:`~s3lineage.audit.explain` — statements, recognizer, confidence and SQL per edge,
  and a column's full upstream path;
- :mod:`~s3lineage.audit.table` — the filterable edge table and changes since the last run;
- :mod:`~s3lineage.audit.reviews` — accept/reject decisions (:func:`load_decisions`);
- :mod:`~s3lineage.audit.impact` — reachability at table and column level;
- :mod:`~s3lineage.audit.html` and :mod:`~s3lineage.audit.openlineage` — exports;
- :mod:`~s3lineage.audit.hooks` — what a scheduled run records for auditing.
"""

from s3lineage.audit.reviews import Decision, load_decisions

__all__ = ["Decision", "load_decisions"]
