"""Impact analysis: table and column level, both directions, depth, rejected edges; the
benchmark script runs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from s3lineage.audit.impact import ImpactIndex
from s3lineage.cli import main

from .audit_helpers import LAKE, PG, SF, USERS_EXPORT, demo_copy, run_audited

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_impact.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    config = demo_copy(tmp_path_factory.mktemp("impact"))
    run_audited(config)
    return config


def impact(capsys, *args) -> dict:
    assert main(["impact", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_postgres_column_reaches_the_snowflake_columns(demo, capsys):
    found = impact(capsys, "appdb.public.users.email", "--config", str(demo))
    columns = {(c["dataset"], c["field"]): c for c in found["columns"]}
    assert set(columns) == {(LAKE + "exports/users/dt={dt}/users.csv", "email"),
                            (SF + "RAW.LANDING.USERS", "EMAIL"),
                            (SF + "ANALYTICS.MARTS.DIM_USERS", "EMAIL")}
    mart = columns[(SF + "ANALYTICS.MARTS.DIM_USERS", "EMAIL")]
    assert mart["depth"] == 3 and [p["dataset"] for p in mart["path"]] == [
        PG + "users", LAKE + "exports/users/dt={dt}/users.csv", SF + "RAW.LANDING.USERS",
        SF + "ANALYTICS.MARTS.DIM_USERS"]
    assert len(mart["edges"]) == 3
    assert {d["dataset"] for d in found["datasets"]} == {
        LAKE + "exports/users/dt={dt}/users.csv", SF + "RAW.LANDING.USERS", SF + "ANALYTICS.MARTS.DIM_USERS"}


def test_table_level_upstream_with_depth(demo, capsys):
    found = impact(capsys, "ANALYTICS.MARTS.DIM_USERS", "--upstream", "--depth", "1", "--config", str(demo))
    assert {d["dataset"] for d in found["datasets"]} == {SF + "RAW.LANDING.USERS", SF + "RAW.LANDING.ACCOUNTS"}
    deep = impact(capsys, "ANALYTICS.MARTS.DIM_USERS", "--upstream", "--config", str(demo))
    assert PG + "users" in {d["dataset"] for d in deep["datasets"]}
    assert (PG + "users", "email") in {(c["dataset"], c["field"]) for c in deep["columns"]}


def test_rejected_edges_are_not_followed_unless_asked(demo, capsys, tmp_path):
    graph = tmp_path / "graph.json"
    assert main(["review", "reject", USERS_EXPORT, "--config", str(demo)]) == 0
    try:
        assert main(["report", "--config", str(demo), "--format", "json", "-o", str(graph)]) == 0
        capsys.readouterr()
        assert impact(capsys, "appdb.public.users.email", "--config", str(demo))["columns"] == []
        assert len(impact(capsys, "appdb.public.users.email", "--config", str(demo),
                          "--include-rejected")["columns"]) == 3
        assert main(["impact", "appdb.public.users", "--config", str(demo)]) == 0
        assert "rejected edge(s) not followed" in capsys.readouterr().out
        # a JSON export works as the graph too (no state store: no review filtering)
        assert len(impact(capsys, "appdb.public.users.email", "--graph", str(graph))["columns"]) == 3
    finally:
        main(["review", "clear", USERS_EXPORT, "--config", str(demo)])


def test_index_on_a_small_graph():
    index = ImpactIndex.build([
        ("a->b", "a", "b", "export", [("x", [("a", "x")], "identity")]),
        ("b->c", "b", "c", "load", [("X", [("b", "x")], "positional"), ("Y", [("b", "y")], "identity")]),
        ("c->a", "c", "a", "transform", [("x", [("c", "X")], "identity")]),  # a cycle
    ])
    down = index.query("a", "x")
    assert [(r.dataset, r.field, r.depth) for r in down.columns] == [("b", "x", 1), ("c", "X", 2)]
    assert down.columns[1].path == [("a", "x"), "a->b", ("b", "x"), "b->c", ("c", "X")]
    assert [r.dataset for r in down.datasets] == ["b", "c"]
    assert [r.dataset for r in index.query("a").datasets] == ["b", "c"]
    assert [r.dataset for r in index.query("c", direction="upstream", depth=1).datasets] == ["b"]
    assert index.query("nope").datasets == [] and index.query("a", "nope").columns == []
    with pytest.raises(ValueError):
        index.query("a", direction="sideways")


def test_bench_impact_runs_on_a_small_graph(capsys):
    spec = importlib.util.spec_from_file_location("bench_impact", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    result = module.main(["--nodes", "3000", "--queries", "5", "--json"])
    assert json.loads(capsys.readouterr().out) == result
    assert result["datasets"] >= 3000 and result["queries"]["pg_column_downstream"]["reached_avg"] >= 3
