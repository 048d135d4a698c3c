"""S3 → SQS notifications from moto in server mode, applied by `s3lineage watch`."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.discover.watch import watch
from s3lineage.runner import run

pytestmark = pytest.mark.slow

HISTORY = """QUERY_ID,QUERY_TEXT,DATABASE_NAME,SCHEMA_NAME,QUERY_TYPE,EXECUTION_STATUS,START_TIME,ROWS_INSERTED,ROWS_UNLOADED
q1,"COPY INTO DB.S.FX FROM 's3://{bucket}/vendor/fx/' FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)",DB,S,COPY,SUCCESS,2025-01-15 02:10:00 +0000,3,0
q2,"COPY INTO 's3://{bucket}/reports/dim/' FROM (SELECT USER_ID, COUNTRY FROM DB.S.DIM) FILE_FORMAT=(TYPE=PARQUET) HEADER=TRUE",DB,S,UNLOAD,SUCCESS,2025-01-15 03:00:00 +0000,0,500
"""
COLUMNS = ("TABLE_CATALOG,TABLE_SCHEMA,TABLE_NAME,COLUMN_NAME,ORDINAL_POSITION\n"
           "DB,S,FX,CURRENCY,1\nDB,S,FX,RATE,2\nDB,S,FX,AS_OF,3\n")


def state_edges(path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT id, data FROM edges"))
    finally:
        db.close()


@pytest.fixture
def lake(tmp_path, s3, sqs, bucket, moto_endpoint):
    table = pa.table({"USER_ID": pa.array(range(500)), "COUNTRY": pa.array(["SE"] * 500)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    s3.put_object(Bucket=bucket, Key="reports/dim/data_0_0_0.snappy.parquet", Body=buffer.getvalue())
    (tmp_path / "query_history.csv").write_text(HISTORY.format(bucket=bucket))
    (tmp_path / "columns.csv").write_text(COLUMNS)
    config = tmp_path / "lineage.toml"
    config.write_text('[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
                      'query_history_file = "query_history.csv"\ncolumns_file = "columns.csv"\n'
                      f'[s3]\nbuckets = ["{bucket}"]\nendpoint_url = "{moto_endpoint}"\n'
                      'region = "us-east-1"\n[state]\npath = "state.db"\n')
    queue = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*",
                                                             "s3:ObjectRemoved:*"]}]})
    report = run(config)  # first scheduled run: the bucket is listed (scan_on_run = auto)
    unload = report.result.graph.node(f"s3://{bucket}/reports/dim/")
    assert unload.metadata["rows"] == 500 and unload.metadata["format"] == "parquet"
    assert "s3_row_count_mismatch" not in report.result.diagnostics.codes()
    return config, queue


def test_events_on_the_queue_update_the_graph_within_one_poll(tmp_path, lake, s3, sqs, bucket):
    config, queue = lake
    fx_edge = f"s3://{bucket}/vendor/fx/ -> snowflake://acme/DB.S.FX"
    assert '"$1"' in state_edges(tmp_path / "state.db")[fx_edge]
    s3.put_object(Bucket=bucket, Key="vendor/fx/fx_2025-01-16.csv",
                  Body=b"currency,rate,as_of\nEUR,1.0,2025-01-16\n", ContentType="text/csv")
    s3.put_object(Bucket=bucket, Key="tmp/scratch.json", Body=b'{"a": 1}\n')

    cfg = load_config(config)
    report = watch(cfg, queue, max_polls=1, wait_seconds=2)
    assert report.polls == 1 and report.applied == 2
    [batch] = report.batches
    assert batch.restitched
    graph = batch.run.result.graph
    fx = graph.node(f"s3://{bucket}/vendor/fx/")
    member = fx.members["vendor/fx/fx_2025-01-16.csv"]
    assert member.size == 39 and member.etag and member.last_modified
    assert fx.metadata["content_type"] == "text/csv"
    assert fx.fields == ["currency", "rate", "as_of"]
    assert "s3_unexplained_objects" in batch.run.result.diagnostics.codes()  # tmp/scratch.json
    edges = state_edges(tmp_path / "state.db")
    assert '"currency"' in edges[fx_edge] and '"$1"' not in edges[fx_edge]
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"] == {
        "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_replaying_the_same_events_changes_nothing(tmp_path, lake, s3, sqs, bucket):
    config, queue = lake
    s3.put_object(Bucket=bucket, Key="vendor/fx/fx_2025-01-16.csv",
                  Body=b"currency,rate,as_of\nEUR,1.0,2025-01-16\n")
    bodies = []
    while True:  # capture what S3 sent, then put it back
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert any("ObjectCreated" in b for b in bodies)
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    cfg = load_config(config)
    first = watch(cfg, queue, once=True, wait_seconds=1)
    assert first.applied == 1
    edges = state_edges(tmp_path / "state.db")
    db = sqlite3.connect(tmp_path / "state.db")
    runs = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    objects = db.execute("SELECT * FROM s3_objects ORDER BY key").fetchall()

    created = next(b for b in bodies if "ObjectCreated" in b)
    wrapped = json.dumps({"Type": "Notification", "Message": created})  # S3 → SNS → SQS
    record = json.loads(created)["Records"][0]
    bridge = json.dumps({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
                         "time": record["eventTime"], "detail": {
                             "bucket": {"name": bucket},
                             "object": {"key": "vendor/fx/fx_2025-01-16.csv",
                                        "etag": record["s3"]["object"]["eTag"], "size": 39}}})
    for body in [*bodies, created, wrapped, bridge]:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    again = watch(cfg, queue, once=True, wait_seconds=1)
    assert again.applied == 0 and again.ignored == again.events >= 4
    assert not any(b.restitched for b in again.batches)
    assert state_edges(tmp_path / "state.db") == edges
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == runs
    assert db.execute("SELECT * FROM s3_objects ORDER BY key").fetchall() == objects

    # a removal follows; the CLI applies it
    s3.delete_object(Bucket=bucket, Key="vendor/fx/fx_2025-01-16.csv")
    assert main(["watch", "--config", str(config), "--sqs-queue-url", queue, "--once",
                 "--wait-seconds", "1"]) == 0
    graph = run(cfg, read_sources=False).result.graph
    assert "vendor/fx/fx_2025-01-16.csv" not in graph.node(f"s3://{bucket}/vendor/fx/").members
