"""Docs stay true to the code: diagnostic codes, CLI commands, links."""

from __future__ import annotations

import ast
import re

import pytest

from s3lineage.cli import build_parser, main

from .conftest import ROOT

_CALLS = {"Diagnostic", "diag", "add", "bad", "_diag"}


def _codes_in_source() -> set[str]:
    codes = set()
    for path in (ROOT / "src" / "s3lineage").rglob("*.py"):
        if "testing" in path.parts:  # test doubles speak other systems' error codes
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                first = node.args[0]
                if name in _CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    if re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", first.value):
                        codes.add(first.value)
            if isinstance(node, ast.arg) and node.arg in ("code", "bad_code"):
                pass
            if isinstance(node, ast.FunctionDef):
                for arg, default in zip(reversed(node.args.args), reversed(node.args.defaults)):
                    if arg.arg in ("code", "bad_code") and isinstance(default, ast.Constant):
                        codes.add(default.value)
    return codes


def test_every_diagnostic_code_is_documented():
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", (ROOT / "docs" / "diagnostics.md").read_text(), re.M))
    missing = _codes_in_source() - documented
    assert not missing, f"document these codes in docs/diagnostics.md: {sorted(missing)}"


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_and_is_in_the_readme(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip()
    assert f"s3lineage {command}" in (ROOT / "README.md").read_text()


def test_relative_links_in_docs_exist():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
