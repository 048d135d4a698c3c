"""Bad input names the file and line, and the run goes on with the rest."""

from __future__ import annotations

import json

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.pipeline import infer

HEADER = "QUERY_ID,QUERY_TEXT,DATABASE_NAME,SCHEMA_NAME,QUERY_TYPE,EXECUTION_STATUS,START_TIME\n"


def scenario(tmp_path):
    sf = tmp_path / "sf"
    sf.mkdir()
    (sf / "query_history.csv").write_bytes(
        (HEADER
         + 'q1,"COPY INTO T1 FROM @GOOD_STAGE/a/",RAW,PUBLIC,COPY,SUCCESS,2025-01-15 01:00:00\n'
         + 'q2,"COPY INTO T2 FROM @NO_SUCH_STAGE/b/",RAW,PUBLIC,COPY,SUCCESS,2025-01-15 01:00:00\n'
         + 'q3,"SELEC garbage FROM",RAW,PUBLIC,SELECT,SUCCESS,2025-01-15 01:00:00\n').encode()
        + b'q4,"COPY INTO T3 FROM \'s3://b/\xff\xfe/\'",RAW,PUBLIC,COPY,SUCCESS,2025-01-15 01:00:00\n'
        + b'q5,"COPY INTO T4 FROM @GOOD_STAGE/c/",RAW,PUBLIC,COPY,SUCC'  # truncated last row
    )
    (sf / "stages.csv").write_text("name,database_name,schema_name,url,type\n"
                                   "GOOD_STAGE,RAW,PUBLIC,s3://lake/in/,EXTERNAL\n")
    pg = tmp_path / "pg"
    pg.mkdir()
    (pg / "postgresql.log").write_text(
        "2025-01-15 00:00:01.000 UTC [11] app@appdb psql LOG:  duration: 1.0 ms  statement: "
        "COPY (SELECT id FROM users) TO PROGRAM 'aws s3 cp - s3://lake/in/a/users.csv'\n"
        "this line is in no known format\n"
        "2025-01-15 00:00:02.000 UTC [11] app@appdb psql LOG:  duration: 1.0 ms  statement: "
        "COPY (SELECT id FROM accounts) TO PROGRAM 'aws s3 cp - s3://lake/in/c/accounts.csv'\n"
    )
    (pg / "gone.csv").write_text("query\n")
    config = tmp_path / "lineage.toml"
    config.write_text(
        '[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg:5432"\ndatabase = "appdb"\n'
        'log_files = ["pg/postgresql.log"]\nlog_line_prefix = "%m [%p] %q%u@%d %a "\n'
        'statements_file = "pg/gone.csv"\n'
        '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
        'query_history_file = "sf/query_history.csv"\nstages_file = "sf/stages.csv"\n'
    )
    return config


def test_bad_input_gives_diagnostics_with_places_and_the_run_goes_on(tmp_path):
    config = scenario(tmp_path)
    loaded = load_config(config)
    (tmp_path / "pg" / "gone.csv").unlink()  # vanished between config check and reading
    result = infer(loaded)
    entries = {e.code: e for e in result.diagnostics.entries()}
    qh = str(tmp_path / "sf" / "query_history.csv")
    assert any(w.startswith(qh + ":") for w in entries["unknown_stage"].where)
    assert any(w.startswith(qh + ":") for w in entries["parse_error"].where)
    assert any(w.startswith(qh + ":") for w in entries["bad_row"].where)  # truncated row
    assert any(w.startswith(str(tmp_path / "pg" / "postgresql.log") + ":2") for w in entries["bad_log_line"].where)
    assert "missing_file" in entries and "gone.csv" in entries["missing_file"].message
    assert "invalid_encoding" in entries
    # …and the good statements still produced the full path
    edges = {(e.source, e.target) for e in result.graph.edges()}
    assert ("s3://lake/in/a/users.csv", "snowflake://acme/RAW.PUBLIC.T1") in edges
    assert ("postgres://pg:5432/appdb.public.users", "s3://lake/in/a/users.csv") in edges


def test_cli_reports_them_and_exits_by_severity(tmp_path, capsys):
    config = scenario(tmp_path)
    out = tmp_path / "g.json"
    assert main(["infer", "--config", str(config), "--dry-run", "-o", str(out), "--fail-on", "never"]) == 0
    data = json.loads(out.read_text())
    assert {d["code"] for d in data["diagnostics"]} >= {"unknown_stage", "parse_error", "bad_row", "bad_log_line"}
    assert main(["infer", "--config", str(config), "--dry-run", "-q", "-o", str(out), "--fail-on", "warning"]) == 1


def test_failed_statements_keep_their_literals_out_of_the_report(tmp_path):
    log = tmp_path / "pg.log"
    log.write_text(
        "2025-01-15 00:00:01.000 UTC [9] app@appdb psql ERROR:  permission denied for table cards\n"
        "2025-01-15 00:00:01.000 UTC [9] app@appdb psql STATEMENT:  COPY (SELECT pan FROM cards "
        "WHERE email = 'jane@example.com') TO PROGRAM 'aws s3 cp - s3://b/k.csv'\n")
    (tmp_path / "lineage.toml").write_text(
        '[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg:5432"\ndatabase = "appdb"\n'
        'log_files = ["pg.log"]\nlog_line_prefix = "%m [%p] %q%u@%d %a "\n')
    result = infer(load_config(tmp_path / "lineage.toml"))
    text = json.dumps(result.diagnostics.to_json())
    assert "failed_statement" in text and "jane@example.com" not in text
    assert not result.graph.edges()
