"""The [atlan] settings, ``s3lineage publish`` (and --dry-run), and secrets staying secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.errors import ConfigError
from s3lineage.publish.settings import AtlanSettings, parse_atlan
from s3lineage.testing.atlan_standin import AtlanStandIn

from .publish_helpers import client_for, demo_copy, seed_demo

# Real pyatlan over HTTP against the stand-in: integration tests, not the quick subset.
pytestmark = pytest.mark.slow

SECRET = "sk-s3lineage-test-9f8e7d6c5b4a"


def test_settings_defaults_and_validation():
    settings = parse_atlan({"s3_connection": "s3-lake", "lineage_connection": "s3lineage"}, Path("x.toml"))
    assert settings == AtlanSettings("s3-lake", "s3lineage")
    assert (settings.column_mode, settings.include_unloads, settings.include_snowflake_internal) == (
        "partial_fields", True, False)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colum_mode'\]"):
        parse_atlan({"s3_connection": "a", "lineage_connection": "b", "colum_mode": "direct"}, Path("x"))
    with pytest.raises(ConfigError, match="ATLAN_API_KEY"):
        parse_atlan({"s3_connection": "a", "lineage_connection": "b", "api_key": "x"}, Path("x"))
    with pytest.raises(ConfigError, match="column_mode must be one of"):
        parse_atlan({"s3_connection": "a", "lineage_connection": "b", "column_mode": "object"}, Path("x"))
    with pytest.raises(ConfigError, match="lineage_connection is required"):
        parse_atlan({"s3_connection": "a"}, Path("x"))
    with pytest.raises(ConfigError, match="batch_size"):
        parse_atlan({"s3_connection": "a", "lineage_connection": "b", "batch_size": 0}, Path("x"))


def test_load_config_parses_the_atlan_section(tmp_path):
    config = load_config(demo_copy(tmp_path, atlan="batch_size = 50\n"))
    assert config.sections["atlan"].batch_size == 50
    assert config.sources[0].settings["atlan_connection"] == "pg-prod"


@pytest.fixture
def env(tmp_path, monkeypatch):
    with AtlanStandIn(api_key=SECRET) as standin:
        seed_demo(standin)
        monkeypatch.setenv("ATLAN_BASE_URL", standin.url)
        monkeypatch.setenv("ATLAN_API_KEY", SECRET)
        yield standin, demo_copy(tmp_path, state=False)


def test_dry_run_prints_the_plan_and_writes_nothing(env, capsys):
    standin, config = env
    assert main(["publish", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run (nothing written)" in out
    assert "would create   111" in out
    assert "Snowflake-internal transform" in out  # skipped, with the reason
    assert standin.writes() == []


def test_publish_then_dry_run_shows_nothing_to_do(env, capsys):
    _, config = env
    assert main(["publish", "--config", str(config), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["counts"]["created"] == 111 and first["counts"]["failed"] == 0
    assert main(["publish", "--config", str(config), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["counts"] | {"skipped": 0} == {"created": 0, "updated": 0, "restored": 0, "archived": 0,
                                               "unchanged": 111, "skipped": 0, "failed": 0, "reused": 0}


def test_secrets_never_reach_logs_output_or_reports(env, capsys, caplog):
    standin, config = env
    caplog.set_level(logging.DEBUG)  # everything, pyatlan's and httpx's debug logging included
    assert main(["publish", "--config", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err + caplog.text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("s3lineage"))
    host = standin.url.removeprefix("http://")
    assert host not in captured.out + captured.err + ours
    # the key did reach the server, and only in the header
    assert standin.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert all(SECRET not in json.dumps([r.body, r.query, r.path]) for r in standin.requests)


def test_secrets_stay_out_of_warnings_and_failure_reasons(env, caplog):
    standin, config = env
    caplog.set_level(logging.DEBUG)
    standin.fail_next(503, times=3, path_prefix="/api/meta/entity/bulk")  # a retry round: a warning
    standin.fail_next(400, times=1, path_prefix="/api/meta/entity/bulk")  # a failure: a reason
    settings = load_config(config).sections["atlan"]
    from s3lineage.pipeline import infer
    from s3lineage.publish import publish

    loaded = load_config(config)
    report = publish(loaded, infer(loaded).graph, client=client_for(standin), settings=settings)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("s3lineage"))
    assert "retry round" in ours and report.failed
    text = json.dumps(report.to_json()) + caplog.text
    assert SECRET not in text
    assert standin.url.removeprefix("http://") not in json.dumps(report.to_json()) + ours


def test_missing_credentials_name_the_variables(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ATLAN_BASE_URL", raising=False)
    monkeypatch.delenv("ATLAN_API_KEY", raising=False)
    config = demo_copy(tmp_path, state=False)
    assert main(["publish", "--config", str(config), "--dry-run"]) == 2
    assert "set ATLAN_BASE_URL and ATLAN_API_KEY" in capsys.readouterr().err


def test_unknown_connection_is_a_clear_error(env, capsys):
    _, config = env
    config.write_text(config.read_text().replace('lineage_connection = "s3lineage"',
                                                 'lineage_connection = "no-such-connection"'))
    assert main(["publish", "--config", str(config), "--dry-run"]) == 2
    assert "no active Atlan connection named 'no-such-connection'" in capsys.readouterr().err


def test_publish_without_an_atlan_section(tmp_path, capsys):
    assert main(["publish", "--config", "fixtures/demo/lineage.toml", "--dry-run"]) == 2
    assert "add an [atlan] section" in capsys.readouterr().err


def test_a_wrong_api_key_is_one_clear_error(env, monkeypatch, capsys):
    standin, config = env
    monkeypatch.setenv("ATLAN_API_KEY", "not-the-key")
    assert main(["publish", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "s3lineage: error: Atlan:" in err and "401" in err
    assert "not-the-key" not in err
    assert standin.writes() == []


def test_scheduled_infer_publishes_after_committing(tmp_path, monkeypatch, capsys):
    """`s3lineage infer` (no --dry-run) with [atlan] publishes what it inferred; a second
    run with nothing new sends no writes."""
    with AtlanStandIn(api_key=SECRET) as standin:
        seed_demo(standin)
        monkeypatch.setenv("ATLAN_BASE_URL", standin.url)
        monkeypatch.setenv("ATLAN_API_KEY", SECRET)
        config = demo_copy(tmp_path, state=True)
        assert main(["infer", "--config", str(config), "--fail-on", "never"]) == 0
        assert "created" in capsys.readouterr().err
        processes = len(standin.of_type("Process"))
        assert processes > 0
        writes = len(standin.writes())
        assert main(["infer", "--config", str(config), "--fail-on", "never"]) == 0
        assert len(standin.writes()) == writes and len(standin.of_type("Process")) == processes
