"""Stand-ins for what RDS/Aurora exports use, for a private test cluster.

- :data:`AWS_S3_DDL`: the ``aws_commons`` / ``aws_s3`` schemas with the same signatures as
  the RDS extension (``query_export_to_s3`` in both overloads, ``create_s3_uri``). The
  functions run the inner query, so a bad one fails like the real extension, but upload
  nothing.
- :func:`fake_aws_cli`: a directory holding an ``aws`` program that swallows its input,
  for ``COPY … TO PROGRAM 'aws s3 cp - s3://…'``. Put it on the server's PATH
  (``PrivateCluster(server_path=[...])``).

Used by scripts/generate_demo_postgres.py and the live-source tests.
"""

from __future__ import annotations

from pathlib import Path

AWS_S3_DDL = """
CREATE SCHEMA aws_commons;
CREATE SCHEMA aws_s3;
CREATE TYPE aws_commons._s3_uri_1 AS (bucket text, file_path text, region text);
-- VOLATILE plpgsql: an IMMUTABLE SQL function would be folded at plan time and show up
-- in pg_stat_statements as its own top-level entry.
CREATE FUNCTION aws_commons.create_s3_uri(s3_bucket text, s3_key text, aws_region text)
RETURNS aws_commons._s3_uri_1 LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN ROW(s3_bucket, s3_key, aws_region)::aws_commons._s3_uri_1;
END $$;
CREATE FUNCTION aws_s3.query_export_to_s3(
    query text, s3_info aws_commons._s3_uri_1, options text DEFAULT NULL,
    kms_key text DEFAULT NULL, OUT rows_uploaded bigint, OUT files_uploaded bigint,
    OUT bytes_uploaded bigint)
LANGUAGE plpgsql AS $$
BEGIN
  -- Run the inner query so that a bad one fails like the real extension does.
  EXECUTE 'SELECT count(*) FROM (' || query || ') q' INTO rows_uploaded;
  files_uploaded := 1;
  bytes_uploaded := rows_uploaded * 64;
END $$;
CREATE FUNCTION aws_s3.query_export_to_s3(
    query text, bucket text, file_path text, region text DEFAULT NULL,
    options text DEFAULT NULL, kms_key text DEFAULT NULL, OUT rows_uploaded bigint,
    OUT files_uploaded bigint, OUT bytes_uploaded bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT e.rows_uploaded, e.files_uploaded, e.bytes_uploaded
    INTO rows_uploaded, files_uploaded, bytes_uploaded
    FROM aws_s3.query_export_to_s3(query, aws_commons.create_s3_uri(bucket, file_path, region),
                                   options, kms_key) e;
END $$;
"""


def fake_aws_cli(directory: str | Path) -> Path:
    """Write ``<directory>/bin/aws`` (reads stdin, uploads nothing); returns the bin dir.

    ``directory`` is made world-traversable: the server runs as the ``postgres`` OS user.
    """
    bindir = Path(directory) / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    aws = bindir / "aws"
    aws.write_text("#!/bin/sh\ncat > /dev/null\n")
    aws.chmod(0o755)
    Path(directory).chmod(0o755)
    return bindir
