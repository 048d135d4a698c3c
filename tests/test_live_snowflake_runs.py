"""Scheduled runs with a live Snowflake source, through the real connector against fakesnow:
the watermark and its overlap window carry across runs via the state store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from s3lineage.runner import run

from .test_live_snowflake import ENV, Account, ch_row, qh_row

fakesnow = pytest.importorskip("fakesnow")

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")


@pytest.fixture
def live(tmp_path, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    # fakesnow cannot run SHOW PIPES (test_live_snowflake covers pipes() with a fake cursor)
    monkeypatch.setattr("s3lineage.collect.live_snowflake.SnowflakeLiveSource.pipes", lambda self: iter(()))
    config = tmp_path / "lineage.toml"
    config.write_text('[[sources]]\nkind = "snowflake"\nname = "sf-live"\nnamespace = "snowflake://acme"\n'
                      'account = "acme"\ndatabases = ["RAW"]\noverlap_minutes = 60\n'
                      '[state]\npath = "state.db"\n')
    with fakesnow.patch():
        account = Account()
        account.run("CREATE DATABASE RAW", "CREATE SCHEMA RAW.PUBLIC",
                    "CREATE TABLE RAW.PUBLIC.USERS (ID NUMBER, EMAIL VARCHAR)",
                    "CREATE STAGE RAW.PUBLIC.LAKE URL='s3://lake/raw/'")
        yield account, config


def loads(report):
    return {(e.source, e.target): e.evidence.run_count for e in report.result.graph.edges()}


def test_watermark_overlap_and_dedupe_across_runs(live):
    account, config = live
    now = datetime.now(UTC).replace(microsecond=0)
    copy = "COPY INTO USERS FROM @LAKE/users/ FILE_FORMAT=(TYPE=CSV)"
    account.queries(qh_row("q1", now - timedelta(hours=2), text=copy, qtype="COPY"))
    account.loads(ch_row("a.csv", now - timedelta(hours=2)))
    first = run(config)
    edge = ("s3://lake/raw/users/a.csv", "snowflake://acme/RAW.PUBLIC.USERS")
    assert loads(first) == {edge: 1}
    assert [c for c in first.result.graph.g.edges[edge]["edge"].columns] == ["ID", "EMAIL"]

    again = run(config)  # the overlap window re-reads q1: deduplicated, nothing new
    assert again.stats["statements"] == 0 and not again.changed_edges

    # a late row (ACCOUNT_USAGE latency) lands behind the watermark, inside the overlap
    account.queries(qh_row("q2", now - timedelta(hours=2, minutes=-10), text=copy, qtype="COPY"))
    late = run(config)
    assert late.stats["statements"] == 1
    assert loads(late)[edge] == 2
