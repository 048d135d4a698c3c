"""File formats and their schemas, read from as few bytes as possible.

:func:`guess_format` names the format and compression from the key (``.csv.gz``,
``.snappy.parquet``, ``data_0_0_0.csv.zst``…) and :func:`sniff` corrects it from the
first bytes (Parquet ``PAR1``, Avro ``Obj\\x01``, ORC ``ORC``, gzip, zstd, bzip2 magic).
:func:`read_schema` then reads the fields with ranged reads:

- CSV/TSV and JSON lines: the head of the object (decompressed incrementally for gzip and
  zstd) up to the first complete line; a CSV whose first line looks like data (numbers,
  dates, empty cells) has positional fields ``$1…$n``;
- Parquet and ORC: pyarrow reads the footer through :class:`RangedFile`, which fetches
  only the byte ranges pyarrow asks for (the tail); Parquet also gives the row count;
- Avro: the container header's ``avro.schema``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

RangeReader = Callable[[int, int], bytes]
"""``read(start, length)`` → the object's bytes ``[start, start + length)``."""

HEAD_BYTES = 64 * 1024
MAX_HEAD_BYTES = 1024 * 1024  # a header line longer than this is not read
SCHEMA_FORMATS = ("csv", "tsv", "json", "parquet", "avro", "orc")

_COMPRESSION_EXT = {"gz": "gzip", "gzip": "gzip", "bz2": "bz2", "zst": "zstd", "zstd": "zstd",
                    "snappy": "snappy", "sz": "snappy", "deflate": "deflate", "lz4": "lz4",
                    "br": "brotli"}
_FORMAT_EXT = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "txt": "csv", "json": "json",
               "jsonl": "json", "ndjson": "json", "parquet": "parquet", "pq": "parquet",
               "avro": "avro", "orc": "orc"}
_SQL_FORMATS = {"csv": "csv", "text": "csv", "tsv": "tsv", "json": "json", "parquet": "parquet",
                "avro": "avro", "orc": "orc", "xml": "xml"}
_DATA_CELL = re.compile(
    r"^(?:[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?|\d{4}-\d{2}-\d{2}.*|\d{1,2}/\d{1,2}/\d{2,4}.*"
    r"|true|false|null|t|f)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FormatGuess:
    """What an object holds: ``format`` (csv, tsv, json, parquet, avro, orc or None) and
    ``compression`` of the whole file (gzip, zstd, bz2, snappy…; None when plain or when
    the format compresses internally, as Parquet/ORC/Avro do)."""

    format: str | None
    compression: str | None = None


@dataclass(frozen=True, slots=True)
class FileSchema:
    """The fields an object holds, as read from it."""

    fields: tuple[str, ...]
    header: bool = True  # False: fields are positional ($1…), the file has no header line
    rows: int | None = None  # from the footer (Parquet/ORC) when the format records it
    error: str | None = None  # why the schema could not be read (fields is then empty)


def guess_format(key: str, hint: str | None = None) -> FormatGuess:
    """Format and compression from the key's extensions (``hint``: the SQL's FILE_FORMAT).

    >>> guess_format("reports/data_0_0_0.snappy.parquet")
    FormatGuess(format='parquet', compression=None)
    >>> guess_format("exports/x.csv.gz")
    FormatGuess(format='csv', compression='gzip')
    >>> guess_format("vendor/fx/fx_2025-01-15", hint="csv")
    FormatGuess(format='csv', compression=None)
    """
    name = key.rsplit("/", 1)[-1].lower()
    parts = name.split(".")[1:]
    fmt: str | None = None
    compression: str | None = None
    for part in reversed(parts):
        if part in _COMPRESSION_EXT and compression is None and fmt is None:
            compression = _COMPRESSION_EXT[part]
        elif part in _FORMAT_EXT and fmt is None:
            fmt = _FORMAT_EXT[part]
        elif part in _COMPRESSION_EXT and fmt is not None:
            continue  # data.snappy.parquet: the codec inside the format
    if fmt is None and hint:
        fmt = _SQL_FORMATS.get(hint.lower())
    if fmt in ("parquet", "orc", "avro"):
        compression = None  # compressed inside the file
    return FormatGuess(fmt, compression)


def sniff(head: bytes, guess: FormatGuess) -> FormatGuess:
    """Correct a guess from the object's first bytes (magic numbers beat extensions)."""
    if head.startswith(b"PAR1"):
        return FormatGuess("parquet")
    if head.startswith(b"Obj\x01"):
        return FormatGuess("avro")
    if head.startswith(b"ORC"):
        return FormatGuess("orc")
    if head.startswith(b"\x1f\x8b"):
        return FormatGuess(guess.format or _text_kind(_gunzip(head)), "gzip")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return FormatGuess(guess.format, "zstd")
    if head.startswith(b"BZh"):
        return FormatGuess(guess.format, "bz2")
    if guess.format in ("parquet", "orc", "avro") and head:
        return FormatGuess(_text_kind(head), guess.compression)  # extension lied
    if guess.format is None and guess.compression is None and head:
        return FormatGuess(_text_kind(head))
    return guess


def _text_kind(head: bytes) -> str | None:
    stripped = head.lstrip()
    if not stripped:
        return None
    if stripped[:1] in (b"{", b"["):
        return "json"
    try:
        stripped[:4096].decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < 4090:
            return None  # binary we do not know
    return "csv"


def _gunzip(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
    except zlib.error:
        return b""


def read_schema(read: RangeReader, size: int, guess: FormatGuess,
                head: bytes | None = None) -> FileSchema:
    """The fields of an object of ``size`` bytes; ``head`` (its first bytes) saves a read."""
    try:
        if size == 0:
            return FileSchema((), error="empty object")
        if guess.format in ("parquet", "orc"):
            return _columnar_schema(read, size, guess.format)
        if guess.format == "avro":
            return _avro_schema(head if head is not None else read(0, min(size, HEAD_BYTES)), read,
                                size)
        if guess.format in ("csv", "tsv", "json"):
            text = _first_lines(read, size, guess.compression, head)
            if text is None:
                return FileSchema((), error=f"no decoder for {guess.compression} here")
            return _json_schema(text) if guess.format == "json" else _csv_schema(text, guess.format)
        return FileSchema((), error=f"format {guess.format or 'unknown'} has no schema to read")
    except SchemaError as err:
        return FileSchema((), error=str(err))
    except Exception as err:  # noqa: BLE001 — a file we cannot read is a finding, not a crash
        return FileSchema((), error=f"{type(err).__name__}: {err}")


class SchemaError(ValueError):
    """The bytes are not what the format says."""


# --- text formats ----------------------------------------------------------------------------


def _decompressor(compression: str | None):
    if compression is None:
        return None
    if compression == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if compression == "deflate":
        return zlib.decompressobj()
    if compression == "bz2":
        import bz2

        return bz2.BZ2Decompressor()
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            return False
        return zstandard.ZstdDecompressor().decompressobj()
    return False


def _first_lines(read: RangeReader, size: int, compression: str | None,
                 head: bytes | None) -> str | None:
    """Decoded text from the start of the object up to (and including) its first full
    line, reading 64 KiB, then 128 KiB, … until a newline appears (or 1 MiB was read)."""
    decoder = _decompressor(compression)
    if decoder is False:
        return None
    text = b""
    offset = 0
    step = HEAD_BYTES
    while offset < size and offset < MAX_HEAD_BYTES:
        if offset == 0 and head is not None:
            chunk = head
        else:
            chunk = read(offset, min(step, size - offset))
        if not chunk:
            break
        offset += len(chunk)
        step *= 2
        text += decoder.decompress(chunk) if decoder is not None else chunk
        if b"\n" in text.lstrip(b"\r\n\t "):
            break
    return text.decode("utf-8-sig", errors="replace")


def _csv_schema(text: str, fmt: str) -> FileSchema:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SchemaError("no line to read")
    first = lines[0]
    delimiter = "\t" if fmt == "tsv" or first.count("\t") > first.count(",") else ","
    if delimiter == "," and first.count(";") > first.count(",") and first.count(";"):
        delimiter = ";"
    if delimiter == "," and first.count("|") > first.count(",") and first.count("|"):
        delimiter = "|"
    cells = next(csv.reader([first], delimiter=delimiter))
    names = [c.strip() for c in cells]
    is_header = (
        all(names)
        and len({n.lower() for n in names}) == len(names)
        and not any(_DATA_CELL.match(n) for n in names)
        and all(len(n) <= 256 for n in names)
    )
    if is_header:
        return FileSchema(tuple(names))
    return FileSchema(tuple(f"${i}" for i in range(1, len(names) + 1)), header=False)


def _json_schema(text: str) -> FileSchema:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if line.startswith("["):
        raise SchemaError("a JSON array document, not JSON lines: fields not read")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise SchemaError(f"first JSON record does not parse: {err.msg}") from err
    if not isinstance(record, dict):
        raise SchemaError("first JSON record is not an object")
    return FileSchema(tuple(record))


# --- Avro ------------------------------------------------------------------------------------


def _avro_schema(head: bytes, read: RangeReader, size: int) -> FileSchema:
    """The record fields of an Avro object container's ``avro.schema`` header entry."""
    if not head.startswith(b"Obj\x01"):
        raise SchemaError("not an Avro object container (no Obj\\x01 magic)")
    data = head
    if len(data) < size and len(data) < MAX_HEAD_BYTES:
        data = read(0, min(size, MAX_HEAD_BYTES))  # headers are small; be generous once
    buf = io.BytesIO(data[4:])
    meta: dict[str, bytes] = {}
    while True:
        count = _avro_long(buf)
        if count == 0:
            break
        if count < 0:
            count = -count
            _avro_long(buf)  # block size in bytes
        for _ in range(count):
            key = _avro_bytes(buf).decode("utf-8", errors="replace")
            meta[key] = _avro_bytes(buf)
    if "avro.schema" not in meta:
        raise SchemaError("Avro header has no avro.schema")
    schema = json.loads(meta["avro.schema"])
    if isinstance(schema, dict) and schema.get("type") == "record":
        return FileSchema(tuple(f["name"] for f in schema.get("fields", [])))
    raise SchemaError("Avro schema is not a record")


def _avro_long(buf: io.BytesIO) -> int:
    shift = result = 0
    while True:
        byte = buf.read(1)
        if not byte:
            raise SchemaError("Avro header is truncated")
        value = byte[0]
        result |= (value & 0x7F) << shift
        if not value & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1)


def _avro_bytes(buf: io.BytesIO) -> bytes:
    length = _avro_long(buf)
    data = buf.read(length)
    if len(data) != length:
        raise SchemaError("Avro header is truncated")
    return data


# --- Parquet and ORC via pyarrow, reading only what it asks for --------------------------------


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over ranged reads, for pyarrow's footer readers.

    Each read that misses the cached segments fetches at least 64 KiB from where it
    starts; :meth:`prefetch_tail` fetches the end of the object in one request, so reading
    a Parquet or ORC footer usually costs a single request however large the object is.
    """

    MIN_FETCH = HEAD_BYTES

    def __init__(self, read: RangeReader, size: int) -> None:
        super().__init__()
        self._read = read
        self._size = size
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self) -> int:
        return self._size

    def prefetch_tail(self, length: int = HEAD_BYTES) -> bytes:
        start = max(0, self._size - length)
        return self._fetch(start, self._size - start)

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self._size - self._pos))
        done = 0
        while done < wanted:
            piece = self._cached(self._pos, wanted - done)
            if not piece:
                self._fetch(self._pos, max(wanted - done, min(self.MIN_FETCH, self._size - self._pos)))
                piece = self._cached(self._pos, wanted - done)
                if not piece:
                    break
            view[done:done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def _cached(self, pos: int, length: int) -> bytes:
        for start, data in self._segments:
            if start <= pos < start + len(data):
                return data[pos - start:pos - start + length]
        return b""

    def _fetch(self, start: int, length: int) -> bytes:
        data = self._read(start, length)
        self.requests += 1
        if len(self._segments) >= 16:
            self._segments.pop(0)
        self._segments.append((start, data))
        return data


def _columnar_schema(read: RangeReader, size: int, fmt: str) -> FileSchema:
    source = RangedFile(read, size)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if size < 12:
            raise SchemaError("too small to be Parquet")
        if not source.prefetch_tail().endswith(b"PAR1"):
            raise SchemaError("no Parquet footer (PAR1) at the end of the object")
        parquet = pq.ParquetFile(source)
        return FileSchema(tuple(parquet.schema_arrow.names), rows=parquet.metadata.num_rows)
    from pyarrow import orc

    source.prefetch_tail()
    orc_file = orc.ORCFile(source)
    return FileSchema(tuple(orc_file.schema.names), rows=orc_file.nrows)
