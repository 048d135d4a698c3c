"""Throttling, outages and rejections while publishing; what the stand-in itself rejects."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyatlan.errors import InvalidRequestError, NotFoundError
from pyatlan.model.assets import Column, ColumnProcess, Process, Table, View

from s3lineage.config import load_config
from s3lineage.pipeline import infer
from s3lineage.publish import publish
from s3lineage.publish.assets import process_id
from s3lineage.testing.atlan_standin import AtlanStandIn

from .publish_helpers import client_for, column_lineage, demo_copy, graph_column_lineage, seed_demo

# Real pyatlan over HTTP against the stand-in: integration tests, not the quick subset.
pytestmark = pytest.mark.slow

BULK = "/api/meta/entity/bulk"
SEARCH = "/api/meta/search/indexsearch"


@pytest.fixture
def setup(tmp_path):
    with AtlanStandIn() as standin:
        config = load_config(demo_copy(tmp_path, state=False))
        qns = seed_demo(standin)
        yield standin, config, infer(config).graph, qns


def test_429_with_retry_after_is_honoured_and_the_run_completes(setup):
    standin, config, graph, qns = setup
    standin.fail_next(429, times=1, retry_after="1", path_prefix=BULK)
    standin.fail_next(429, times=1, path_prefix=SEARCH)
    report = publish(config, graph, client=client_for(standin))
    assert report.ok and len(report.created) == 111
    throttled = [i for i, r in enumerate(standin.requests) if r.status == 429]
    assert len(throttled) == 2
    bulk_429 = next(i for i in throttled if standin.requests[i].path.startswith(BULK))
    waited = standin.requests[bulk_429 + 1].at - standin.requests[bulk_429].at
    assert waited >= 0.9  # pyatlan's transport slept for Retry-After: 1
    assert column_lineage(standin, qns) == graph_column_lineage(graph)


def test_503s_beyond_pyatlans_retries_are_retried_by_s3lineage(setup):
    standin, config, graph, qns = setup
    # pyatlan (total=2) gives up after 3 answers and returns None on a final 503: the outer
    # retry (backoff 0.01 s in this config) sends the request again
    standin.fail_next(503, times=4, path_prefix=BULK)
    standin.fail_next(502, times=3, path_prefix=SEARCH)
    report = publish(config, graph, client=client_for(standin))
    assert report.ok
    assert len(report.created) == 111
    assert report.stats["retried_rounds"] >= 2
    assert sum(r.status == 503 for r in standin.requests) == 4
    assert 503 in report.stats["statuses"]  # the one answer pyatlan passed up (as None)
    assert column_lineage(standin, qns) == graph_column_lineage(graph)


def test_persistent_throttling_fails_the_batch_not_the_run(setup):
    standin, config, graph, _ = setup
    config.sections["atlan"] = replace(config.sections["atlan"], max_retries=1)
    standin.fail_next(429, times=6, path_prefix=BULK)  # the first bucket batch never gets through
    report = publish(config, graph, client=client_for(standin))
    assert [i.type_name for i in report.failed][:1] == ["S3Bucket"]
    assert "gave up" in report.failed[0].reason
    # everything that needed the bucket is reported as not sent, nothing else was attempted
    assert all("not sent" in i.reason or "gave up" in i.reason for i in report.failed)
    assert not report.ok


def test_a_rejected_asset_fails_alone_and_the_rest_is_published(setup):
    standin, config, graph, qns = setup
    edge = next(e for e in graph.edges() if e.target.endswith("RAW.LANDING.ACCOUNTS"))
    bad = f"{qns['s3lineage']}/{process_id(edge.kind, edge.source, edge.target)}"
    standin.reject(bad, status=400, message="attribute sql is too long for this tenant")
    report = publish(config, graph, client=client_for(standin))
    failed = {i.qualified_name: i.reason for i in report.failed}
    assert "attribute sql is too long" in failed.pop(bad)
    # its column processes were not sent (their parent does not exist) and say why
    assert len(failed) == len(edge.columns)
    assert all(reason == f"not sent: {bad} failed" for reason in failed.values())
    assert len(standin.of_type("Process")) == 12
    assert len(report.created) == 111 - 1 - len(edge.columns)
    published = graph_column_lineage(graph) - {p for p in graph_column_lineage(graph)
                                               if p[1][0] == edge.target}
    assert column_lineage(standin, qns) == published


# --- the stand-in rejects what a tenant would --------------------------------------------------


@pytest.fixture
def bare():
    with AtlanStandIn() as standin:
        pg = standin.seed_crawl("pg", "postgres", 1, {("db", "s", "t"): ["a"]})
        lineage = standin.seed_connection("lin", "custom", 2)
        yield standin, client_for(standin), pg, lineage


def test_standin_rejects_a_reference_to_an_unknown_asset(bare):
    standin, client, pg, lineage = bare
    process = Process.creator(name="p", connection_qualified_name=lineage, process_id="x",
                              inputs=[Table.ref_by_qualified_name(f"{pg}/db/s/missing")],
                              outputs=[Table.ref_by_qualified_name(f"{pg}/db/s/t")])
    with pytest.raises(NotFoundError, match="Referenced entity"):
        client.asset.save(process)
    # a real type matters: the table is not a View
    wrong_type = Process.creator(name="p", connection_qualified_name=lineage, process_id="x",
                                 inputs=[View.ref_by_qualified_name(f"{pg}/db/s/t")],
                                 outputs=[Table.ref_by_qualified_name(f"{pg}/db/s/t")])
    with pytest.raises(NotFoundError):
        client.asset.save(wrong_type)
    assert standin.of_type("Process") == []


def test_standin_rejects_missing_attributes_and_orphan_column_processes(bare):
    standin, client, pg, lineage = bare
    process = Process.creator(name="p", connection_qualified_name=lineage, process_id="x",
                              inputs=[Table.ref_by_qualified_name(f"{pg}/db/s/t")],
                              outputs=[Table.ref_by_qualified_name(f"{pg}/db/s/t")])
    process.inputs = []
    with pytest.raises(InvalidRequestError, match="inputs must not be empty"):
        client.asset.save(process)
    orphan = ColumnProcess.creator(name="c", connection_qualified_name=lineage, process_id="x/c",
                                   inputs=[Column.ref_by_qualified_name(f"{pg}/db/s/t/a")],
                                   outputs=[Column.ref_by_qualified_name(f"{pg}/db/s/t/a")],
                                   parent=Process.ref_by_qualified_name(f"{lineage}/x"))
    with pytest.raises(NotFoundError):
        client.asset.save(orphan)  # the parent was never stored
    assert standin.of_type("ColumnProcess") == []


def test_searches_follow_every_page(bare):
    from pyatlan.model.fluent_search import FluentSearch

    from s3lineage.publish.client import AtlanCalls

    standin, client, pg, _ = bare
    for n in range(23):
        standin.add_asset("Column", {"qualifiedName": f"{pg}/db/s/t/c{n}", "name": f"c{n}",
                                     "connectionQualifiedName": pg})
    calls = AtlanCalls(client)
    found = calls.search("columns", lambda: FluentSearch().where(FluentSearch.asset_type(Column))
                         .where(Column.CONNECTION_QUALIFIED_NAME.eq(pg)).page_size(5))
    assert sorted(c.name for c in found) == sorted(["a"] + [f"c{n}" for n in range(23)])
    assert len({c.guid for c in found}) == 24
    standin.clear_log()
    calls.search("one page", lambda: FluentSearch().where(FluentSearch.asset_type(Table)).page_size(5))
    assert len(standin.requests) == 1  # no extra empty page when the count is reached
