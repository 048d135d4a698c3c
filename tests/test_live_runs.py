"""Scheduled runs against a live private PostgreSQL 15 cluster (pg_stat_statements and
csvlog): exports appear as edges, later runs read only what is new, a crash between
reading and committing loses and doubles nothing, and source errors are one clear line."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from s3lineage.cli import main
from s3lineage.runner import run
from s3lineage.testing.aws_s3_standins import AWS_S3_DDL, fake_aws_cli
from s3lineage.testing.pgcluster import PrivateCluster

psycopg = pytest.importorskip("psycopg")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PrivateCluster.available(), reason="PostgreSQL 15 server binaries not installed"),
]

SETTINGS: dict[str, str | int | bool] = {
    "shared_preload_libraries": "pg_stat_statements",
    "logging_collector": True,
    "log_destination": "csvlog",
    "log_directory": "log",
    "log_filename": "postgresql",
    "log_min_duration_statement": 0,
    "log_parameter_max_length": -1,
}


def export(key: str) -> str:
    return ("SELECT * FROM aws_s3.query_export_to_s3('SELECT id, email FROM public.users', "
            f"aws_commons.create_s3_uri('live-lake', '{key}', 'us-east-1'), options := 'format csv')")


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivateCluster]:
    with tempfile.TemporaryDirectory() as tmp, PrivateCluster(
            settings=SETTINGS, server_path=[fake_aws_cli(tmp)]) as cluster:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE appdb")
        with psycopg.connect(cluster.dsn_for("appdb"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute(AWS_S3_DDL)
            conn.execute("CREATE TABLE users (id bigint, email text); INSERT INTO users VALUES (1, 'a@x')")
        yield cluster


def execute(pg: PrivateCluster, *statements: str) -> None:
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def config(pg, tmp_path):
    path = tmp_path / "lineage.toml"
    path.write_text(
        '[[sources]]\nkind = "postgres"\nname = "pg-live"\nnamespace = "postgres://pg.test:5432"\n'
        f'dsn = "{pg.dsn_for("appdb")}"\nlog_files = ["{pg.log_dir}/postgresql.csv"]\n'
        '[state]\npath = "state.db"\n')
    return path


def exports_of(report) -> dict[str, int]:
    return {e.target: e.evidence.run_count for e in report.result.graph.edges() if e.kind == "export"}


def test_live_exports_become_edges_and_later_runs_read_only_new_ones(pg, config):
    execute(pg, export("a/2025-01-01/users.csv"))
    first = run(config)
    assert exports_of(first) == {"s3://live-lake/a/{date}/users.csv": 1}
    edge = next(e for e in first.result.graph.edges() if e.kind == "export")
    assert sorted(edge.columns) == ["email", "id"]

    quiet = run(config)
    assert quiet.stats["statements"] == 0 and not quiet.new_edges and not quiet.changed_edges

    execute(pg, export("a/2025-01-02/users.csv"), export("b/users.csv"))
    third = run(config)
    assert third.stats["lineage_statements"] == 2
    assert exports_of(third) == {"s3://live-lake/a/{date}/users.csv": 2, "s3://live-lake/b/users.csv": 1}


def test_a_crash_before_commit_loses_and_doubles_nothing(pg, config):
    execute(pg, export("c/users_1.csv"))
    baseline = run(config)
    execute(pg, export("c/users_2.csv"))

    def crash():
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError):
        run(config, before_commit=crash)
    recovered = run(config)
    counts = exports_of(recovered)
    assert counts["s3://live-lake/c/users_{n}.csv"] == exports_of(baseline)["s3://live-lake/c/users_{n}.csv"] + 1
    assert run(config).stats["lineage_statements"] == 0  # and nothing comes back a third time


def test_unreachable_server_is_one_clear_line_exit_2(tmp_path, capsys):
    path = tmp_path / "lineage.toml"
    path.write_text('[[sources]]\nkind = "postgres"\nname = "pg-down"\nnamespace = "postgres://x:1"\n'
                    'dsn = "postgresql://someone:s3cret-pw@127.0.0.1:1/appdb"\n')
    assert main(["infer", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "pg-down" in err and "Fix:" in err and "Traceback" not in err and "s3cret-pw" not in err
    assert len(err.strip().splitlines()) == 1
