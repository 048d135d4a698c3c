"""Pipeline properties: each distinct statement is resolved once; every log format gives the
same Postgres lineage; stage definitions apply by time."""

from __future__ import annotations

import pytest

from s3lineage.config import load_config
from s3lineage.pipeline import infer
from s3lineage.resolve.resolver import Resolver

from .conftest import FIXTURES

HEADER = "QUERY_ID,QUERY_TEXT,DATABASE_NAME,SCHEMA_NAME,EXECUTION_STATUS,START_TIME,USER_NAME\n"


def _config(tmp_path, rows, stages="name,database_name,schema_name,url\nSTG,RAW,PUBLIC,s3://lake/v1/\n"):
    (tmp_path / "qh.csv").write_text(HEADER + "".join(rows))
    (tmp_path / "stages.csv").write_text(stages)
    (tmp_path / "lineage.toml").write_text(
        '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
        'query_history_file = "qh.csv"\nstages_file = "stages.csv"\n')
    return load_config(tmp_path / "lineage.toml")


def test_a_statement_repeated_is_resolved_once(tmp_path):
    rows = [f'q{i},"COPY INTO T FROM @STG/in/  FILE_FORMAT=(TYPE=CSV)",RAW,PUBLIC,SUCCESS,'
            f"2025-01-15 01:{i // 60:02d}:{i % 60:02d},LOADER\n" for i in range(1000)]
    resolver = Resolver()
    result = infer(_config(tmp_path, rows), resolver=resolver)
    assert resolver.cache_misses == 1 and resolver.cache_hits == 999
    assert result.stats["unique_fingerprints"] == 1
    (edge,) = result.graph.edges()
    assert edge.evidence.run_count == 1000 and len(edge.evidence.query_ids) == 20


def test_the_stage_definition_in_force_when_the_statement_ran_applies(tmp_path):
    rows = [
        'a,"COPY INTO T FROM @STG/in/",RAW,PUBLIC,SUCCESS,2025-01-10 00:00:00,L\n',
        'b,"CREATE OR REPLACE STAGE STG URL=\'s3://lake/v2/\'",RAW,PUBLIC,SUCCESS,2025-01-12 00:00:00,L\n',
        'c,"COPY INTO T FROM @STG/in/",RAW,PUBLIC,SUCCESS,2025-01-14 00:00:00,L\n',
        'd,"CREATE OR REPLACE STAGE STG URL=\'s3://lake/v3/\'",RAW,PUBLIC,SUCCESS,2025-01-13 00:00:00,L\n',
    ]
    # SHOW STAGES (now) says v3; the 01-10 run used the definition before any CREATE seen;
    # the 01-14 run used the latest definition at its time (v3, created 01-13).
    result = infer(_config(tmp_path, rows, stages="name,database_name,schema_name,url\n"
                                                  "STG,RAW,PUBLIC,s3://lake/v3/\n"))
    sources = {e.source for e in result.graph.edges()}
    assert sources == {"s3://lake/v3/in/"}
    rows[0] = 'a,"COPY INTO T FROM @STG/in/",RAW,PUBLIC,SUCCESS,2025-01-12 12:00:00,L\n'
    result = infer(_config(tmp_path, rows))
    by_source = {e.source: e.evidence.run_count for e in result.graph.edges()}
    assert by_source == {"s3://lake/v2/in/": 1, "s3://lake/v3/in/": 1}


@pytest.mark.parametrize("log_file", ["postgresql.csv", "postgresql.json", "postgresql.log"])
def test_every_log_format_gives_the_same_postgres_lineage(tmp_path, log_file):
    demo = FIXTURES / "demo" / "postgres"
    (tmp_path / "lineage.toml").write_text(
        '[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg.demo.internal:5432"\n'
        f'database = "appdb"\nlog_files = ["{demo / log_file}"]\n'
        'log_line_prefix = "%m [%p] %q%u@%d %a "\n'
        f'columns_file = "{demo / "pg_columns.csv"}"\n')
    result = infer(load_config(tmp_path / "lineage.toml"))
    exports = {(e.source.rsplit(".", 1)[-1], e.target.removeprefix("s3://fintech-lake/exports/"))
               for e in result.graph.edges() if e.kind == "export"}
    assert exports == {
        ("users", "users/dt={dt}/users.csv"),
        ("accounts", "accounts/accounts_{date}.csv"),
        ("transactions", "transactions/{date_path}/part-{n}.csv"),
        ("merchants", "merchants/merchants.csv"),
        ("transactions", "daily_balances/daily_balances_{date}.csv"),
        ("audit_log", "audit_log/audit_log.csv"),
    }
    assert all(e.columns for e in result.graph.edges())
    assert result.stats["failed_statements"] == 1


def test_temp_tables_are_inlined_per_session(tmp_path):
    log = tmp_path / "pg.log"
    log.write_text(
        "2025-01-15 00:00:01.000 UTC [7] app@appdb psql LOG:  duration: 1.0 ms  statement: "
        "CREATE TEMP TABLE de_users AS SELECT id, email FROM users WHERE country = 'DE'\n"
        "2025-01-15 00:00:01.500 UTC [8] app@appdb psql LOG:  duration: 1.0 ms  statement: "
        "CREATE TEMP TABLE de_users AS SELECT id FROM accounts\n"
        "2025-01-15 00:00:02.000 UTC [7] app@appdb psql LOG:  duration: 1.0 ms  statement: "
        "COPY de_users TO PROGRAM 'aws s3 cp - s3://lake/de/users.csv' WITH (FORMAT csv)\n")
    (tmp_path / "lineage.toml").write_text(
        '[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg:5432"\ndatabase = "appdb"\n'
        'log_files = ["pg.log"]\nlog_line_prefix = "%m [%p] %q%u@%d %a "\n')
    result = infer(load_config(tmp_path / "lineage.toml"))
    (edge,) = result.graph.edges()
    assert edge.source == "postgres://pg:5432/appdb.public.users"
    assert sorted(edge.columns) == ["email", "id"]
    assert not any("de_users" in n for n in result.graph.g.nodes)
