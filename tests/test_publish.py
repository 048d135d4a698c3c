"""Publishing the demo graph to Atlan: real pyatlan against the local API stand-in."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from s3lineage.config import load_config
from s3lineage.pipeline import infer
from s3lineage.publish import publish
from s3lineage.publish.assets import process_id
from s3lineage.publish.statements import StatementRecorder
from s3lineage.runner import run
from s3lineage.state.store import StateStore
from s3lineage.testing.atlan_standin import AtlanStandIn

from .publish_helpers import (
    PG_NS,
    SF_NS,
    client_for,
    column_lineage,
    demo_copy,
    graph_column_lineage,
    seed_demo,
)

# Real pyatlan over HTTP against the stand-in: integration tests, not the quick subset.
pytestmark = pytest.mark.slow

MERCHANTS_LOAD = f"s3://fintech-lake/exports/merchants/merchants.csv -> {SF_NS}/RAW.LANDING.MERCHANTS"


@pytest.fixture
def standin():
    with AtlanStandIn() as server:
        yield server


@pytest.fixture
def demo(tmp_path, standin):
    config_path = demo_copy(tmp_path)
    qns = seed_demo(standin)
    config = load_config(config_path)
    recorder = StatementRecorder()
    graph = infer(config, resolver=recorder).graph
    return SimpleNamespace(path=config_path, config=config, graph=graph, qns=qns,
                           statements=recorder.statements, client=client_for(standin))


def _publish(demo, store=None, **kwargs):
    return publish(demo.config, demo.graph, store, client=demo.client,
                   statements=demo.statements, **kwargs)


def _hop_qn(demo, edge):
    return f"{demo.qns['s3lineage']}/{process_id(edge.kind, edge.source, edge.target)}"


def _published_edges(graph):
    return [e for e in graph.edges() if e.kind in ("export", "load", "unload")]


def test_demo_publishes_exactly_the_expected_assets(demo, standin):
    report = _publish(demo)
    assert report.ok, report.failed
    edges = _published_edges(demo.graph)
    s3_nodes = {n for e in edges for n in (e.source, e.target) if n.startswith("s3://")}
    expected = {
        "S3Bucket": 1,
        "S3Object": len(s3_nodes),
        "PartialField": sum(len(demo.graph.node(n).fields) for n in s3_nodes),
        "Process": len(edges),
        "ColumnProcess": sum(len(e.columns) for e in edges),
    }
    # the demo, counted by hand: 8 S3 datasets, 33 file fields, 6 exports + 6 loads + 1 unload
    assert expected == {"S3Bucket": 1, "S3Object": 8, "PartialField": 33, "Process": 13,
                        "ColumnProcess": 56}
    stored = {t: len(standin.of_type(t)) for t in expected}
    assert stored == expected
    created = {}
    for item in report.created:
        created[item.type_name] = created.get(item.type_name, 0) + 1
    assert created == expected
    # every process lives in the lineage connection under s3lineage's prefix
    for process in standin.of_type("Process") + standin.of_type("ColumnProcess"):
        assert process["attributes"]["qualifiedName"].startswith(f"{demo.qns['s3lineage']}/s3lineage/")
        assert process["attributes"]["connectionQualifiedName"] == demo.qns["s3lineage"]


def test_column_processes_read_back_as_exactly_the_graph_column_lineage(demo, standin):
    _publish(demo)
    expected = graph_column_lineage(demo.graph)
    assert len(expected) == 56
    assert column_lineage(standin, demo.qns) == expected
    # never through the S3 object itself (that links every exported to every loaded column)
    for cp in standin.of_type("ColumnProcess"):
        for ref in cp["attributes"]["inputs"] + cp["attributes"]["outputs"]:
            assert ref["typeName"] in ("Column", "PartialField")
        parent = standin.assets[cp["attributes"]["process"]["guid"]]
        assert parent["typeName"] == "Process"


def test_processes_carry_name_redacted_sql_and_evidence(demo, standin):
    _publish(demo)
    edge = next(e for e in demo.graph.edges() if e.target.endswith("exports/users/dt={dt}/users.csv"))
    process = standin.find("Process", _hop_qn(demo, edge))
    attrs = process["attributes"]
    assert attrs["name"] == "appdb.public.users → s3://fintech-lake/exports/users/dt={dt}/users.csv (export)"
    assert "query_export_to_s3" in attrs["sql"]
    assert "'" not in attrs["sql"]  # every literal (keys, dates, inner SQL) is a ?
    context = json.loads(attrs["additionalEtlContext"])
    assert context["edge"] == f"{edge.source} -> {edge.target}"
    assert context["evidence"]["run_count"] == edge.evidence.run_count
    assert "users" not in context["evidence"]  # who ran it is not published
    inputs = [standin.qualified_name_of(r) for r in attrs["inputs"]]
    assert inputs == [f"{demo.qns['pg-prod']}/appdb/public/users"]


def test_second_publish_writes_nothing(demo, standin):
    first = _publish(demo)
    standin.clear_log()
    second = _publish(demo)
    assert standin.writes() == []
    assert (second.created, second.updated, second.restored, second.archived, second.failed) == (
        [], [], [], [], [])
    assert second.unchanged == len(first.created)
    assert second.stats["writes"] == 0
    assert second.stats["requests"] == len(standin.requests)


def test_the_staging_connection_is_never_linked(demo, standin):
    _publish(demo)
    staging = (demo.qns["pg-staging"], demo.qns["snowflake-staging"])
    for type_name in ("Process", "ColumnProcess"):
        for process in standin.of_type(type_name):
            for ref in process["attributes"]["inputs"] + process["attributes"]["outputs"]:
                assert not standin.qualified_name_of(ref).startswith(staging)


def test_a_table_missing_in_atlan_skips_its_edge_with_a_diagnostic(tmp_path):
    with AtlanStandIn() as standin:
        config = load_config(demo_copy(tmp_path))
        # production was never crawled for audit_log; staging has it (and must not be used)
        qns = seed_demo(standin, drop_pg=("appdb.public.audit_log",))
        graph = infer(config).graph
        report = publish(config, graph, client=client_for(standin))
        assert report.ok
        audit = f"{PG_NS}/appdb.public.audit_log -> s3://fintech-lake/exports/audit_log/audit_log.csv"
        skipped = {i.qualified_name: i.reason for i in report.skipped}
        assert "appdb.public.audit_log not found" in skipped[audit]
        assert qns["pg-prod"] in skipped[audit]
        names = {p["attributes"]["name"] for p in standin.of_type("Process")}
        assert not any("audit_log" in n for n in names)
        assert len(standin.of_type("Process")) == 12


def _mark(store, edge_id, status):
    row = store.edges()[edge_id]
    with store.transaction():
        store.save_edge(row | {"status": status, "last_observed": "2000-01-01T00:00:00+00:00",
                               "stale_since": "2000-02-01T00:00:00+00:00" if status == "stale" else None})


def test_stale_edge_is_archived_exactly_and_restored_when_seen_again(demo, standin):
    report = run(demo.path, publish=False)  # a scheduled run makes the state store
    store = StateStore(demo.path.parent / "state" / "state.db")
    try:
        assert _publish(demo, store).ok
        edge = next(e for e in demo.graph.edges() if f"{e.source} -> {e.target}" == MERCHANTS_LOAD)
        parent = _hop_qn(demo, edge)
        own = {parent} | {cp["attributes"]["qualifiedName"] for cp in standin.of_type("ColumnProcess")
                          if standin.qualified_name_of(cp["attributes"]["process"]) == parent}
        assert len(own) == 1 + len(edge.columns)
        _mark(store, MERCHANTS_LOAD, "stale")  # not observed past retention
        standin.clear_log()
        archived = _publish(demo, store)
        assert {i.qualified_name for i in archived.archived} == own
        assert all("stale" in i.reason for i in archived.archived)
        assert (archived.created, archived.updated, archived.failed) == ([], [], [])
        deleted = {a["attributes"]["qualifiedName"] for t in ("Process", "ColumnProcess")
                   for a in standin.of_type(t, status="DELETED")}
        assert deleted == own
        assert [r.method for r in standin.writes()] == ["DELETE", "DELETE"]  # CPs, then process
        _mark(store, MERCHANTS_LOAD, "active")  # the load runs again
        restored = _publish(demo, store)
        assert {i.qualified_name for i in restored.restored} == own
        assert not standin.of_type("Process", status="DELETED")
        assert not standin.of_type("ColumnProcess", status="DELETED")
        assert _publish(demo, store).stats["writes"] == 0
    finally:
        store.close()
    assert report.outcome == "ok"


def test_statement_removed_from_inputs_archives_its_processes(demo, standin):
    run(demo.path, publish=False)
    store = StateStore(demo.path.parent / "state" / "state.db")
    assert _publish(demo, store).ok
    store.close()
    before = {p["attributes"]["qualifiedName"] for p in standin.of_type("Process")}
    history = demo.path.parent / "snowflake"
    for name in ("query_history.csv", "copy_history.csv"):
        lines = (history / name).read_text().splitlines(keepends=True)
        (history / name).write_text("".join(line for line in lines if "MERCHANTS FROM" not in line
                                            and not line.startswith("merchants.csv,")))
    rerun = run(demo.path, full_refresh=True, publish=False)  # re-read: the load is no longer inferred
    assert MERCHANTS_LOAD in rerun.stale_edges
    store = StateStore(demo.path.parent / "state" / "state.db")
    try:
        report = publish(demo.config, rerun.result.graph, store, client=demo.client)
    finally:
        store.close()
    archived = {i.qualified_name for i in report.archived if i.type_name == "Process"}
    merchants = next(e for e in demo.graph.edges() if f"{e.source} -> {e.target}" == MERCHANTS_LOAD)
    assert archived == {_hop_qn(demo, merchants)}
    assert len(report.archived) == 1 + len(merchants.columns)
    after = {p["attributes"]["qualifiedName"] for p in standin.of_type("Process")}
    assert after == before - archived


def test_review_decisions_reject_and_accept(demo, standin):
    assert _publish(demo).ok
    edge = next(e for e in demo.graph.edges() if f"{e.source} -> {e.target}" == MERCHANTS_LOAD)
    rejected = _publish(demo, decisions={MERCHANTS_LOAD: SimpleNamespace(status="rejected")})
    assert {i.qualified_name for i in rejected.archived if i.type_name == "Process"} == {_hop_qn(demo, edge)}
    assert all(i.reason == "rejected in review" for i in rejected.archived)
    # a reviewer-accepted edge stays published even when the state says it is stale
    fake_store = SimpleNamespace(edges=lambda: {MERCHANTS_LOAD: {"status": "stale", "last_observed": "x"}})
    accepted = publish(demo.config, demo.graph, fake_store, client=demo.client, statements=demo.statements,
                       decisions={MERCHANTS_LOAD: SimpleNamespace(status="accepted")})
    assert {i.qualified_name for i in accepted.restored if i.type_name == "Process"} == {_hop_qn(demo, edge)}


def test_nothing_outside_the_lineage_prefix_is_touched(demo, standin):
    lineage = demo.qns["s3lineage"]
    foreign = standin.add_asset("Process", {"qualifiedName": f"{lineage}/other-tool/p1", "name": "theirs",
                                            "connectionQualifiedName": lineage})
    elsewhere = standin.add_asset("Process", {"qualifiedName": "default/custom/1/s3lineage/x", "name": "x",
                                              "connectionQualifiedName": "default/custom/1"})
    _publish(demo)
    everything = json.dumps([r.body for r in standin.writes()]) + json.dumps(
        [r.query for r in standin.writes()])
    for guid in (foreign, elsewhere):
        assert standin.assets[guid]["status"] == "ACTIVE"
        assert guid not in everything
        assert standin.assets[guid]["attributes"]["qualifiedName"] not in everything


def test_crawled_s3_objects_are_reused_not_written(tmp_path):
    with AtlanStandIn() as standin:
        config = load_config(demo_copy(tmp_path))
        qns = seed_demo(standin)
        s3 = qns["s3-lake"]
        standin.add_asset("S3Bucket", {"qualifiedName": f"{s3}/fintech-lake", "name": "fintech-lake",
                                       "connectionQualifiedName": s3, "connectorName": "s3"})
        crawled_qn = f"{s3}/fintech-lake/exports/merchants/merchants.csv"
        crawled = standin.add_asset("S3Object", {
            "qualifiedName": crawled_qn, "name": "merchants.csv", "connectionQualifiedName": s3,
            "s3BucketName": "fintech-lake", "s3ObjectKey": "exports/merchants/merchants.csv",
            "s3ObjectSize": 11856})
        before = json.dumps(standin.assets[crawled], sort_keys=True)
        report = publish(config, infer(config).graph, client=client_for(standin))
        assert report.ok
        assert ("S3Object", crawled_qn) in {(i.type_name, i.qualified_name) for i in report.reused}
        assert not [i for i in report.created if i.type_name == "S3Bucket"]
        assert len(standin.of_type("S3Object")) == 8  # 7 made + the crawled one
        written = [e["attributes"]["qualifiedName"] for r in standin.writes() for e in r.body["entities"]]
        assert crawled_qn not in written
        assert json.dumps(standin.assets[crawled], sort_keys=True) == before
        # the fields and processes hang off the crawled object
        fields = [f for f in standin.of_type("PartialField")
                  if standin.qualified_name_of(f["attributes"]["partialParentAsset"]) == crawled_qn]
        assert sorted(f["attributes"]["name"] for f in fields) == ["category", "country", "id", "name"]


def test_direct_column_mode_links_postgres_to_snowflake_columns(tmp_path):
    with AtlanStandIn() as standin:
        config = load_config(demo_copy(tmp_path, atlan='column_mode = "direct"\n'))
        qns = seed_demo(standin)
        graph = infer(config).graph
        assert publish(config, graph, client=client_for(standin)).ok
        assert standin.of_type("PartialField") == []
        expected = set()
        for producer in graph.edges():
            for consumer in graph.edges():
                if producer.kind != "export" or consumer.source != producer.target or consumer.kind != "load":
                    continue
                for target, mapping in consumer.columns.items():
                    for _, file_field in mapping.sources:
                        for source in producer.columns[file_field].sources:
                            expected.add((source, (consumer.target, target)))
        assert len(expected) == 23  # the 5 loads with a producer (fx_rates has none)
        assert column_lineage(standin, qns) == expected
        routes = [p for p in standin.of_type("Process") if " via s3://" in p["attributes"]["name"]]
        assert len(routes) == 5  # one per export → load route (fx_rates has no producer)


def test_snowflake_internal_transforms_behind_the_flag(tmp_path):
    with AtlanStandIn() as standin:
        config = load_config(demo_copy(tmp_path, atlan="include_snowflake_internal = true\n"))
        qns = seed_demo(standin)
        graph = infer(config).graph
        report = publish(config, graph, client=client_for(standin))
        assert report.ok
        expected = graph_column_lineage(graph) | graph_column_lineage(
            graph, kinds=("transform",), systems={("snowflake", "snowflake")})
        # the stage-fed refunds transform stays out: its S3 location is unknown
        expected = {p for p in expected if "@" not in p[0][0]}
        assert column_lineage(standin, qns) == expected
        assert any("is a stage" in i.reason for i in report.skipped)


def test_review_decisions_from_the_audit_feature_and_sql_from_the_state(demo, standin):
    reviews = pytest.importorskip("s3lineage.audit.reviews")
    run(demo.path, publish=False)
    store = StateStore(demo.path.parent / "state" / "state.db")
    try:
        first = publish(demo.config, demo.graph, store, client=demo.client)  # SQL from the state
        edge = next(e for e in demo.graph.edges() if f"{e.source} -> {e.target}" == MERCHANTS_LOAD)
        process = standin.find("Process", _hop_qn(demo, edge))["attributes"]
        if process.get("sql") is not None:  # the state samples statement texts (audit feature)
            assert "COPY INTO RAW.LANDING.MERCHANTS" in process["sql"]
        assert first.ok
        reviews.decide(store, MERCHANTS_LOAD, "rejected", "wrong bucket")
        report = publish(demo.config, demo.graph, store, client=demo.client)
        assert {i.qualified_name for i in report.archived if i.type_name == "Process"} == {
            _hop_qn(demo, edge)}
    finally:
        store.close()


def test_s3_objects_carry_key_format_size_and_last_modified(demo, standin):
    from s3lineage.graph.model import Member

    node = demo.graph.node("s3://fintech-lake/exports/users/dt={dt}/users.csv")
    if "size" in Member.__slots__:  # S3's own figures, when [s3] discovery filled them
        for n, member in enumerate(node.members.values()):
            member.size = 1000 + n
    _publish(demo)
    objects = {o["attributes"]["s3ObjectKey"]: o["attributes"] for o in standin.of_type("S3Object")}
    users = objects["exports/users/dt={dt}/users.csv"]
    assert users["s3ObjectContentType"] == "text/csv"
    assert users["s3BucketName"] == "fintech-lake"
    assert users["s3ObjectLastModifiedTime"] > 0
    if "size" in Member.__slots__:
        assert users["s3ObjectSize"] == 3 * 1000 + 3
    assert objects["reports/dim_users/"]["s3ObjectContentType"] == "application/vnd.apache.parquet"
    assert "3 object(s) observed" in users["description"]
