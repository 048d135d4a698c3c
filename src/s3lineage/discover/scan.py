"""``discover-s3``: list the configured buckets into the inventory, read schemas.

Listing streams: each page of 1,000 keys is folded (the graph's own
:class:`~s3lineage.graph.fold.Folder` rules, so objects land in the same logical datasets
as the SQL side) and written to the inventory before the next page is fetched; per-dataset
summaries are then computed by SQLite from the rows. Memory does not grow with the number
of keys. Each bucket/prefix is replaced in one transaction: a scan that fails midway
leaves the previous inventory of that prefix as it was.

Schemas are read for a few objects per dataset (``[s3] schema_samples`` newest, and the
oldest), skipping objects whose schema is known for their current ETag, so a re-scan only
reads what changed; the event handler reads each new object's schema as it lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3lineage.discover.formats import (
    HEAD_BYTES,
    FileSchema,
    FormatGuess,
    guess_format,
    read_schema,
    sniff,
)
from s3lineage.discover.inventory import Inventory
from s3lineage.discover.settings import BucketScope, S3Settings
from s3lineage.discover.sources import ObjectStore, StoreError
from s3lineage.graph.fold import Folder
from s3lineage.model import Diagnostic, Severity

PAGE = 1000
Progress = Callable[[str, int], None]


def fold_key(folder: Folder, key: str) -> str:
    """The dataset template of ``key`` by the folder's rules, without its cache (a bucket
    of millions of keys would fill it); identical to :meth:`Folder.template`."""
    folded = key
    for rule in folder.rules:
        folded = rule.pattern.sub(rule.replace, folded)
    return folded


@dataclass(slots=True)
class ScanReport:
    """What a scan did, for the CLI summary and the benchmark."""

    objects: int = 0
    bytes: int = 0
    datasets: int = 0
    schemas_read: int = 0
    prefixes: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


def read_object_schema(store: ObjectStore, bucket: str, key: str, size: int,
                       hint: str | None = None) -> tuple[FormatGuess, FileSchema, str | None]:
    """Format, schema and content type of one object, with ranged reads only."""
    guess = guess_format(key, hint)
    head = None
    if guess.format not in ("parquet", "orc") and size:
        head = store.read_range(bucket, key, 0, min(size, HEAD_BYTES))
        guess = sniff(head, guess)

    def read(start: int, length: int) -> bytes:
        return store.read_range(bucket, key, start, length)

    schema = read_schema(read, size, guess, head)
    return guess, schema, store.last_content_type(bucket, key)


def scan(settings: S3Settings, store: ObjectStore, inventory: Inventory, folder: Folder, *,
         scopes: tuple[BucketScope, ...] | None = None, progress: Progress | None = None,
         hints: dict[tuple[str, str], str] | None = None) -> ScanReport:
    """List every configured bucket/prefix into ``inventory`` and read dataset schemas.

    ``hints`` maps (bucket, template) to the file format the SQL side declared, for
    objects whose names carry no extension. A bucket that cannot be listed becomes an
    ``s3_list_failed`` diagnostic; the other buckets are still scanned.
    """
    report = ScanReport()
    started_all = time.monotonic()
    for scope in scopes if scopes is not None else settings.buckets:
        for prefix in scope.prefixes:
            where = f"s3://{scope.name}/{prefix}"
            try:
                _scan_prefix(settings, store, inventory, folder, scope.name, prefix, report,
                             progress, hints or {})
                report.prefixes.append(where)
            except StoreError as err:
                report.diagnostics.append(Diagnostic(
                    "s3_list_failed", Severity.ERROR,
                    f"{err}; the inventory of {where} is unchanged", where))
    report.seconds = round(time.monotonic() - started_all, 3)
    return report


def _scan_prefix(settings: S3Settings, store: ObjectStore, inventory: Inventory,
                 folder: Folder, bucket: str, prefix: str, report: ScanReport,
                 progress: Progress | None, hints: dict[tuple[str, str], str]) -> None:
    started = datetime.now(UTC)
    scan_id = time.time_ns() // 1000
    inventory.begin()
    try:
        inventory.start_scan(bucket, prefix, scan_id, started)
        count = 0
        batch = []
        for info in store.list_objects(bucket, prefix):
            template = fold_key(folder, info.key)
            guess = guess_format(info.key, hints.get((bucket, template)))
            batch.append((info, template, guess.format, guess.compression))
            count += 1
            report.bytes += info.size
            if len(batch) >= PAGE:
                inventory.upsert_listed(batch, scan_id)
                batch.clear()
                if progress:
                    progress(f"s3://{bucket}/{prefix}", count)
        inventory.upsert_listed(batch, scan_id)
        report.objects += count
        touched = inventory.finish_scan(bucket, prefix, scan_id, started, count)
        touched.update(inventory.templates(bucket, scan_id))
        for template in sorted(touched):
            report.schemas_read += read_schemas(settings, store, inventory, bucket, template,
                                                hints.get((bucket, template)))
            inventory.refresh_dataset(bucket, template)
            report.datasets += 1
        inventory.commit()
    except BaseException:
        inventory.rollback()
        raise


def read_schemas(settings: S3Settings, store: ObjectStore, inventory: Inventory, bucket: str,
                 template: str, hint: str | None = None) -> int:
    """Read the schemas a dataset still lacks (sampled); returns how many were read."""
    done = 0
    for obj in inventory.needs_schema(bucket, template, settings.schema_samples):
        try:
            guess, schema, content_type = read_object_schema(store, bucket, obj.key,
                                                             obj.size or 0, hint or obj.format)
        except StoreError as err:
            schema, content_type, guess = FileSchema((), error=str(err)), None, None
        if guess is not None and (guess.format, guess.compression) != (obj.format, obj.compression):
            obj.format, obj.compression = guess.format, guess.compression
            inventory.put(obj)
        inventory.set_schema(bucket, obj.key, schema, content_type)
        done += 1
    return done
