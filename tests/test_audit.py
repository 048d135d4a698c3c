"""Auditing on the demo: explain, the audit table, review decisions, impact, exports."""

from __future__ import annotations

import csv
import json
import time

import pytest

from s3lineage.audit import hooks, load_decisions
from s3lineage.audit.data import AuditData, AuditError, open_store
from s3lineage.audit.explain import explain
from s3lineage.audit.history import changes
from s3lineage.audit.statements import statement_texts
from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.graph.build import GraphBuilder
from s3lineage.state.store import StateStore

from .audit_helpers import (
    DIM_ACCOUNTS,
    LAKE,
    PG,
    SF,
    USERS_EXPORT,
    USERS_LOAD,
    append_query,
    demo_copy,
    run_audited,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One audited run of the demo, read-only for the tests that use it."""
    config = demo_copy(tmp_path_factory.mktemp("audit"))
    run_audited(config)
    return config


@pytest.fixture
def fresh(tmp_path):
    config = demo_copy(tmp_path)
    run_audited(config)
    return config


@pytest.fixture
def store(demo):
    opened = open_store(load_config(demo))
    yield opened
    opened.close()


def cli(capsys, *args) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


# --- explain -------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["RAW.LANDING.USERS.EMAIL", "ANALYTICS.MARTS.DIM_USERS.EMAIL"])
def test_explain_a_snowflake_column_walks_back_to_postgres_with_each_hops_evidence(store, column):
    data = AuditData.from_store(store)
    target = data.resolve(column)
    assert target.kind == "column" and target.column == "EMAIL"
    result = explain(data, target, store, load_decisions(store))
    sources = [h.source for h in result.upstream]
    assert (PG + "users", "email") == sources[-1]
    assert (LAKE + "exports/users/dt={dt}/users.csv", "email") in sources
    reports = {e["id"]: e for e in result.edges}
    for hop in result.upstream:  # every hop's edge is explained: statements, recognizer, SQL
        edge = reports[hop.edge]
        assert edge["recognizers"] and edge["evidence"]["run_count"] >= 1
        assert edge["evidence"]["query_ids"] and edge["statements"]
        assert edge["sql"] and all(s["redacted"] for s in edge["sql"])
    export = reports[USERS_EXPORT]
    assert export["recognizers"] == ["postgres/aws_s3_query_export_to_s3"]
    assert "fintech-lake" not in export["sql"][0]["text"]  # literals redacted by default
    assert reports[USERS_LOAD]["match"] == "copy_history"


def test_explain_cli_text_and_literals(demo, capsys):
    code, out = cli(capsys, "explain", "ANALYTICS.MARTS.DIM_USERS.EMAIL", "--config", str(demo))
    assert code == 0
    assert "← RAW.LANDING.USERS.EMAIL" in out and "← appdb.public.users.email" in out
    assert "recognizer  postgres/aws_s3_query_export_to_s3" in out
    assert "literals redacted" in out and "'fintech-lake'" not in out
    code, out = cli(capsys, "explain", "appdb.public.users.email", "--config", str(demo),
                    "--show-literals", "--json")
    data = json.loads(out)
    assert data["target"]["column"] == "email" and data["downstream"]
    assert any("fintech-lake" in s["text"] for e in data["edges"] for s in e["sql"])


def test_explain_says_what_lowered_the_confidence(store):
    data = AuditData.from_store(store)
    result = explain(data, data.resolve("RAW.LANDING.TRANSACTIONS"), store, {})
    load = next(e for e in result.edges if e["kind"] == "load")
    assert load["confidence"] == pytest.approx(0.9)
    assert any("command_fallback" in r["reason"] and r["factor"] == pytest.approx(0.9)
               for r in load["lowered_by"])


def test_names_resolve_by_id_display_name_suffix_and_key(store):
    data = AuditData.from_store(store)
    assert data.resolve_dataset("appdb.public.users").id == PG + "users"
    assert data.resolve_dataset(PG + "users").id == PG + "users"
    assert data.resolve_dataset("public.users").id == PG + "users"
    assert data.resolve_dataset("LANDING.USERS").id == SF + "RAW.LANDING.USERS"
    assert data.resolve_dataset("raw.landing.users").id == SF + "RAW.LANDING.USERS"
    assert data.resolve_dataset(LAKE + "exports/users/dt={dt}/users.csv").kind == "s3"
    with pytest.raises(AuditError, match="ambiguous"):
        data.resolve_dataset("Users")
    with pytest.raises(AuditError, match="no dataset"):
        data.resolve_dataset("nope.nothing")
    edge = data.edges[USERS_LOAD]
    assert data.resolve_edge(edge.key) is edge
    assert data.resolve_edge("exports/users/dt={dt}/users.csv -> RAW.LANDING.USERS") is edge
    assert data.resolve(f"{SF}RAW.LANDING.USERS#EMAIL").column == "EMAIL"
    with pytest.raises(AuditError, match="has no column"):
        data.resolve("RAW.LANDING.USERS.NOPE")


# --- the audit table and history ------------------------------------------------------------


def test_audit_filters_sorts_and_writes_csv(demo, capsys, tmp_path):
    code, out = cli(capsys, "audit", "--config", str(demo), "--below", "0.95")
    assert code == 0 and "1 of 20 edges" in out and "RAW.LANDING.TRANSACTIONS" in out
    assert "run 1 vs no earlier run: 20 new" in out
    target = tmp_path / "edges.csv"
    code, out = cli(capsys, "audit", "--config", str(demo), "--system", "postgres",
                    "--sort=-runs", "--csv", str(target))
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 6 and {r["source_system"] for r in rows} == {"postgres"}
    assert [int(r["runs"]) for r in rows] == sorted((int(r["runs"]) for r in rows), reverse=True)
    code, out = cli(capsys, "audit", "--config", str(demo), "--recognizer", "merge", "--json")
    assert [r["edge"] for r in json.loads(out)] == [DIM_ACCOUNTS]
    code, out = cli(capsys, "audit", "--config", str(demo), "--dataset", "RAW.LANDING.USERS", "--json")
    assert {r["edge"] for r in json.loads(out)} == {
        USERS_LOAD, f"{SF}RAW.LANDING.USERS -> {SF}ANALYTICS.MARTS.DIM_USERS"}
    code, out = cli(capsys, "audit", "--config", str(demo), "--since", "2025-01-16", "--json")
    assert {r["edge"] for r in json.loads(out)} == set()  # first seen on the 14th/15th


def test_audit_shows_what_the_last_run_changed(tmp_path, capsys):
    config = demo_copy(tmp_path)
    run_audited(config)
    append_query(config, "01bnew00-0000-0000-0000-000000000001",
                 "INSERT INTO ANALYTICS.MARTS.USER_EMAILS (EMAIL) SELECT EMAIL FROM USERS")
    run_audited(config)
    _code, out = cli(capsys, "audit", "--config", str(config), "--changed", "--json")
    rows = json.loads(out)
    assert [(r["target"], r["change"]) for r in rows] == [("ANALYTICS.MARTS.USER_EMAILS", "new")]
    # the next run re-observes the users load (more runs, same statements): "observed"
    append_query(config, "01bagain-0000-0000-0000-000000000001",
                 "COPY INTO USERS FROM @LAKE_STAGE/users/ PATTERN='.*users[.]csv' "
                 "FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)", query_type="COPY")
    run_audited(config)
    _, out = cli(capsys, "audit", "--config", str(config), "--json")
    by_edge = {r["edge"]: r["change"] for r in json.loads(out)}
    assert by_edge[USERS_LOAD] == "observed" and by_edge[USERS_EXPORT] == ""


def test_stale_edges_show_as_stale(tmp_path):
    config = demo_copy(tmp_path, retention_days=0.0000001)
    run_audited(config)
    time.sleep(0.05)
    run_audited(config)
    store = open_store(load_config(config))
    try:
        found = changes(store)
        assert len(found) == 20 and {c.kind for c in found.values()} == {"stale"}
    finally:
        store.close()


def test_confidence_changes_come_from_the_edge_history(fresh, capsys):
    store = open_store(load_config(fresh))
    try:  # a later run lowers one edge's confidence (as a prefix match would)
        run_id = store.start_run(False)
        row = store.edges()[USERS_LOAD]
        data = json.loads(row["data"]) | {"confidence": 0.85}
        store.save_edge(row | {"data": json.dumps(data), "last_changed_run": run_id})
        store.finish_run(run_id, "ok", {})
        hooks.RunRecorder(store, None).save(run_id)
        change = changes(store)[USERS_LOAD]
        assert (change.kind, change.before, change.after) == ("confidence", 1.0, 0.85)
    finally:
        store.close()
    _, out = cli(capsys, "audit", "--config", str(fresh), "--changed")
    assert "confidence 1.00→0.85" in out and "run 2 vs run 1: 1 confidence changed" in out


def test_the_first_run_audits_as_all_new(tmp_path, capsys):
    from s3lineage.runner import run

    config = demo_copy(tmp_path)
    run(config)
    code, out = cli(capsys, "audit", "--config", str(config))
    assert code == 0 and "20 new" in out


# --- the hooks ---------------------------------------------------------------------------------


def test_the_hooks_write_in_the_runs_transaction(tmp_path):
    """recorder.save runs inside the runner's transaction: nothing commits early."""
    store = StateStore(tmp_path / "state.db")
    builder = GraphBuilder()
    recorder = hooks.attach(builder, store)
    assert len(builder.observers) == 1  # it observes through the builder's observer list
    from s3lineage.model import Dialect, QueryEvent
    from s3lineage.resolve.resolver import Resolver
    from s3lineage.resolve.sqlglot_adapter import normalized_forms

    text = "COPY users TO PROGRAM 'aws s3 cp - s3://b/u.csv'"
    event = QueryEvent(text, Dialect.POSTGRES, location="x.log:1", default_database="appdb")
    resolution = Resolver().resolve_event(event)
    fingerprint = normalized_forms(text, Dialect.POSTGRES)[0]
    builder.add_statement(event, resolution, fingerprint)
    assert builder.groups()  # the builder still got the statement
    with pytest.raises(RuntimeError), store.transaction():
        recorder.save(1)
        raise RuntimeError("crash after saving")
    assert statement_texts(store, [fingerprint]) == {}  # rolled back with the run
    with store.transaction():
        recorder.save(1)
    assert statement_texts(store, [fingerprint])[fingerprint].text == text
    store.close()
