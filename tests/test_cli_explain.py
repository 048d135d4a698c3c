"""explain-sql: the developer view, as text, JSON and JSON lines in batch."""

from __future__ import annotations

import io
import json

from s3lineage.cli import main

EXPORT = ("SELECT * FROM aws_s3.query_export_to_s3('SELECT id, email FROM users', "
          "aws_commons.create_s3_uri('b', 'exports/users.csv', 'us-east-1'))")


def test_text_view(capsys):
    assert main(["explain-sql", EXPORT, "--default-database", "appdb"]) == 0
    out = capsys.readouterr().out
    assert "recognizer  postgres/aws_s3_query_export_to_s3" in out
    assert "exports/users.csv.email ← appdb.public.users.email" in out


def test_json_view_with_schema_file(tmp_path, capsys):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"raw.landing.users": ["ID", "EMAIL"]}))
    assert main(["explain-sql", "--dialect", "snowflake", "--json", "--schema-file", str(schema),
                 "--default-database", "raw", "--default-schema", "landing",
                 "COPY INTO users FROM @stg/users/"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outputs"] == [{"namespace": "snowflake://default", "name": "RAW.LANDING.USERS", "kind": "table"}]
    assert {c["target"]: c["sources"] for c in out["columns"]} == {
        "RAW.LANDING.USERS.ID": ["RAW.LANDING.STG/users/.$1"],
        "RAW.LANDING.USERS.EMAIL": ["RAW.LANDING.STG/users/.$2"],
    }
    assert {"recognizer", "confidence", "inputs", "outputs", "columns", "diagnostics"} <= set(out)


def test_bare_select_targets_are_column_names(capsys):
    assert main(["explain-sql", "--json", "SELECT u.id AS user_id FROM users u"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == [{"target": "user_id", "sources": ["public.users.id"], "transform": "identity"}]
    assert out["outputs"] == []


def test_script_applies_use_and_search_path(capsys):
    script = "SET search_path TO staging; INSERT INTO t (a) SELECT a FROM s"
    assert main(["explain-sql", "--json", "--default-database", "db", script]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in out["inputs"]] == ["db.staging.s"]
    assert [o["name"] for o in out["outputs"]] == ["db.staging.t"]


def test_batch_one_result_per_line_and_bad_lines_reported(tmp_path, capsys, monkeypatch):
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join([
        json.dumps({"sql": "COPY INTO T FROM @S/p/", "dialect": "snowflake", "default_database": "D",
                    "default_schema": "X", "schema": {"D.X.T": ["A"]}}),
        "not json",
        json.dumps({"sql": EXPORT, "dialect": "postgres"}),
    ]) + "\n")
    assert main(["explain-sql", "--batch", str(batch)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert lines[0]["columns"] == [{"target": "D.X.T.A", "sources": ["D.X.S/p/.$1"], "transform": "positional"}]
    assert lines[1]["diagnostics"][0]["code"] == "bad_request" and "in.jsonl:2" in lines[1]["diagnostics"][0]["message"]
    assert lines[2]["recognizer"] == "postgres/aws_s3_query_export_to_s3"
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"sql": "SELECT 1"}) + "\n"))
    assert main(["explain-sql", "--batch", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["recognizer"] == "common/select"


def test_unparsable_statement_is_a_diagnostic_not_an_error(capsys):
    assert main(["explain-sql", "--json", "SELECT FROM WHERE ((("]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diagnostics"][0]["code"] == "parse_error" and out["confidence"] == 0.0


def test_bad_schema_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "s.json"
    bad.write_text("[1, 2]")
    assert main(["explain-sql", "--schema-file", str(bad), "SELECT 1"]) == 2
    assert "must map" in capsys.readouterr().err
