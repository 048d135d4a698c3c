"""benchmarks/bench_discover.py runs end to end on a few objects (timings never asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_bench_discover_runs(capsys, aws_env):
    path = ROOT / "benchmarks" / "bench_discover.py"
    spec = importlib.util.spec_from_file_location("bench_discover", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    result = module.main(["--objects", "120", "--json"])
    assert json.loads(capsys.readouterr().out) == result
    assert result["objects"] == 120 and result["datasets"] == 2
    assert result["objects_per_second"] > 0 and result["traced_peak_mib"] > 0
