"""S3 discovery: what the buckets really hold, joined to the lineage graph.

- :mod:`.settings` — the ``[s3]`` config section;
- :mod:`.sources` — listing and ranged reads (boto3, or a local mirror);
- :mod:`.formats` — format detection and cheap schema reads;
- :mod:`.inventory` — objects and folded datasets in SQLite (the state store's file);
- :mod:`.scan` — ``discover-s3``: streaming listing into the inventory;
- :mod:`.enrich`, :mod:`.reconcile` — the graph's S3 layer gains members, schemas,
  freshness, and diagnostics where SQL and S3 disagree;
- :mod:`.events`, :mod:`.watch` — S3 event notifications (Lambda, SQS) keep it current.

See docs/s3.md.
"""
