"""lineage.toml: relative paths, globs, and clear rejections naming the key or path."""

from __future__ import annotations

import pytest

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.errors import ConfigError


def write(tmp_path, text, files=("q.csv",)):
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("QUERY_ID,QUERY_TEXT\n")
    config = tmp_path / "lineage.toml"
    config.write_text(text)
    return config


SF = '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'


def test_paths_are_relative_to_the_config_and_globs_expand(tmp_path):
    config = write(tmp_path, '[[sources]]\nkind = "postgres"\nnamespace = "postgres://h:5432"\n'
                   'log_files = ["logs/*.csv"]\n', files=("logs/a.csv", "logs/b.csv"))
    loaded = load_config(config)
    assert [p.name for p in loaded.sources[0].paths("log_files")] == ["a.csv", "b.csv"]
    assert loaded.sources[0].name == "postgres-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SF + 'query_history_file = "q.csv"\ncolour = "red"\n', "unknown key(s) ['colour']"),
        (SF + 'query_history_file = "missing.csv"\n', "file not found"),
        (SF + 'query_history_file = "nothing-*.csv"\n', "no file matches 'nothing-*.csv'"),
        ('[[sources]]\nkind = "oracle"\nnamespace = "x"\n', "kind must be"),
        ('[[sources]]\nkind = "snowflake"\nquery_history_file = "q.csv"\n', "namespace is required"),
        ('[[sources]]\nkind = "snowflake"\nnamespace = "postgres://x"\nquery_history_file = "q.csv"\n',
         "must start with 'snowflake://'"),
        ('[[sources]]\nkind = "postgres"\nnamespace = "postgres://h:1"\n', "names no input files"),
        (SF + 'query_history_file = "q.csv"\n[graph]\nfold_rules = [{pattern = "(", replace = "x"}]\n',
         "invalid regex"),
        (SF + 'query_history_file = "q.csv"\n[publish]\nx = 1\n', "unknown key(s) ['publish']"),
        ("not toml ===", "invalid TOML"),
    ],
)
def test_bad_config_is_rejected_with_the_key_named(tmp_path, body, message):
    config = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert message in str(err.value)


def test_cli_exit_code_2_without_traceback(tmp_path, capsys):
    config = write(tmp_path, SF + 'query_history_file = "missing.csv"\n')
    assert main(["infer", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "Traceback" not in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["infer", "--config", str(tmp_path / "nope.toml"), "--dry-run"]) == 2
    assert "config file not found" in capsys.readouterr().err
