"""Format detection and schema reads from few bytes (no server needed)."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import orc

from s3lineage.discover.formats import (
    FormatGuess,
    RangedFile,
    guess_format,
    read_schema,
    sniff,
)


class Reads:
    """A range reader over bytes that records every request."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: int, length: int) -> bytes:
        self.calls.append((start, length))
        return self.data[start:start + length]

    @property
    def bytes_read(self) -> int:
        return sum(length for _, length in self.calls)


def schema_of(data: bytes, key: str):
    reads = Reads(data)
    guess = sniff(data[:65536], guess_format(key))
    return read_schema(reads, len(data), guess, data[:65536] if guess.format not in
                       ("parquet", "orc") else None), reads


@pytest.mark.parametrize(("key", "expected"), [
    ("a/users.csv", FormatGuess("csv")),
    ("a/users.tsv.gz", FormatGuess("tsv", "gzip")),
    ("a/data_0_0_0.csv.zst", FormatGuess("csv", "zstd")),
    ("a/part-0000.snappy.parquet", FormatGuess("parquet")),
    ("a/events.jsonl.bz2", FormatGuess("json", "bz2")),
    ("a/x.avro", FormatGuess("avro")),
    ("a/x.orc", FormatGuess("orc")),
    ("a/no_extension", FormatGuess(None)),
])
def test_guess_from_key(key, expected):
    assert guess_format(key) == expected


def test_magic_bytes_beat_extensions():
    assert sniff(b"PAR1\x15\x04", FormatGuess("csv")).format == "parquet"
    assert sniff(gzip.compress(b"a,b\n1,2\n"), FormatGuess(None)) == FormatGuess("csv", "gzip")
    assert sniff(b'{"a": 1}\n', FormatGuess(None)).format == "json"
    assert sniff(b"id,name\n", FormatGuess("parquet")).format == "csv"  # the name lied


def test_csv_header_and_headerless_files():
    schema, _ = schema_of(b"id,email,full_name\n1,a@x,A\n", "x.csv")
    assert schema.fields == ("id", "email", "full_name") and schema.header
    schema, _ = schema_of(b"1,svc,login,2025-01-15 01:54:00+00\n", "x.csv")
    assert schema.fields == ("$1", "$2", "$3", "$4") and not schema.header
    schema, _ = schema_of(b'"id";"name with ; semicolon"\n', "x.csv")
    assert schema.fields == ("id", "name with ; semicolon")
    schema, _ = schema_of(b"a\tb\tc\n1\t2\t3\n", "x.tsv")
    assert schema.fields == ("a", "b", "c")


def test_gzip_csv_header_is_read_from_the_head_only():
    body = ("id,amount\n" + "1,2.50\n" * 400_000).encode()
    schema, reads = schema_of(gzip.compress(body), "big.csv.gz")
    assert schema.fields == ("id", "amount")
    assert reads.bytes_read == 0  # the head passed in was enough


def test_zstd_csv_header_needs_whole_blocks():
    zstandard = pytest.importorskip("zstandard")
    import os

    body = ("x,y\n" + "".join(f"{i},{os.urandom(24).hex()}\n" for i in range(100_000))).encode()
    data = zstandard.ZstdCompressor().compress(body)
    schema, reads = schema_of(data, "big.csv.zst")
    assert schema.fields == ("x", "y")
    assert reads.bytes_read < 1024 * 1024 < len(data)


def test_json_lines_first_record():
    schema, _ = schema_of(b'{"id": 1, "payload": {"a": 2}}\n{"id": 2}\n', "e.jsonl")
    assert schema.fields == ("id", "payload")
    schema, _ = schema_of(b'[{"id": 1}]', "doc.json")
    assert schema.error and not schema.fields


def _parquet(rows: int) -> bytes:
    table = pa.table({"USER_ID": pa.array(range(rows)), "COUNTRY": pa.array(["DE"] * rows)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=50_000)
    return buffer.getvalue()


def test_parquet_footer_from_the_tail_only():
    data = _parquet(1_000_000)
    assert len(data) > 1_000_000
    schema, reads = schema_of(data, "reports/data_0_0_0.snappy.parquet")
    assert schema.fields == ("USER_ID", "COUNTRY") and schema.rows == 1_000_000
    assert reads.bytes_read <= 2 * 65536 and all(start > 0 for start, _ in reads.calls)


def test_orc_schema_from_the_tail():
    table = pa.table({"a": pa.array(range(1000)), "b": pa.array(["x"] * 1000)})
    buffer = io.BytesIO()
    orc.write_table(table, buffer)
    schema, _ = schema_of(buffer.getvalue(), "x.orc")
    assert schema.fields == ("a", "b") and schema.rows == 1000


def _avro_long(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _avro_str(data: bytes) -> bytes:
    return _avro_long(len(data)) + data


def test_avro_header_schema():
    schema_json = json.dumps({"type": "record", "name": "fx", "fields": [
        {"name": "currency", "type": "string"}, {"name": "rate", "type": "double"}]}).encode()
    header = (b"Obj\x01" + _avro_long(2) + _avro_str(b"avro.schema") + _avro_str(schema_json)
              + _avro_str(b"avro.codec") + _avro_str(b"null") + _avro_long(0) + b"\x00" * 16)
    schema, _ = schema_of(header + b"\x02\x00", "fx.avro")
    assert schema.fields == ("currency", "rate")


def test_broken_files_are_findings_not_crashes():
    schema, _ = schema_of(b"PAR1 not really", "x.parquet")
    assert schema.error and not schema.fields
    schema, _ = schema_of(b"\x1f\x8b\x08garbage", "x.csv.gz")
    assert schema.error or schema.fields == ()
    schema, _ = schema_of(b"", "empty.csv")
    assert schema.error == "empty object"


def test_ranged_file_serves_reads_from_cached_segments():
    reads = Reads(bytes(range(256)) * 1024)
    ranged = RangedFile(reads, len(reads.data))
    ranged.prefetch_tail(1000)
    ranged.seek(-10, io.SEEK_END)
    assert ranged.read(10) == reads.data[-10:]
    assert len(reads.calls) == 1
    ranged.seek(5)
    assert ranged.read(3) == reads.data[5:8]
