"""S3 event notifications → the inventory → re-stitched graph, without a full run.

Accepted shapes (:func:`parse_events` finds the S3 records in any of them):

- S3 notifications, ``{"Records": [{"eventSource": "aws:s3", "eventName":
  "ObjectCreated:Put", "s3": {...}}]}`` (keys URL-encoded), as a Lambda receives them,
  or as the body of an SQS message;
- the same wrapped by SNS (``{"Type": "Notification", "Message": "<json>"}``, SNS → SQS),
  or an SNS-triggered Lambda's ``{"Records": [{"Sns": {"Message": …}}]}``;
- an SQS-triggered Lambda's ``{"Records": [{"eventSource": "aws:sqs", "body": …}]}``;
- EventBridge ``{"source": "aws.s3", "detail-type": "Object Created" | "Object Deleted",
  "detail": {...}}`` (directly, or as an SQS body);
- ``s3:TestEvent`` messages are recognized and ignored.

:func:`apply_events` updates each object's row in the inventory (a created object is
HEAD-ed and its schema read with one ranged GET) and its dataset summary, in one
transaction, then rebuilds the graph from the state alone
(:func:`s3lineage.runner.run` with ``read_sources=False``). An event older than what the
inventory holds for that key (S3 ``sequencer``, else event time) or equal to it is
ignored, so duplicates and out-of-order deliveries change nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from s3lineage.config import Config, load_config
from s3lineage.discover.inventory import Inventory, StoredObject, sequencer_newer, state_path
from s3lineage.discover.scan import fold_key, read_object_schema
from s3lineage.discover.settings import S3Settings
from s3lineage.discover.sources import ObjectInfo, ObjectStore, StoreError, open_store
from s3lineage.errors import ConfigError
from s3lineage.graph.fold import Folder
from s3lineage.state.store import StateStore

CONFIG_ENV = "S3LINEAGE_CONFIG"
_PENDING = "s3_restitch_pending"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object created or removed."""

    bucket: str
    key: str
    kind: str  # created | removed
    time: datetime | None = None
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    name: str = ""  # ObjectCreated:Put, Object Deleted, …


@dataclass(slots=True)
class EventReport:
    """What a batch of events did."""

    received: int = 0
    applied: int = 0
    ignored: int = 0  # duplicates, older than what is known, or out of scope
    changed: list[str] = field(default_factory=list)  # s3:// URLs whose state changed
    restitched: bool = False
    edges: int | None = None
    run: Any = None  # the RunReport of the re-stitch (its result holds the graph)


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _loads(text: Any) -> Any:
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def parse_events(payload: Any) -> Iterator[ObjectEvent]:
    """Every S3 object event inside ``payload`` (a dict, or JSON text); others are skipped."""
    data = _loads(payload)
    if not isinstance(data, dict):
        return
    if data.get("Type") == "Notification" and "Message" in data:  # SNS envelope
        yield from parse_events(data["Message"])
        return
    if data.get("source") == "aws.s3" and isinstance(data.get("detail"), dict):
        event = _eventbridge(data)
        if event is not None:
            yield event
        return
    for record in data.get("Records", ()) if isinstance(data.get("Records"), list) else ():
        if not isinstance(record, dict):
            continue
        source = record.get("eventSource") or record.get("EventSource")
        if source == "aws:sqs":
            yield from parse_events(record.get("body"))
        elif source == "aws:sns":
            yield from parse_events((record.get("Sns") or {}).get("Message"))
        elif source == "aws:s3" or "s3" in record:
            event = _notification(record)
            if event is not None:
                yield event


def _notification(record: dict[str, Any]) -> ObjectEvent | None:
    name = str(record.get("eventName", ""))
    if name.startswith("ObjectCreated"):
        kind = "created"
    elif name.startswith("ObjectRemoved"):
        kind = "removed"
    else:
        return None
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    if not bucket or "key" not in obj:
        return None
    size = obj.get("size")
    return ObjectEvent(bucket, unquote_plus(str(obj["key"])), kind, _time(record.get("eventTime")),
                       int(size) if size is not None else None,
                       str(obj["eTag"]).strip('"') if obj.get("eTag") else None,
                       obj.get("sequencer"), name)


def _eventbridge(data: dict[str, Any]) -> ObjectEvent | None:
    kind = {"Object Created": "created", "Object Deleted": "removed"}.get(
        str(data.get("detail-type")))
    detail = data["detail"]
    obj = detail.get("object") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    if kind is None or not bucket or "key" not in obj:
        return None
    size = obj.get("size")
    return ObjectEvent(bucket, str(obj["key"]), kind, _time(data.get("time")),
                       int(size) if size is not None else None,
                       str(obj["etag"]).strip('"') if obj.get("etag") else None,
                       obj.get("sequencer"), str(data.get("detail-type")))


def is_test_event(payload: Any) -> bool:
    data = _loads(payload)
    return isinstance(data, dict) and data.get("Event") == "s3:TestEvent"


# --- applying ---------------------------------------------------------------------------------


def order(event: ObjectEvent, stored: StoredObject | None) -> int:
    """1 if ``event`` is newer than what is stored for its key, 0 if the same, -1 if older."""
    if stored is None:
        return 1
    if event.sequencer and stored.sequencer:
        return sequencer_newer(event.sequencer, stored.sequencer)
    known = stored.event_time or stored.last_modified
    if event.time is None or known is None:
        same = (event.kind == "removed") == stored.deleted and event.etag == stored.etag
        return 0 if same else 1
    return (event.time > known) - (event.time < known)


def apply_events(cfg: Config, events: list[ObjectEvent], *, object_store: ObjectStore | None = None,
                 restitch: bool = True) -> EventReport:
    """Apply S3 events to the state store's inventory, then re-stitch the graph."""
    settings: S3Settings = cfg.sections["s3"]
    folder = Folder(cfg.graph.fold_rules, cfg.graph.fold_partitions)
    report = EventReport(received=len(events))
    store = StateStore(state_path(cfg))
    try:
        inventory = Inventory(store.db)
        relevant = [e for e in events if settings.covers(e.bucket, e.key)]
        report.ignored += len(events) - len(relevant)
        fresh = [e for e in relevant if order(e, inventory.get(e.bucket, e.key)) > 0]
        report.ignored += len(relevant) - len(fresh)
        looked = _look(fresh, object_store or (open_store(settings) if fresh else None))
        store.db.execute("BEGIN IMMEDIATE")
        try:
            touched: set[tuple[str, str]] = set()
            for event in sorted(fresh, key=lambda e: (e.bucket, e.key, e.sequencer or "",
                                                      e.time or datetime.min.replace(tzinfo=UTC))):
                stored = inventory.get(event.bucket, event.key)
                if order(event, stored) <= 0:  # a later event of this batch got there first
                    report.ignored += 1
                    continue
                updated = _updated(event, stored, looked.get(event), fold_key(folder, event.key))
                inventory.put(updated)
                report.applied += 1
                if stored is None or _visible(stored) != _visible(updated):
                    report.changed.append(f"s3://{event.bucket}/{event.key}")
                    touched.add((event.bucket, updated.template))
                    if stored is not None and stored.template != updated.template:
                        touched.add((event.bucket, stored.template))
            for bucket, template in sorted(touched):
                inventory.refresh_dataset(bucket, template)
            if touched:
                store.set_meta(_PENDING, "1")
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        pending = store.meta(_PENDING) == "1"
    finally:
        store.close()
    if restitch and pending:
        report.run = restitch_graph(cfg)
        report.edges = int(report.run.stats.get("edges", 0))
        report.restitched = True
    return report


def restitch_graph(cfg: Config) -> Any:
    """Rebuild, check and save the graph from the state alone (no source is read, no
    bucket listed); clears the pending mark. Returns the runner's RunReport."""
    from s3lineage.runner import run

    settings: S3Settings = cfg.sections["s3"]
    quiet = replace(cfg, sections={**cfg.sections, "s3": replace(settings, scan_on_run="never")})
    report = run(quiet, read_sources=False)
    store = StateStore(state_path(cfg))
    try:
        store.set_meta(_PENDING, "0")
    finally:
        store.close()
    return report


def _look(events: list[ObjectEvent], store: ObjectStore | None
          ) -> dict[ObjectEvent, tuple[ObjectInfo | None, Any]]:
    """HEAD and schema of each created object (before the write transaction)."""
    found: dict[ObjectEvent, tuple[ObjectInfo | None, Any]] = {}
    if store is None:
        return found
    for event in events:
        if event.kind != "created":
            continue
        try:
            info = store.head(event.bucket, event.key)
            schema = (read_object_schema(store, event.bucket, event.key, info.size)
                      if info is not None else None)
        except StoreError:
            info, schema = None, None
        found[event] = (info, schema)
    return found


def _updated(event: ObjectEvent, stored: StoredObject | None,
             looked: tuple[ObjectInfo | None, Any] | None, template: str) -> StoredObject:
    if event.kind == "removed":
        base = stored or StoredObject(event.bucket, event.key, template, None, None, event.etag,
                                      None, None, None, None, None, None, None, True, None, None,
                                      None)
        return replace(base, template=template, deleted=True, sequencer=event.sequencer,
                       event_time=event.time)
    info, schema = looked if looked else (None, None)
    etag = (info.etag if info else None) or event.etag
    same_version = stored is not None and not stored.deleted and stored.etag == etag
    obj = StoredObject(
        event.bucket, event.key, template,
        info.size if info else event.size,
        (info.last_modified if info else None) or event.time,
        etag,
        (info.content_type if info else None)
        or (stored.content_type if stored is not None and same_version else None),
        None, None, None, None, None, None, False, event.sequencer, event.time,
        stored.scan if stored else None)
    if schema is not None:
        guess, file_schema, content_type = schema
        obj = replace(obj, format=guess.format, compression=guess.compression,
                      fields=None if file_schema.error else tuple(file_schema.fields),
                      header=file_schema.header, rows=file_schema.rows,
                      schema_error=file_schema.error,
                      content_type=obj.content_type or content_type)
    elif same_version and stored is not None:
        obj = replace(obj, format=stored.format, compression=stored.compression,
                      fields=stored.fields, header=stored.header, rows=stored.rows,
                      schema_error=stored.schema_error)
    if obj.format is None:
        from s3lineage.discover.formats import guess_format

        guess = guess_format(event.key)
        obj = replace(obj, format=guess.format, compression=guess.compression)
    return obj


def _visible(obj: StoredObject) -> tuple:
    return (obj.deleted, obj.etag, obj.size, obj.last_modified, obj.fields, obj.template)


# --- Lambda ------------------------------------------------------------------------------------

_CONFIG_CACHE: dict[str, Config] = {}


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point (S3, SNS, SQS or EventBridge trigger).

    The config path comes from ``S3LINEAGE_CONFIG``; its ``[state] path`` must be on
    storage that outlives the invocation (EFS). Raising makes Lambda retry the batch,
    which is harmless: applied events are ignored the second time.
    """
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"set {CONFIG_ENV} to the lineage.toml the handler uses")
    cfg = _CONFIG_CACHE.get(path)
    if cfg is None:
        cfg = _CONFIG_CACHE[path] = load_config(path)
    if "s3" not in cfg.sections:
        raise ConfigError(f"{path} has no [s3] section")
    events = list(parse_events(event))
    report = apply_events(cfg, events)
    return {"received": report.received, "applied": report.applied, "ignored": report.ignored,
            "changed": report.changed, "restitched": report.restitched, "edges": report.edges}
