"""The bundled demo end to end: every PostgreSQL → S3 → Snowflake path, column by column."""

from __future__ import annotations

import json

import pytest

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.export.formats import to_json_data
from s3lineage.pipeline import infer
from s3lineage.runner import run

from .conftest import FIXTURES, ROOT

PG = "postgres://pg.demo.internal:5432/appdb.public."
SF = "snowflake://fintech-prod/"
LAKE = "s3://fintech-lake/"


@pytest.fixture(scope="module")
def demo():
    # what `make demo` runs: inference, then the S3 layer joined from the bucket's mirror
    return run(load_config(FIXTURES / "demo" / "lineage.toml"), dry_run=True).result


@pytest.fixture(scope="module")
def columns(demo):
    return demo.graph.column_graph()


def reaches(columns, source, target) -> bool:
    import networkx as nx

    return source in columns and target in columns and nx.has_path(columns, source, target)


@pytest.mark.parametrize(
    ("pg_column", "s3_field", "sf_column"),
    [
        (("users", "email"), ("exports/users/dt={dt}/users.csv", "email"), "RAW.LANDING.USERS.EMAIL"),
        (("accounts", "status"), ("exports/accounts/accounts_{date}.csv", "status"), "RAW.LANDING.ACCOUNTS.STATUS"),
        (("transactions", "amount"), ("exports/transactions/{date_path}/part-{n}.csv", "amount"),
         "RAW.LANDING.TRANSACTIONS.AMOUNT"),
        (("merchants", "name"), ("exports/merchants/merchants.csv", "name"), "RAW.LANDING.MERCHANTS.NAME"),
        (("transactions", "amount"), ("exports/daily_balances/daily_balances_{date}.csv", "balance_change"),
         "RAW.LANDING.DAILY_BALANCES.BALANCE_CHANGE"),
    ],
)
def test_every_export_reaches_snowflake_column_by_column(columns, pg_column, s3_field, sf_column):
    pg = (PG + pg_column[0], pg_column[1])
    s3 = (LAKE + s3_field[0], s3_field[1])
    sf_table, _, sf_col = sf_column.rpartition(".")
    sf = (SF + sf_table, sf_col)
    assert columns.has_edge(pg, s3), f"{pg} → {s3} missing"
    assert columns.has_edge(s3, sf), f"{s3} → {sf} missing"


def test_lineage_continues_to_the_marts(columns):
    assert reaches(columns, (PG + "users", "email"), (SF + "ANALYTICS.MARTS.DIM_USERS", "EMAIL"))
    assert reaches(columns, (PG + "merchants", "name"), (SF + "ANALYTICS.MARTS.FACT_TRANSACTIONS", "MERCHANT_NAME"))
    assert reaches(columns, (PG + "users", "country"), (LAKE + "reports/dim_users/", "COUNTRY"))


def test_column_lineage_is_exact_through_s3(columns):
    # the users export has 5 fields; each Snowflake column is fed by exactly one of them
    for column in ("ID", "EMAIL", "FULL_NAME", "COUNTRY", "CREATED_AT"):
        sources = list(columns.predecessors((SF + "RAW.LANDING.USERS", column)))
        assert sources == [(LAKE + "exports/users/dt={dt}/users.csv", column.lower())]


def test_partitioned_exports_fold_into_one_dataset_with_members(demo):
    node = demo.graph.node(LAKE + "exports/users/dt={dt}/users.csv")
    assert sorted(node.members) == [f"exports/users/dt=2025-01-1{d}/users.csv" for d in (4, 5, 6)]
    assert all(m.written and m.loaded for m in node.members.values())


def test_no_edge_from_failed_or_read_only_statements(demo):
    ids = set(demo.graph.g.nodes)
    assert not any("cards" in i.lower() for i in ids), "failed export/COPY produced lineage"
    assert all(e.kind in {"export", "load", "unload", "transform"} for e in demo.graph.edges())
    assert demo.stats["failed_statements"] == 2


def test_snowpipe_loads_known_only_from_copy_history(demo):
    edge = demo.graph.g.edges[LAKE + "exports/transactions/{date_path}/part-{n}.csv",
                              SF + "RAW.LANDING.TRANSACTIONS"]["edge"]
    assert edge.match == "copy_history"
    assert "snowflake/create_pipe" in edge.evidence.recognizers


def test_diagnostics_a_reviewer_needs(demo):
    codes = demo.diagnostics.codes()
    assert {"s3_written_not_loaded", "s3_loaded_not_written", "unknown_stage",
            "failed_statements_skipped"} <= codes
    dangling = {e.where[0] for e in demo.diagnostics.entries() if e.code == "s3_written_not_loaded"}
    assert LAKE + "exports/audit_log/audit_log.csv" in dangling


def _portable(data):
    data = json.loads(json.dumps(data).replace(str(ROOT), "<root>"))
    data.pop("generated_at")
    data["summary"].pop("seconds")
    return data


def test_json_export_golden(demo, golden):
    golden("demo-graph.json", _portable(to_json_data(demo.graph, demo.diagnostics, demo.stats)))


def test_cli_dry_run_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "graph.json"
    code = main(["infer", "--config", str(FIXTURES / "demo" / "lineage.toml"), "--dry-run",
                 "--output", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["format"] == "s3lineage.graph" and data["version"] == "1.0"
    assert {"datasets", "edges", "diagnostics"} <= set(data)
    dataset = data["datasets"][0]
    assert {"id", "namespace", "name", "kind", "fields"} <= set(dataset)
    edge = data["edges"][0]
    assert {"source", "target", "columns", "evidence", "confidence"} <= set(edge)
    summary = capsys.readouterr().err
    assert "unique fingerprints" in summary and "edges" in summary


def test_fail_on_warning_exits_1(tmp_path):
    code = main(["infer", "--config", str(FIXTURES / "demo" / "lineage.toml"), "--dry-run", "-q",
                 "--output", str(tmp_path / "g.json"), "--fail-on", "warning"])
    assert code == 1


def test_pg_stat_statements_rows_the_log_has_are_not_counted_twice(demo):
    edge = demo.graph.g.edges[PG + "transactions", LAKE + "exports/transactions/{date_path}/part-{n}.csv"]["edge"]
    assert edge.evidence.run_count == 2  # part-000 and part-001, from the log only
    assert "normalized_parameters" not in demo.diagnostics.codes()  # the log has their literals


def test_without_logs_normalized_exports_are_reported_not_guessed(tmp_path):
    demo_pg = FIXTURES / "demo" / "postgres"
    (tmp_path / "lineage.toml").write_text(
        '[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg.demo.internal:5432"\n'
        f'database = "appdb"\nstatements_file = "{demo_pg / "pg_stat_statements.csv"}"\n')
    result = infer(load_config(tmp_path / "lineage.toml"))
    entries = [e for e in result.diagnostics.entries() if e.code == "normalized_parameters"]
    assert entries and all("log_min_duration_statement" in e.message for e in entries)
    assert all(e.kind == "export" for e in result.graph.edges())
    assert {e.target for e in result.graph.edges()} == {
        LAKE + "exports/transactions/{date_path}/part-{n}.csv"}  # COPY text is never normalized


def test_copy_row_counts_from_pg_stat_statements_reach_the_logged_export(demo):
    """Logs report no row counts; pg_stat_statements does (for COPY, not for the aws_s3
    function, whose `rows` is its one result row): they go to the executions the log gave."""
    edge = demo.graph.g.edges[PG + "transactions", LAKE + "exports/transactions/{date_path}/part-{n}.csv"]["edge"]
    assert edge.evidence.rows == 1000 and edge.evidence.run_count == 2
    users = demo.graph.g.edges[PG + "users", LAKE + "exports/users/dt={dt}/users.csv"]["edge"]
    assert users.evidence.rows is None
    assert "s3_row_count_mismatch" not in demo.diagnostics.codes()
