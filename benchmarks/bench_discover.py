"""Throughput and memory of ``discover-s3`` on a bucket of many objects in moto.

Starts moto in server mode on a free 127.0.0.1 port (or uses ``--endpoint``), puts
``--objects`` small objects (CSV parts in daily Hive partitions, one in ten a Parquet run
output) with a thread pool, then scans the bucket twice with the code ``discover-s3`` runs:

1. timed: objects/s of the whole scan (listing, folding, inventory writes, schema reads),
   with the process's RSS sampled every 10 ms (peak and growth during the scan);
2. under tracemalloc: the peak of Python allocations during the scan, and the same for a
   scan of one partition (~1/28 of the objects) — flat numbers mean the listing does not
   accumulate keys.

    python benchmarks/bench_discover.py [--objects 10000] [--json] [--endpoint URL]

Network: only the loopback address of the moto server.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from s3lineage.config import FoldRule
from s3lineage.discover.inventory import Inventory
from s3lineage.discover.scan import scan
from s3lineage.discover.settings import BucketScope, parse_s3
from s3lineage.discover.sources import Boto3Store
from s3lineage.graph.fold import Folder
from s3lineage.testing.moto_server import moto_server

_FAKE = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def fill(endpoint: str, bucket: str, count: int, threads: int) -> float:
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(max_pool_connections=threads))
    client.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"order_id": list(range(10)), "amount": [1.5] * 10}), buffer)
    parquet = buffer.getvalue()

    def put(i: int) -> None:
        if i % 10 == 9:
            key, body = f"tables/orders/run-{i:06d}/part-00000.parquet", parquet
        else:
            key = f"events/dt=2025-01-{1 + i % 28:02d}/part-{i:05d}.csv"
            body = b"event_id,user_id,kind\n1,2,click\n"
        client.put_object(Bucket=bucket, Key=key, Body=body)

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(count)))
    return time.monotonic() - started


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Peak resident memory during a block, sampled every 10 ms."""

    def __init__(self) -> None:
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> Self:
        self.start = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16, help="put threads (default 16)")
    parser.add_argument("--endpoint", help="an S3-compatible endpoint on 127.0.0.1 to use")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for key, value in _FAKE.items():
        os.environ.setdefault(key, value)
    with ExitStack() as stack:
        endpoint = args.endpoint or stack.enter_context(moto_server())
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        put_seconds = fill(endpoint, bucket, args.objects, args.threads)
        settings = parse_s3({"buckets": [bucket], "endpoint_url": endpoint,
                             "region": "us-east-1"}, Path("bench.toml"))
        store = Boto3Store(settings)
        # as a user would configure: [graph] fold_rules = [{pattern = "run-\\d+", …}]
        folder = Folder([FoldRule(re.compile(r"run-\d+"), "run-{n}")])
        inventory = Inventory.temporary()
        with RssSampler() as rss:
            started = time.monotonic()
            report = scan(settings, store, inventory, folder)
            seconds = time.monotonic() - started
        datasets = len(list(inventory.datasets(bucket)))
        inventory.db.close()

        def traced(scopes) -> tuple[int, int]:
            inv = Inventory.temporary()
            tracemalloc.start()
            try:
                result = scan(settings, store, inv, folder, scopes=scopes)
                return result.objects, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                inv.db.close()

        part_objects, part_peak = traced((BucketScope(bucket, ("events/dt=2025-01-01/",)),))
        _, full_peak = traced(None)
    result = {
        "objects": report.objects,
        "datasets": datasets,
        "schemas_read": report.schemas_read,
        "put_seconds": round(put_seconds, 2),
        "scan_seconds": round(seconds, 3),
        "objects_per_second": round(report.objects / seconds, 1) if seconds else 0.0,
        "rss_peak_mib": round(rss.peak / 2**20, 1),
        "rss_growth_mib": round((rss.peak - rss.start) / 2**20, 1),
        "traced_peak_mib": round(full_peak / 2**20, 2),
        "traced_peak_one_partition_mib": round(part_peak / 2**20, 2),
        "one_partition_objects": part_objects,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"discover-s3 on {result['objects']:,} objects in moto ({datasets} datasets, "
              f"{result['schemas_read']} schemas read; filling took {put_seconds:.1f} s)")
        print(f"  scan                 {seconds:.2f} s, {result['objects_per_second']:,.0f} objects/s")
        print(f"  RSS                  peak {result['rss_peak_mib']} MiB, "
              f"+{result['rss_growth_mib']} MiB during the scan")
        print(f"  traced Python peak   {result['traced_peak_mib']} MiB for all objects, "
              f"{result['traced_peak_one_partition_mib']} MiB for {part_objects:,} (one partition)")
    return result


if __name__ == "__main__":
    main()
