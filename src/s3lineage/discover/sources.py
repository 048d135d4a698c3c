"""Where objects are listed and read from: S3 through boto3, or a local mirror.

Both implement :class:`ObjectStore`: ``list_objects`` streams one bucket/prefix (boto3's
``list_objects_v2`` paginator, 1,000 keys a page, nothing accumulated), ``read_range``
fetches a byte range (a ranged GET), ``head`` describes one object (for events).

The local mirror (``[s3] local_root``) lays buckets out as folders,
``<local_root>/<bucket>/<key>``, for offline demos and tests. A filesystem cannot keep
S3's metadata, so the ETag is the MD5 of the content (as S3's is for single-part
uploads), the content type is guessed from the name, and ``last_modified`` is the file's
mtime unless ``<local_root>/.s3meta.json`` pins it (``{"bucket/key": {"last_modified":
"2025-01-15T01:30:02+00:00", "content_type": "text/csv"}}``) — checkouts reset mtimes.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from s3lineage.discover.settings import S3Settings
from s3lineage.errors import InputError, S3LineageError

META_FILE = ".s3meta.json"


class StoreError(S3LineageError):
    """A bucket or object could not be listed or read (the message names it; never secrets)."""


@dataclass(slots=True)
class ObjectInfo:
    """One object as a listing (or HEAD/GET) describes it."""

    bucket: str
    key: str
    size: int
    last_modified: datetime | None
    etag: str | None
    content_type: str | None = None


class ObjectStore(Protocol):
    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes: ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def last_content_type(self, bucket: str, key: str) -> str | None: ...


def open_store(settings: S3Settings, client: Any = None) -> ObjectStore:
    """The local mirror when ``local_root`` is set, else S3 through boto3."""
    if settings.local_root is not None and client is None:
        return LocalStore(settings.local_root)
    return Boto3Store(settings, client)


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Boto3Store:
    """S3 (or an S3-compatible store at ``endpoint_url``) through boto3."""

    def __init__(self, settings: S3Settings, client: Any = None) -> None:
        self.client = client if client is not None else make_client(settings, "s3")
        self._content_types: dict[tuple[str, str], str | None] = {}

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix,
                                   PaginationConfig={"PageSize": 1000})
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    yield ObjectInfo(bucket, item["Key"], int(item.get("Size", 0)),
                                     _aware(item.get("LastModified")), _etag(item.get("ETag")))
        except Exception as err:
            raise StoreError(f"cannot list s3://{bucket}/{prefix}: {_aws_reason(err)}") from err

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key,
                                              Range=f"bytes={start}-{start + length - 1}")
            self._content_types[(bucket, key)] = response.get("ContentType")
            if len(self._content_types) > 10_000:
                self._content_types.clear()
            return response["Body"].read()
        except Exception as err:
            raise StoreError(f"cannot read s3://{bucket}/{key}: {_aws_reason(err)}") from err

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as err:
            code = _error_code(err)
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"cannot read s3://{bucket}/{key}: {_aws_reason(err)}") from err
        return ObjectInfo(bucket, key, int(response.get("ContentLength", 0)),
                          _aware(response.get("LastModified")), _etag(response.get("ETag")),
                          response.get("ContentType"))

    def last_content_type(self, bucket: str, key: str) -> str | None:
        return self._content_types.get((bucket, key))


def make_client(settings: S3Settings, service: str) -> Any:
    """A boto3 client; credentials come from the standard chain (never from the config)."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError as err:
        raise S3LineageError("[s3] needs boto3: pip install 's3lineage[s3]'") from err
    session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    config = BotoConfig(retries={"mode": "standard", "max_attempts": 5},
                        max_pool_connections=16, user_agent_extra="s3lineage")
    endpoint = settings.endpoint_url if service == "s3" else _service_endpoint(settings, service)
    return session.client(service, endpoint_url=endpoint, config=config)


def _service_endpoint(settings: S3Settings, service: str) -> str | None:
    # a local S3-compatible test server (moto) serves SQS on the same endpoint; real AWS
    # endpoints are per service, so only a non-AWS endpoint is reused
    endpoint = settings.endpoint_url
    if endpoint and "amazonaws.com" not in endpoint:
        return endpoint
    return None


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _aws_reason(err: Exception) -> str:
    """The AWS error code and message, or the exception's class: never request details."""
    name = type(err).__name__
    if name == "NoCredentialsError":
        return ("no AWS credentials found (standard chain: AWS_* environment variables, "
                "~/.aws files / [s3] profile, SSO, or an instance/container role)")
    code = _error_code(err)
    if code:
        message = (getattr(err, "response", {}) or {}).get("Error", {}).get("Message", "")
        return f"{code}{': ' + message if message else ''}"
    return f"{name}: {err}"


class LocalStore:
    """A folder per bucket under ``root``: the offline stand-in for S3."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        meta_path = self.root / META_FILE
        try:
            self.meta: dict[str, dict[str, str]] = (
                json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {})
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"cannot read {meta_path}: {err}") from err

    def _path(self, bucket: str, key: str) -> Path:
        path = (self.root / bucket / key).resolve()
        if not str(path).startswith(str(self.root.resolve())):
            raise StoreError(f"s3://{bucket}/{key} leaves the local mirror")
        return path

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root / bucket
        if not base.is_dir():
            raise StoreError(f"cannot list s3://{bucket}/{prefix}: no folder {base} in the local mirror")
        keys = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.startswith("."):
                    continue
                key = Path(folder, name).relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            info = self.head(bucket, key)
            if info is not None:
                yield info

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        try:
            with open(self._path(bucket, key), "rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except OSError as err:
            raise StoreError(f"cannot read s3://{bucket}/{key}: {err.strerror}") from err

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        path = self._path(bucket, key)
        try:
            stat = path.stat()
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read s3://{bucket}/{key}: {err.strerror}") from err
        pinned = self.meta.get(f"{bucket}/{key}", {})
        modified = (datetime.fromisoformat(pinned["last_modified"]) if "last_modified" in pinned
                    else datetime.fromtimestamp(stat.st_mtime, UTC))
        return ObjectInfo(bucket, key, stat.st_size, _aware(modified), digest,
                          pinned.get("content_type") or self.last_content_type(bucket, key))

    def last_content_type(self, bucket: str, key: str) -> str | None:
        pinned = self.meta.get(f"{bucket}/{key}", {})
        if "content_type" in pinned:
            return pinned["content_type"]
        if key.endswith(".parquet"):
            return "application/vnd.apache.parquet"
        guessed, _ = mimetypes.guess_type(key, strict=False)
        return guessed or "binary/octet-stream"
