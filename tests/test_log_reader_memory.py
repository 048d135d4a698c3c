"""The csvlog reader's memory stays bounded on a large log (a bound on memory, not time)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIZE_BYTES = 200 * 2**20
HEAP_BOUND_MB = 50


def _bench() -> ModuleType:
    """benchmarks/ is not a package: load the benchmark's synthesizer by path."""
    path = ROOT / "benchmarks" / "bench_log_reader.py"
    spec = importlib.util.spec_from_file_location("bench_log_reader", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_heap_stays_bounded_on_200_mb_csvlog(tmp_path: Path) -> None:
    bench = _bench()
    log = tmp_path / "postgresql.csv"
    checkpoints = bench.synthesize_csvlog(log, SIZE_BYTES)
    samples = bench.measure(log, checkpoints, trace=True)
    assert [s.fraction for s in samples] == [0.1, 0.5, 1.0]
    assert samples[-1].events > 100_000  # it really read the file
    peaks = [s.traced_peak_mb for s in samples]
    assert max(peaks) < HEAP_BOUND_MB, peaks
