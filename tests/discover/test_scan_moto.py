"""discover-s3 against moto in server mode: real CSV/Parquet objects, streaming listing."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3lineage.cli import main
from s3lineage.discover.inventory import Inventory
from s3lineage.discover.scan import scan
from s3lineage.discover.settings import S3Settings, parse_s3
from s3lineage.discover.sources import Boto3Store
from s3lineage.graph.fold import Folder

pytestmark = pytest.mark.slow


def parquet_bytes(rows: int) -> bytes:
    table = pa.table({"order_id": pa.array(range(rows)), "amount": pa.array([1.5] * rows)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def settings_for(tmp_path, endpoint: str, bucket: str, **extra) -> S3Settings:
    return parse_s3({"buckets": [bucket], "endpoint_url": endpoint, "region": "us-east-1",
                     **extra}, tmp_path / "lineage.toml")


def test_scan_folds_objects_reads_schemas_and_follows_changes(tmp_path, s3, bucket, moto_endpoint):
    for day in (14, 15, 16):
        s3.put_object(Bucket=bucket, Key=f"exports/users/dt=2025-01-{day}/users.csv",
                      Body=b"id,email\n1,a@x\n", ContentType="text/csv")
    s3.put_object(Bucket=bucket, Key="reports/orders/data_0_0_0.snappy.parquet",
                  Body=parquet_bytes(1000))
    s3.put_object(Bucket=bucket, Key="logs/app.jsonl.gz",
                  Body=gzip.compress(b'{"ts": 1, "level": "info"}\n'))
    s3.put_object(Bucket=bucket, Key="vendor/drop_20250115", Body=b"currency,rate\nEUR,1\n")
    settings = settings_for(tmp_path, moto_endpoint, bucket)
    inventory = Inventory.temporary()
    store = Boto3Store(settings)
    report = scan(settings, store, inventory, Folder())
    assert report.objects == 6 and not report.diagnostics
    datasets = {t: s for _, t, s in inventory.datasets(bucket)}
    users = datasets["exports/users/dt={dt}/users.csv"]
    assert users["objects"] == 3 and users["fields"] == ["id", "email"]
    assert users["newest_key"] == "exports/users/dt=2025-01-16/users.csv"
    assert users["last_modified"] and users["content_type"] == "text/csv"
    orders = datasets["reports/orders/data_{n}.snappy.parquet"]
    assert orders["format"] == "parquet" and orders["fields"] == ["order_id", "amount"]
    assert orders["rows"] == 1000
    logs = datasets["logs/app.jsonl.gz"]
    assert (logs["format"], logs["compression"], logs["fields"]) == ("json", "gzip", ["ts", "level"])
    assert datasets["vendor/drop_{date}"]["fields"] == ["currency", "rate"]  # sniffed: no extension

    # a re-scan reads no schema again (ETags unchanged); a deleted object disappears, a
    # rewritten one is read again
    s3.delete_object(Bucket=bucket, Key="logs/app.jsonl.gz")
    s3.put_object(Bucket=bucket, Key="exports/users/dt=2025-01-16/users.csv",
                  Body=b"id,email,phone\n1,a@x,555\n")
    report = scan(settings, store, inventory, Folder())
    assert report.schemas_read == 1
    datasets = {t: s for _, t, s in inventory.datasets(bucket)}
    assert "logs/app.jsonl.gz" not in datasets
    users = datasets["exports/users/dt={dt}/users.csv"]
    assert users["fields"] == ["id", "email", "phone"] and len(users["schemas"]) == 2


def test_unreachable_bucket_is_a_diagnostic(tmp_path, moto_endpoint):
    settings = settings_for(tmp_path, moto_endpoint, "no-such-bucket-here")
    report = scan(settings, Boto3Store(settings), Inventory.temporary(), Folder())
    assert [d.code for d in report.diagnostics] == ["s3_list_failed"]
    assert "NoSuchBucket" in report.diagnostics[0].message
    assert "testing" not in report.diagnostics[0].message  # never the credentials


def put_many(s3, bucket: str, count: int) -> None:
    """``count`` objects: daily partitions of small CSV parts, plus Parquet run outputs."""
    parquet = parquet_bytes(10)
    keys = []
    for i in range(count):
        if i % 10 == 9:
            keys.append((f"tables/orders/run-{i:06d}/part-00000.parquet", parquet))
        else:
            keys.append((f"events/dt=2025-01-{1 + i % 28:02d}/part-{i:05d}.csv",
                         b"event_id,user_id,kind\n1,2,click\n"))

    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
                          config=Config(max_pool_connections=16))

    def put(item):
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))


def test_ten_thousand_objects_fold_into_datasets_with_bounded_memory(tmp_path, s3, bucket,
                                                                     moto_endpoint, capsys):
    put_many(s3, bucket, 10_000)
    settings = settings_for(tmp_path, moto_endpoint, bucket)
    store = Boto3Store(settings)
    folder = Folder([*parse_rules()])

    def peak(scopes) -> tuple[int, object, Inventory]:
        inventory = Inventory.temporary()
        tracemalloc.start()
        try:
            report = scan(settings, store, inventory, folder, scopes=scopes)
            return tracemalloc.get_traced_memory()[1], report, inventory
        finally:
            tracemalloc.stop()

    from s3lineage.discover.settings import BucketScope

    small_peak, small, _ = peak((BucketScope(bucket, ("events/dt=2025-01-01/",)),))
    full_peak, report, inventory = peak(None)
    assert report.objects == 10_000 and small.objects < 400
    datasets = {t: s for _, t, s in inventory.datasets(bucket)}
    assert set(datasets) == {"events/dt={dt}/part-{n}.csv",
                             "tables/orders/run-{n}/part-{n}.parquet"}
    events = datasets["events/dt={dt}/part-{n}.csv"]
    assert events["objects"] == 9_000 and events["fields"] == ["event_id", "user_id", "kind"]
    assert events["last_modified"] and events["oldest"]
    orders = datasets["tables/orders/run-{n}/part-{n}.parquet"]
    assert orders["objects"] == 1_000 and orders["fields"] == ["order_id", "amount"]
    # 27x the objects, not 27x the memory: pages are folded and written as they come
    with capsys.disabled():
        print(f"peak traced memory: {small.objects} objects {small_peak / 2**20:.1f} MiB, "
              f"{report.objects} objects {full_peak / 2**20:.1f} MiB")
    assert full_peak < small_peak + 8 * 1024 * 1024, (small_peak, full_peak)
    assert full_peak < 32 * 1024 * 1024

    config = tmp_path / "lineage.toml"
    config.write_text(
        '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
        f'[s3]\nbuckets = ["{bucket}"]\nendpoint_url = "{moto_endpoint}"\n'
        '[graph]\nfold_rules = [{ pattern = "run-\\\\d+", replace = "run-{n}" }]\n'
        '[state]\npath = "state.db"\n')
    assert main(["discover-s3", "--config", str(config), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["objects"] == 10_000 and len(out["datasets"]) == 2
    assert main(["discover-s3", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "10,000 (" in text and "events/dt={dt}/part-{n}.csv" in text


def parse_rules():
    import re

    from s3lineage.config import FoldRule

    return [FoldRule(re.compile(r"run-\d+"), "run-{n}")]
