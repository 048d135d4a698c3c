"""S3 event notifications: envelopes, ordering, idempotence (local mirror; no server)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s3lineage.config import load_config
from s3lineage.discover.events import (
    ObjectEvent,
    apply_events,
    lambda_handler,
    order,
    parse_events,
)
from s3lineage.discover.inventory import StoredObject
from s3lineage.runner import run


def s3_record(name: str, key: str, when: str, sequencer: str | None = None,
              bucket: str = "lake", etag: str = "abc") -> dict:
    obj = {"key": key, "size": 12, "eTag": etag}
    if sequencer:
        obj["sequencer"] = sequencer
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": when,
            "eventName": name, "s3": {"bucket": {"name": bucket}, "object": obj}}


def eventbridge(kind: str, key: str, when: str, sequencer: str | None = None) -> dict:
    return {"version": "0", "source": "aws.s3", "detail-type": kind, "time": when,
            "detail": {"bucket": {"name": "lake"},
                       "object": {"key": key, "size": 12, "etag": "abc",
                                  **({"sequencer": sequencer} if sequencer else {})}}}


def test_every_envelope_yields_the_same_event():
    record = s3_record("ObjectCreated:Put", "landing/fx+rates%3D1.csv", "2025-01-16T02:00:00.000Z",
                       "0055AED6DCD90281E5")
    notification = {"Records": [record]}
    sns = {"Type": "Notification", "Message": json.dumps(notification)}
    shapes = [
        notification,
        json.dumps(notification),
        sns,
        {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(notification)}]},
        {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(sns)}]},
        {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(notification)}}]},
    ]
    for shape in shapes:
        [event] = parse_events(shape)
        assert (event.bucket, event.key, event.kind) == ("lake", "landing/fx rates=1.csv", "created")
        assert event.sequencer == "0055AED6DCD90281E5" and event.etag == "abc"
    [bridge] = parse_events(eventbridge("Object Deleted", "landing/fx rates=1.csv",
                                        "2025-01-16T02:00:00Z"))
    assert (bridge.key, bridge.kind) == ("landing/fx rates=1.csv", "removed")
    assert list(parse_events({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    assert list(parse_events("not json")) == []
    assert list(parse_events({"Records": [s3_record("ObjectTagging:Put", "k", "2025-01-01T00:00:00Z")]})) == []


def stored(**kw) -> StoredObject:
    base = {"bucket": "lake", "key": "k", "template": "k", "size": 1, "last_modified": None, "etag": "abc",
                "content_type": None, "format": None, "compression": None, "fields": None, "header": None,
                "rows": None, "schema_error": None, "deleted": False, "sequencer": None, "event_time": None,
                "scan": None}
    return StoredObject(**(base | kw))


def test_ordering_by_sequencer_then_time():
    t1 = datetime(2025, 1, 16, 2, tzinfo=UTC)
    t2 = datetime(2025, 1, 16, 3, tzinfo=UTC)
    event = ObjectEvent("lake", "k", "created", t1, etag="abc", sequencer="0055AED6DCD90281E6")
    assert order(event, None) == 1
    assert order(event, stored(sequencer="0055AED6DCD90281E5")) == 1
    assert order(event, stored(sequencer="0055AED6DCD90281E6")) == 0  # a duplicate
    assert order(event, stored(sequencer="0055AED6DCD90281E60")) == 0  # padded: equal
    assert order(event, stored(sequencer="0055AED6DCD90281E7")) == -1
    no_seq = ObjectEvent("lake", "k", "created", t1, etag="abc")
    assert order(no_seq, stored(event_time=t2, deleted=True)) == -1  # the delete came later
    assert order(no_seq, stored(last_modified=t1)) == 0


# --- applying to a state store (local mirror) -------------------------------------------------

HISTORY = ("QUERY_ID,QUERY_TEXT,DATABASE_NAME,SCHEMA_NAME,QUERY_TYPE,EXECUTION_STATUS,START_TIME,"
           "ROWS_INSERTED\nq1,\"COPY INTO DB.S.FX FROM 's3://lake/vendor/fx/' FILE_FORMAT=(TYPE=CSV"
           " SKIP_HEADER=1)\",DB,S,COPY,SUCCESS,2025-01-15 02:10:00 +0000,3\n")
COLUMNS = ("TABLE_CATALOG,TABLE_SCHEMA,TABLE_NAME,COLUMN_NAME,ORDINAL_POSITION\n"
           "DB,S,FX,CURRENCY,1\nDB,S,FX,RATE,2\n")


def account(tmp_path: Path, s3: str) -> Path:
    (tmp_path / "query_history.csv").write_text(HISTORY)
    (tmp_path / "columns.csv").write_text(COLUMNS)
    config = tmp_path / "lineage.toml"
    config.write_text('[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
                      'query_history_file = "query_history.csv"\ncolumns_file = "columns.csv"\n'
                      f'[s3]\n{s3}\n[state]\npath = "state.db"\n')
    return config


def edges(tmp_path: Path) -> dict[str, str]:
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        return dict(db.execute("SELECT id, data FROM edges"))
    finally:
        db.close()


def runs(tmp_path: Path) -> int:
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def mirrored(tmp_path):
    (tmp_path / "mirror" / "lake" / "vendor" / "fx").mkdir(parents=True)
    config = account(tmp_path, 'buckets = ["lake"]\nlocal_root = "mirror"')
    run(config)
    return config


def land(tmp_path: Path, key: str, body: str) -> None:
    path = tmp_path / "mirror" / "lake" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def test_an_event_updates_the_dataset_and_restitches_once(tmp_path, mirrored):
    before = edges(tmp_path)
    fx_edge = "s3://lake/vendor/fx/ -> snowflake://acme/DB.S.FX"
    assert '"$1"' in before[fx_edge]
    land(tmp_path, "vendor/fx/fx_2025-01-16.csv", "currency,rate\nEUR,1\n")
    created = {"Records": [s3_record("ObjectCreated:Put", "vendor/fx/fx_2025-01-16.csv",
                                     "2025-01-16T02:00:00Z", "0A")]}
    cfg = load_config(mirrored)
    report = apply_events(cfg, list(parse_events(created)))
    assert (report.applied, report.restitched) == (1, True)
    graph = report.run.result.graph
    node = graph.node("s3://lake/vendor/fx/")
    assert "vendor/fx/fx_2025-01-16.csv" in node.members
    assert node.fields[:2] == ["currency", "rate"]
    after = edges(tmp_path)
    assert '"currency"' in after[fx_edge] and '"$1"' not in after[fx_edge]
    count = runs(tmp_path)

    again = apply_events(cfg, list(parse_events(created)) * 2)  # duplicates
    assert (again.applied, again.ignored, again.restitched) == (0, 2, False)
    assert edges(tmp_path) == after and runs(tmp_path) == count


def test_out_of_order_delete_then_late_create(tmp_path, mirrored):
    cfg = load_config(mirrored)
    key = "vendor/fx/fx_2025-01-17.csv"
    land(tmp_path, key, "currency,rate\nSEK,0.08\n")
    create = {"Records": [s3_record("ObjectCreated:Put", key, "2025-01-17T02:00:00Z", "10")]}
    delete = {"Records": [s3_record("ObjectRemoved:Delete", key, "2025-01-17T03:00:00Z", "20")]}
    (tmp_path / "mirror" / "lake" / key).unlink()
    report = apply_events(cfg, list(parse_events(delete)))
    assert report.applied == 1
    late = apply_events(cfg, list(parse_events(create)))  # older than the delete
    assert (late.applied, late.ignored) == (0, 1)
    graph = run(cfg, read_sources=False).result.graph
    assert key not in graph.node("s3://lake/vendor/fx/").members
    # EventBridge events work the same way, and out-of-scope buckets are ignored
    land(tmp_path, key, "currency,rate\nSEK,0.09\n")
    bridge = eventbridge("Object Created", key, "2025-01-17T04:00:00Z", "30")
    other = {"Records": [s3_record("ObjectCreated:Put", "x.csv", "2025-01-17T04:00:00Z",
                                   bucket="elsewhere")]}
    report = apply_events(cfg, [*parse_events(bridge), *parse_events(other)])
    assert (report.applied, report.ignored, report.restitched) == (1, 1, True)
    assert key in report.run.result.graph.node("s3://lake/vendor/fx/").members


def test_lambda_handler_reads_its_config_from_the_environment(tmp_path, mirrored, monkeypatch):
    land(tmp_path, "vendor/fx/fx_2025-01-18.csv", "currency,rate\nNOK,0.09\n")
    body = json.dumps({"Records": [s3_record("ObjectCreated:Put", "vendor/fx/fx_2025-01-18.csv",
                                             "2025-01-18T02:00:00Z", "40")]})
    sqs_batch = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": body}]}
    monkeypatch.delenv("S3LINEAGE_CONFIG", raising=False)
    with pytest.raises(Exception, match="S3LINEAGE_CONFIG"):
        lambda_handler(sqs_batch, None)
    monkeypatch.setenv("S3LINEAGE_CONFIG", str(mirrored))
    result = lambda_handler(sqs_batch, None)
    assert result["applied"] == 1 and result["restitched"] and result["edges"] >= 1
    assert lambda_handler(sqs_batch, None)["applied"] == 0  # Lambda's retry: harmless
