"""The demo's Postgres files come from a real workload: regenerate them on a private
PostgreSQL 15 cluster and check the lineage matches the committed demo's."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from s3lineage.config import load_config
from s3lineage.pipeline import infer
from s3lineage.testing.pgcluster import PrivateCluster

from .conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow


def _lineage(config_path):
    result = infer(load_config(config_path))
    return {
        (e.source, e.target, tuple(sorted((m.target, tuple(sorted(m.sources))) for m in e.columns.values())))
        for e in result.graph.edges()
    }, result.stats


@pytest.mark.skipif(not PrivateCluster.available(), reason="PostgreSQL 15 server binaries not installed")
def test_regenerated_demo_gives_the_same_lineage(tmp_path):
    demo = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", demo)
    shutil.rmtree(demo / "postgres")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_demo_postgres.py"),
                    "--out", str(demo / "postgres")], check=True, timeout=300)
    fresh, fresh_stats = _lineage(demo / "lineage.toml")
    committed, committed_stats = _lineage(FIXTURES / "demo" / "lineage.toml")
    assert fresh == committed
    assert fresh_stats["failed_statements"] == committed_stats["failed_statements"]
