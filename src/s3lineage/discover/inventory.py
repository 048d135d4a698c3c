"""The S3 inventory: objects and their folded datasets, in SQLite.

Scheduled runs keep it in the state store's database file (tables ``s3_objects``,
``s3_datasets`` and ``s3_scans``, created here with ``CREATE TABLE IF NOT EXISTS``); dry
runs use a private temporary database that SQLite spills to disk, so listing millions
of keys never holds them in memory.

- ``s3_objects``: one row per object (key, size, last-modified, ETag, content type,
  format, the schema read from it, and the ordering marks of the last S3 event applied:
  a deleted object stays as a *tombstone* so an older ObjectCreated arriving late cannot
  bring it back);
- ``s3_datasets``: per key template (the graph's fold), counts, bytes, newest/oldest,
  the newest object's schema, and the distinct schemas seen;
- ``s3_scans``: when each bucket/prefix was last listed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from s3lineage.discover.formats import FileSchema
from s3lineage.discover.sources import ObjectInfo

TOMBSTONE_DAYS = 7

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, template TEXT NOT NULL,
    size INTEGER, last_modified TEXT, etag TEXT, content_type TEXT,
    format TEXT, compression TEXT,
    fields TEXT, header INTEGER, rows INTEGER, schema_error TEXT,
    deleted INTEGER NOT NULL DEFAULT 0, sequencer TEXT, event_time TEXT, scan INTEGER,
    PRIMARY KEY (bucket, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS s3_objects_by_template
    ON s3_objects (bucket, template, deleted, last_modified);
CREATE TABLE IF NOT EXISTS s3_datasets (
    bucket TEXT NOT NULL, template TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (bucket, template)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS s3_scans (
    bucket TEXT NOT NULL, prefix TEXT NOT NULL, scan INTEGER NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, objects INTEGER,
    PRIMARY KEY (bucket, prefix)) WITHOUT ROWID;
"""

_OBJECT_COLUMNS = ("bucket", "key", "template", "size", "last_modified", "etag",
                   "content_type", "format", "compression", "fields", "header", "rows",
                   "schema_error", "deleted", "sequencer", "event_time", "scan")


@dataclass(slots=True)
class StoredObject:
    """A row of ``s3_objects``."""

    bucket: str
    key: str
    template: str
    size: int | None
    last_modified: datetime | None
    etag: str | None
    content_type: str | None
    format: str | None
    compression: str | None
    fields: tuple[str, ...] | None
    header: bool | None
    rows: int | None
    schema_error: str | None
    deleted: bool
    sequencer: str | None
    event_time: datetime | None
    scan: int | None


def state_path(cfg: Any) -> Path:
    """The state store file of a config (``[state] path``, else the runner's default)."""
    return cfg.state.path if cfg.state else cfg.path.resolve().parent / ".s3lineage" / "state.db"


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _row(values: tuple) -> StoredObject:
    data = dict(zip(_OBJECT_COLUMNS, values))
    return StoredObject(
        data["bucket"], data["key"], data["template"], data["size"],
        _dt(data["last_modified"]), data["etag"], data["content_type"], data["format"],
        data["compression"], tuple(json.loads(data["fields"])) if data["fields"] else None,
        None if data["header"] is None else bool(data["header"]), data["rows"],
        data["schema_error"], bool(data["deleted"]), data["sequencer"],
        _dt(data["event_time"]), data["scan"])


def sequencer_newer(new: str, old: str) -> int:
    """1 if S3 sequencer ``new`` is later than ``old``, 0 if equal, -1 if earlier.

    S3 sequencers are hex strings of varying length: right-pad the shorter with zeros,
    then compare lexicographically (as AWS documents).

    >>> sequencer_newer("0055AED6DCD90281E6", "0055AED6DCD90281E5"), sequencer_newer("A", "A0")
    (1, 0)
    """
    width = max(len(new), len(old))
    a, b = new.upper().ljust(width, "0"), old.upper().ljust(width, "0")
    return (a > b) - (a < b)


class Inventory:
    """Typed access to the inventory tables of one SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(_SCHEMA)

    @classmethod
    def temporary(cls) -> Inventory:
        """A private on-disk temporary database (dry runs): deleted when closed."""
        return cls(sqlite3.connect("", isolation_level=None))

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    # --- scans --------------------------------------------------------------------------

    def last_scan(self, bucket: str, prefix: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT scan, started_at, finished_at, objects FROM s3_scans WHERE bucket = ? AND "
            "prefix = ? AND finished_at IS NOT NULL", (bucket, prefix)).fetchone()
        return dict(zip(("scan", "started_at", "finished_at", "objects"), row)) if row else None

    def scanned(self, bucket: str, key: str) -> bool:
        """Whether a finished scan covered this key (so its absence means something)."""
        for (prefix,) in self.db.execute(
                "SELECT prefix FROM s3_scans WHERE bucket = ? AND finished_at IS NOT NULL",
                (bucket,)):
            if key.startswith(prefix):
                return True
        return False

    def upsert_listed(self, rows: Iterable[tuple[ObjectInfo, str, str | None, str | None]],
                      scan: int) -> None:
        """Objects seen by a listing: (info, template, format, compression). A schema read
        earlier is kept while the ETag is unchanged; a tombstone newer than the listed
        version stays deleted."""
        self.db.executemany(
            """INSERT INTO s3_objects (bucket, key, template, size, last_modified, etag, format,
                   compression, deleted, scan) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
               ON CONFLICT (bucket, key) DO UPDATE SET
                   template = excluded.template, size = excluded.size,
                   last_modified = excluded.last_modified, scan = excluded.scan,
                   format = excluded.format, compression = excluded.compression,
                   deleted = CASE WHEN s3_objects.deleted = 1 AND s3_objects.event_time
                                       > excluded.last_modified THEN 1 ELSE 0 END,
                   fields = CASE WHEN s3_objects.etag IS excluded.etag THEN s3_objects.fields END,
                   header = CASE WHEN s3_objects.etag IS excluded.etag THEN s3_objects.header END,
                   rows = CASE WHEN s3_objects.etag IS excluded.etag THEN s3_objects.rows END,
                   schema_error = CASE WHEN s3_objects.etag IS excluded.etag
                                       THEN s3_objects.schema_error END,
                   content_type = CASE WHEN s3_objects.etag IS excluded.etag
                                       THEN s3_objects.content_type END,
                   etag = excluded.etag""",
            ((i.bucket, i.key, t, i.size, _iso(i.last_modified), i.etag, f, c, scan)
             for i, t, f, c in rows))

    def start_scan(self, bucket: str, prefix: str, scan: int, started: datetime) -> None:
        self.db.execute(
            "INSERT INTO s3_scans (bucket, prefix, scan, started_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bucket, prefix) DO UPDATE SET scan = excluded.scan, "
            "started_at = excluded.started_at, finished_at = NULL",
            (bucket, prefix, scan, _iso(started)))

    def finish_scan(self, bucket: str, prefix: str, scan: int, started: datetime,
                    objects: int) -> set[str]:
        """Forget objects the listing no longer shows (unless an event touched them after
        the listing began); returns the templates that lost objects."""
        gone = {t for (t,) in self.db.execute(
            "SELECT DISTINCT template FROM s3_objects WHERE bucket = ? AND key >= ? AND "
            "substr(key, 1, ?) = ? AND deleted = 0 AND (scan IS NULL OR scan <> ?) AND "
            "(event_time IS NULL OR event_time < ?)",
            (bucket, prefix, len(prefix), prefix, scan, _iso(started)))}
        self.db.execute(
            "DELETE FROM s3_objects WHERE bucket = ? AND substr(key, 1, ?) = ? AND deleted = 0 "
            "AND (scan IS NULL OR scan <> ?) AND (event_time IS NULL OR event_time < ?)",
            (bucket, len(prefix), prefix, scan, _iso(started)))
        horizon = datetime.now(UTC) - timedelta(days=TOMBSTONE_DAYS)
        self.db.execute("DELETE FROM s3_objects WHERE bucket = ? AND deleted = 1 AND "
                        "event_time < ?", (bucket, _iso(horizon)))
        self.db.execute("UPDATE s3_scans SET finished_at = ?, objects = ? WHERE bucket = ? AND "
                        "prefix = ?", (_iso(datetime.now(UTC)), objects, bucket, prefix))
        return gone

    # --- objects ------------------------------------------------------------------------

    def get(self, bucket: str, key: str) -> StoredObject | None:
        row = self.db.execute(f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM s3_objects "
                              "WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
        return _row(row) if row else None

    def put(self, obj: StoredObject) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO s3_objects ({', '.join(_OBJECT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_OBJECT_COLUMNS))})",
            (obj.bucket, obj.key, obj.template, obj.size, _iso(obj.last_modified), obj.etag,
             obj.content_type, obj.format, obj.compression,
             json.dumps(list(obj.fields)) if obj.fields is not None else None,
             None if obj.header is None else int(obj.header), obj.rows, obj.schema_error,
             int(obj.deleted), obj.sequencer, _iso(obj.event_time), obj.scan))

    def set_schema(self, bucket: str, key: str, schema: FileSchema,
                   content_type: str | None) -> None:
        self.db.execute(
            "UPDATE s3_objects SET fields = ?, header = ?, rows = ?, schema_error = ?, "
            "content_type = COALESCE(?, content_type) WHERE bucket = ? AND key = ?",
            (json.dumps(list(schema.fields)) if not schema.error else None, int(schema.header),
             schema.rows, schema.error, content_type, bucket, key))

    def objects(self, bucket: str, template: str, *, newest_first: bool = True,
                limit: int | None = None) -> Iterator[StoredObject]:
        order = "DESC" if newest_first else "ASC"
        sql = (f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM s3_objects "
               f"WHERE bucket = ? AND template = ? AND deleted = 0 "
               f"ORDER BY last_modified {order}, key {order}")
        params: tuple = (bucket, template)
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        for row in self.db.execute(sql, params):
            yield _row(row)

    def under(self, bucket: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Datasets (template, summary) whose templates start with ``prefix``."""
        for template, data in self.db.execute(
                "SELECT template, data FROM s3_datasets WHERE bucket = ? AND template >= ? AND "
                "substr(template, 1, ?) = ? ORDER BY template",
                (bucket, prefix, len(prefix), prefix)):
            yield template, json.loads(data)

    def needs_schema(self, bucket: str, template: str, samples: int) -> list[StoredObject]:
        """The newest ``samples`` objects and the oldest one whose schema is not read yet."""
        picked = {o.key: o for o in self.objects(bucket, template, limit=samples)}
        oldest = next(self.objects(bucket, template, newest_first=False, limit=1), None)
        if oldest is not None:
            picked.setdefault(oldest.key, oldest)
        return [o for o in picked.values() if o.fields is None and o.schema_error is None]

    # --- datasets -----------------------------------------------------------------------

    def refresh_dataset(self, bucket: str, template: str) -> None:
        """Recompute one template's summary from its objects (or drop it when empty)."""
        count, size, newest, oldest, rows_known, rows = self.db.execute(
            "SELECT count(*), sum(size), max(last_modified), min(last_modified), "
            "count(rows), sum(rows) FROM s3_objects WHERE bucket = ? AND template = ? AND "
            "deleted = 0", (bucket, template)).fetchone()
        if not count:
            self.db.execute("DELETE FROM s3_datasets WHERE bucket = ? AND template = ?",
                            (bucket, template))
            return
        latest = next(self.objects(bucket, template, limit=1))
        schemas: dict[str, dict[str, Any]] = {}
        for fields, header, key, n in self.db.execute(
                "SELECT fields, header, max(key), count(*) FROM s3_objects WHERE bucket = ? AND "
                "template = ? AND deleted = 0 AND fields IS NOT NULL GROUP BY fields, header "
                "ORDER BY max(last_modified) DESC LIMIT 20", (bucket, template)):
            schemas[fields] = {"fields": json.loads(fields), "header": bool(header),
                               "objects": n, "example": key}
        schema = next(iter(schemas.values()), None)
        formats = [f for (f,) in self.db.execute(
            "SELECT DISTINCT format FROM s3_objects WHERE bucket = ? AND template = ? AND "
            "deleted = 0 AND format IS NOT NULL LIMIT 3", (bucket, template))]
        data = {
            "objects": count, "size": size or 0, "last_modified": newest, "oldest": oldest,
            "newest_key": latest.key, "etag": latest.etag, "format": latest.format,
            "formats": sorted(formats), "compression": latest.compression,
            "content_type": latest.content_type,
            "fields": schema["fields"] if schema else None,
            "header": schema["header"] if schema else None,
            "schema_key": schema["example"] if schema else None,
            "schemas": list(schemas.values()),
            "rows": rows if rows_known == count else None,
        }
        self.db.execute("INSERT OR REPLACE INTO s3_datasets VALUES (?, ?, ?)",
                        (bucket, template, json.dumps(data, sort_keys=True)))

    def dataset(self, bucket: str, template: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM s3_datasets WHERE bucket = ? AND template = ?",
                              (bucket, template)).fetchone()
        return json.loads(row[0]) if row else None

    def datasets(self, bucket: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        sql = "SELECT bucket, template, data FROM s3_datasets"
        params: tuple = ()
        if bucket is not None:
            sql += " WHERE bucket = ?"
            params = (bucket,)
        for b, t, data in self.db.execute(sql + " ORDER BY bucket, template", params):
            yield b, t, json.loads(data)

    def templates(self, bucket: str, scan: int) -> list[str]:
        """Templates of the objects a scan listed."""
        return [t for (t,) in self.db.execute(
            "SELECT DISTINCT template FROM s3_objects WHERE bucket = ? AND scan = ?",
            (bucket, scan))]
