"""Shared fixtures: repo paths and the golden-file helper.

Goldens: ``pytest --update-goldens`` rewrites them; a missing golden is written and the
test fails, so a person reviews every new golden before it counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files")


@pytest.fixture
def golden(request):
    update = request.config.getoption("--update-goldens")

    def check(name: str, data) -> None:
        path = FIXTURES / "golden" / name
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden {path} did not exist: written, review it and re-run")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{path} differs; run pytest --update-goldens and review the diff"

    return check
