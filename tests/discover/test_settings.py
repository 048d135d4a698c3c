"""The [s3] section: parsed by s3lineage.discover.settings through load_config."""

from __future__ import annotations

import re

import pytest

from s3lineage.config import load_config
from s3lineage.errors import ConfigError

BASE = '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'


def config(tmp_path, s3: str):
    path = tmp_path / "lineage.toml"
    path.write_text(BASE + "\n[s3]\n" + s3)
    return load_config(path)


def test_buckets_prefixes_and_defaults(tmp_path):
    (tmp_path / "mirror").mkdir()
    cfg = config(tmp_path, 'buckets = ["s3://lake/exports/", "lake/vendor/", '
                           '{ name = "raw" }]\nlocal_root = "mirror"\nfreshness_hours = 36\n')
    s3 = cfg.sections["s3"]
    assert [(b.name, b.prefixes) for b in s3.buckets] == [
        ("lake", ("exports/", "vendor/")), ("raw", ("",))]
    assert s3.local_root == (tmp_path / "mirror").resolve()
    assert (s3.freshness_hours, s3.load_window_hours, s3.scan_on_run) == (36.0, 24.0, "auto")
    assert s3.covers("raw", "anything") and not s3.covers("lake", "tmp/x")


def test_nested_prefixes_are_listed_once(tmp_path):
    cfg = config(tmp_path, 'buckets = ["lake/exports/", "lake/exports/users/", "lake"]\n')
    assert cfg.sections["s3"].buckets[0].prefixes == ("",)


@pytest.mark.parametrize(("body", "message"), [
    ('buckets = ["lake"]\nbukets = 1\n', "unknown key(s) ['bukets']"),
    ('buckets = ["lake"]\naws_secret_access_key = "x"\n', "standard chain"),
    ("region = 'us-east-1'\n", "buckets is required"),
    ('buckets = [{ name = "lake", prefix = "a/" }]\n', "unknown key(s) ['prefix']"),
    ('buckets = ["lake"]\nendpoint_url = "localhost:9000"\n', "http:// or https://"),
    ('buckets = ["lake"]\nlocal_root = "nowhere"\n', "not a directory"),
    ('buckets = ["lake"]\nscan_on_run = "sometimes"\n', "scan_on_run"),
    ('buckets = ["lake"]\nschema_samples = 0\n', "schema_samples"),
    ('buckets = ["lake"]\nload_window_hours = -1\n', "load_window_hours"),
])
def test_bad_settings_name_the_key(tmp_path, body, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config(tmp_path, body)
