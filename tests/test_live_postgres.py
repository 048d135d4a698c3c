"""PostgresLiveSource against one private PostgreSQL 15 cluster (pgss + csvlog).

The module starts the cluster once; tests run in file order and each reads only what it
ran itself (its own cursor), so they do not depend on each other's statements.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lineage.collect import CollectReport
from s3lineage.collect.live import SourceError
from s3lineage.collect.live_postgres import PostgresLiveSource
from s3lineage.config import SourceConfig
from s3lineage.model import Dialect, QueryEvent
from s3lineage.resolve.resolver import Resolver
from s3lineage.resolve.schema import Catalog
from s3lineage.testing.aws_s3_standins import AWS_S3_DDL, fake_aws_cli
from s3lineage.testing.pgcluster import PrivateCluster

psycopg = pytest.importorskip("psycopg")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PrivateCluster.available(),
                       reason="PostgreSQL 15 server binaries not installed"),
]

SETTINGS: dict[str, str | int | bool] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "logging_collector": True,
    "log_destination": "csvlog",
    "log_directory": "log",
    "log_filename": "postgresql",  # → log/postgresql.csv
    "log_min_duration_statement": 0,
    "log_parameter_max_length": -1,
    "log_checkpoints": False,
}
TABLES = """
CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL, country text);
CREATE TABLE public.orders (id bigint PRIMARY KEY, user_id bigint, total numeric(12,2));
INSERT INTO public.users SELECT i, 'u' || i || '@example.com', 'DE' FROM generate_series(1, 9) i;
INSERT INTO public.orders SELECT i, 1 + i % 9, i * 1.5 FROM generate_series(1, 20) i;
"""
PASSWORD = "Right-Horse-Battery-1"
WRONG_PASSWORD = "Wrong-Staple-Secret-2"


def users_export(key: str) -> str:
    return ("SELECT * FROM aws_s3.query_export_to_s3('SELECT id, email FROM public.users', "
            f"aws_commons.create_s3_uri('live-bucket', '{key}', 'us-east-1'), "
            "options := 'format csv, header true')")


def orders_copy(part: str) -> str:
    return ("COPY (SELECT id, user_id, total FROM public.orders) TO PROGRAM "
            f"'aws s3 cp - s3://live-bucket/orders/{part}.csv' WITH (FORMAT csv)")


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivateCluster]:
    with tempfile.TemporaryDirectory() as tmp, PrivateCluster(
            settings=SETTINGS, server_path=[fake_aws_cli(tmp)]) as cluster:
        _setup(cluster)
        yield cluster


def _setup(pg: PrivateCluster) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE appdb")
        conn.execute("CREATE DATABASE noext")
        conn.execute("CREATE ROLE lowpriv LOGIN")
        conn.execute(f"CREATE ROLE pwuser LOGIN PASSWORD '{PASSWORD}'")
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute(AWS_S3_DDL)
        conn.execute(TABLES)
    hba = pg.data_dir / "pg_hba.conf"  # pwuser must give a password over TCP
    hba.write_text(f"host all pwuser 127.0.0.1/32 scram-sha-256\n{hba.read_text()}")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


def source(pg: PrivateCluster, *, logs: bool = True, dsn: str | None = None,
           name: str = "pg-live", log_files: tuple[Path, ...] | None = None) -> PostgresLiveSource:
    files = {"log_files": log_files if log_files is not None else (pg.log_dir / "postgresql.csv",)}
    config = SourceConfig(kind=Dialect.POSTGRES, name=name,
                          namespace=f"postgres://127.0.0.1:{pg.port}",
                          files=files if logs else {}, database="appdb",
                          settings={"dsn": dsn or pg.dsn_for("appdb"), "connect_timeout": 3})
    return PostgresLiveSource(config, CollectReport())


def run(pg: PrivateCluster, *statements: str) -> None:
    """Run statements in one session, then wait until the log shows the last one."""
    marker = f"-- run {time.monotonic_ns()}"
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"SELECT 1 {marker}")
    log = pg.log_dir / "postgresql.csv"
    deadline = time.monotonic() + 10
    while marker not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "statements never reached the log"
        time.sleep(0.02)


def read(src: PostgresLiveSource, cursor: dict[str, Any]) -> list[QueryEvent]:
    events = list(src.events(cursor))
    json.dumps(cursor)  # the state store keeps it as JSON
    return [e for e in events if not e.text.startswith("SELECT 1 -- run ")]


def texts(events: list[QueryEvent]) -> list[str]:
    return [e.text for e in events]


def s3_outputs(events: list[QueryEvent], catalog: Catalog) -> set[str]:
    resolver = Resolver()
    return {out.display for e in events for out in resolver.resolve_event(e, catalog).outputs
            if out.display.startswith("s3://")}


# ---------------------------------------------------------------------- catalog


def test_catalog_has_tables_with_ordinal_positions(pg: PrivateCluster) -> None:
    catalog = Catalog()
    with source(pg) as src:
        src.load_catalog(catalog)
    assert catalog.columns(("appdb", "public", "users")) == ("id", "email", "country")
    assert catalog.columns(("appdb", "public", "orders")) == ("id", "user_id", "total")
    assert not [t for t in catalog.tables() if t[1] in ("pg_catalog", "information_schema")]


# ---------------------------------------------------------------------- logs + pgss


def test_logs_and_pgss_incrementally(pg: PrivateCluster) -> None:
    catalog = Catalog()
    cursor: dict[str, Any] = {}
    with source(pg) as src:
        src.load_catalog(catalog)
        read(src, cursor)  # everything so far (setup): the baseline
        run(pg, users_export("users/a.csv"), users_export("users/a.csv"), orders_copy("p0"))

        first = read(src, cursor)
        assert texts(first) == [users_export("users/a.csv")] * 2 + [orders_copy("p0")]
        assert s3_outputs(first, catalog) == {"s3://live-bucket/users/a.csv",
                                              "s3://live-bucket/orders/p0.csv"}
        assert all(e.source == "postgres:postgresql.csv" and e.calls == 1 for e in first)
        assert all(e.user == "postgres" and e.default_database == "appdb" for e in first)
        # pgss has them too (the export normalized), but the log gave them with literals
        assert src.report.counts["pgss_rows_in_logs"] >= 2

        assert read(src, cursor) == []  # nothing ran: no log lines, no pgss growth

        run(pg, users_export("users/b.csv"), orders_copy("p0"))
        second = read(src, cursor)
        assert texts(second) == [users_export("users/b.csv"), orders_copy("p0")]
        assert s3_outputs(second, catalog) == {"s3://live-bucket/users/b.csv",
                                               "s3://live-bucket/orders/p0.csv"}
        assert read(src, cursor) == []


def test_a_run_that_dies_before_commit_is_read_again_exactly(pg: PrivateCluster) -> None:
    cursor: dict[str, Any] = {}
    with source(pg) as src:
        read(src, cursor)
        run(pg, users_export("users/c.csv"), orders_copy("p1"))
        saved = copy.deepcopy(cursor)  # the state store's copy: this run never commits

        def seen(events: list[QueryEvent]) -> list[tuple[Any, ...]]:
            return [(e.text, e.location, e.query_id, e.calls, e.time) for e in events]

        lost = read(src, cursor)
        again = read(src, saved)
        assert seen(again) == seen(lost)
        assert texts(again) == [users_export("users/c.csv"), orders_copy("p1")]
        assert read(src, saved) == []  # saved after the retry: nothing twice


# ---------------------------------------------------------------------- pgss alone


def test_pgss_calls_are_deltas(pg: PrivateCluster) -> None:
    cursor: dict[str, Any] = {}
    copy_p2 = orders_copy("p2")
    with source(pg, logs=False) as src:
        read(src, cursor)
        run(pg, copy_p2, copy_p2, copy_p2, users_export("users/d.csv"))
        first = read(src, cursor)
        assert [(e.text, e.calls) for e in first if e.text.startswith("COPY")] == [(copy_p2, 3)]
        assert first[0].source == "postgres-live:pg-live" and first[0].time is not None
        # the export's literals became $n: a diagnostic points at the logs instead
        assert not [e for e in first if "query_export_to_s3" in e.text]
        assert any(d.code == "normalized_parameters" for d in src.report.diagnostics)

        assert [e for e in read(src, cursor) if e.text == copy_p2] == []
        run(pg, copy_p2, copy_p2)
        assert [(e.text, e.calls) for e in read(src, cursor)
                if e.text.startswith("COPY")] == [(copy_p2, 2)]

        run(pg, "SELECT pg_stat_statements_reset()", copy_p2)
        after_reset = read(src, cursor)
        assert [(e.text, e.calls) for e in after_reset if e.text.startswith("COPY")] == [
            (copy_p2, 1)]
        assert src.report.counts["pgss_resets"] == 1


# ---------------------------------------------------------------------- log files


def test_truncated_or_reused_log_is_read_from_the_start(pg: PrivateCluster,
                                                         tmp_path: Path) -> None:
    log = tmp_path / "reused.csv"
    real = (pg.log_dir / "postgresql.csv").read_bytes()
    log.write_bytes(real)
    cursor: dict[str, Any] = {}
    with source(pg, log_files=(log,)) as src:
        whole = len(read(src, cursor))
        assert whole and cursor["logs"][0]["offset"] == len(real)
        # log_truncate_on_rotation: same inode, refilled past the old offset by new rows
        second_row = real.index(b"\n20", 1) + 1
        log.write_bytes(real[second_row:] + real)
        assert len(read(src, cursor)) >= whole
        log.write_bytes(real[:100])  # shorter than the offset: truncated
        read(src, cursor)
        assert cursor["logs"][0]["offset"] == 0
        assert src.report.counts["log_files_rotated"] == 2


def test_vanished_log_is_a_diagnostic(pg: PrivateCluster, tmp_path: Path) -> None:
    with source(pg, log_files=(tmp_path / "gone.csv",)) as src:
        list(src.events({}))
        assert [d.code for d in src.report.diagnostics] == ["missing_file"]


# ---------------------------------------------------------------------- errors


def _error(src: PostgresLiveSource, action: str = "events") -> SourceError:
    with src, pytest.raises(SourceError) as info:
        if action == "events":
            list(src.events({}))
        else:
            src.load_catalog(Catalog())
    err = info.value
    message = str(err)
    assert err.source == "pg-live" and message.startswith("source 'pg-live': ")
    assert "Fix: " in message and err.fix in message
    assert PASSWORD not in message and WRONG_PASSWORD not in message
    # no chained traceback (it could show the DSN): raised `from None` or outside `except`
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_error_unreachable(pg: PrivateCluster) -> None:
    dsn = f"postgresql://postgres:{WRONG_PASSWORD}@127.0.0.1:{_free_port()}/appdb"
    err = _error(source(pg, dsn=dsn), "catalog")
    assert "refused" in err.problem and "listen_addresses" in err.fix


def test_error_wrong_password(pg: PrivateCluster) -> None:
    dsn = f"postgresql://pwuser:{WRONG_PASSWORD}@127.0.0.1:{pg.port}/appdb"
    err = _error(source(pg, dsn=dsn))
    assert "password authentication failed" in err.problem
    assert "PGPASSWORD" in err.fix and "pg_hba.conf" in err.fix
    # the right password from PGPASSWORD works (libpq reads it, we never see it)
    os.environ["PGPASSWORD"] = PASSWORD
    try:
        with source(pg, dsn=f"postgresql://pwuser@127.0.0.1:{pg.port}/appdb") as src:
            src.load_catalog(Catalog())
    finally:
        del os.environ["PGPASSWORD"]


def test_error_unknown_role(pg: PrivateCluster) -> None:
    err = _error(source(pg, dsn=f"postgresql://nobody@127.0.0.1:{pg.port}/appdb"))
    assert 'role "nobody" does not exist' in err.problem and "pg_hba.conf" in err.fix


def test_error_extension_missing(pg: PrivateCluster) -> None:
    err = _error(source(pg, logs=False, dsn=pg.dsn_for("noext")))
    assert "not installed in database 'noext'" in err.problem
    assert "shared_preload_libraries" in err.fix and "CREATE EXTENSION pg_stat_statements" in err.fix


def test_error_extension_not_preloaded(pg: PrivateCluster) -> None:
    # One cluster preloads it; the server's error for a cluster that does not is this:
    src = source(pg)
    err = src._query_error(psycopg.errors.ObjectNotInPrerequisiteState(
        "pg_stat_statements must be loaded via shared_preload_libraries"))
    assert "not loaded" in err.problem and "shared_preload_libraries" in err.fix
    assert "pg-live" in str(err)


def test_error_without_pg_read_all_stats(pg: PrivateCluster) -> None:
    err = _error(source(pg, dsn=f"postgresql://lowpriv@127.0.0.1:{pg.port}/appdb"))
    assert "<insufficient privilege>" in err.problem
    assert 'GRANT pg_read_all_stats TO "lowpriv"' in err.fix


def test_error_log_unreadable(pg: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    log = pg.log_dir / "postgresql.csv"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == log
                        else real_access(p, mode))
    err = _error(source(pg))
    assert str(log) in err.problem and "log_files" in err.fix
